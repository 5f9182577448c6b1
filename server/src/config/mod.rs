//! Configuration: the settings fixed at start ([`settings`]) and the
//! hot-reloaded snapshot of policy and secrets ([`reload`]), fed by file
//! watchers and, on Kubernetes, by the API ([`kube_source`]).

pub mod kube_source;
pub mod reload;
mod settings;

pub use settings::*;
