-- The migrations applied, and (row 0, this table itself) the lock that serialises migrate runs.
CREATE TABLE IF NOT EXISTS sealgate_schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO sealgate_schema_migrations (version, name) VALUES (0, 'migrations table')
    ON CONFLICT (version) DO NOTHING;
