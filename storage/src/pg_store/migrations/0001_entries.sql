-- The store's trees, as one table of (tree, key, value); keys compare bytewise, as in sled.
CREATE TABLE sealgate_entries (
    tree text NOT NULL,
    key bytea NOT NULL,
    value bytea NOT NULL,
    PRIMARY KEY (tree, key)
);

-- One row, locked by every write transaction: writers of all replicas take turns.
CREATE TABLE sealgate_writer (
    id integer PRIMARY KEY CHECK (id = 1)
);
INSERT INTO sealgate_writer (id) VALUES (1);
