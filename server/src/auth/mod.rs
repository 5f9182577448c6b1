//! Who is calling: passwords, access tokens, refresh tokens, API keys, the
//! in-memory view of users and keys checked on every request, and the login guard.

pub(crate) mod api_keys;
pub(crate) mod guard;
pub(crate) mod hash_pool;
pub(crate) mod identity;
pub(crate) mod jwt;
pub mod legacy_hash;
pub(crate) mod passwords;
pub(crate) mod principal;
pub(crate) mod refresh;

pub use principal::{AuthMethod, Principal};
