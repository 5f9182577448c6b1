//! Who is calling: passwords, access tokens, refresh tokens, API keys, the
//! in-memory view of users and keys checked on every request, and the login guard.

pub mod api_keys;
pub mod guard;
pub mod identity;
pub mod jwt;
pub mod legacy_hash;
pub mod passwords;
pub mod principal;
pub mod refresh;

pub use principal::{AuthMethod, Principal};
