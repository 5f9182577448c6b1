//! Configuration: the settings fixed at start ([`settings`]) and the
//! hot-reloaded snapshot of policy and secrets ([`reload`]), fed by file
//! watchers and, on Kubernetes, by the API ([`kube_source`]).

pub(crate) mod dotenv;
mod error;
pub(crate) mod files;
mod generated_key;
mod inputs;
pub mod kube_source;
mod overrides;
mod own_files;
mod parse;
pub mod reload;
mod settings;
mod snapshot;
pub mod watch;

pub use error::ReloadError;
pub use generated_key::generated_jwt_secret;
pub use inputs::{InputSource, Inputs, Location};
pub use own_files::reaches_own_files;
pub use settings::*;
pub use snapshot::{Candidate, PolicySource, Snapshot, load_candidate, parse_candidate};
