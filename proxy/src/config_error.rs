//! The configuration error type, apart from `config.rs` so that the modules `config` builds
//! (`tls`, `access`, `admin_config`) can return it without importing `config`.

/// A configuration problem, naming the key at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read or parsed, or a value has the wrong type.
    #[error("{0}")]
    Load(#[from] config::ConfigError),
    /// A key has a value of the right type that is not acceptable.
    #[error("{key}: {message}")]
    Invalid {
        /// Dotted path of the key (`upstream[0].url`).
        key: String,
        /// Why, and what would be accepted.
        message: String,
    },
}
