//! Errors of starting a master or a slave.

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Store(#[from] outpost_store::StoreError),
    #[error(transparent)]
    Link(#[from] outpost_link::LinkError),
    #[error("cannot listen on {addr}: {source} (is another master running on this port?)")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("another master called \"{name}\" is already on this LAN (fingerprint {fingerprint}); choose another name for this office")]
    DuplicateName { name: String, fingerprint: String },
    /// The office has no users and the master was told to refuse that
    /// (`WithoutUsers::Refuse`): its first manager is made first.
    #[error("the office in {} has no users yet: make its first manager before starting its master", data.display())]
    NoUsers { data: std::path::PathBuf },
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = NodeError> = std::result::Result<T, E>;
