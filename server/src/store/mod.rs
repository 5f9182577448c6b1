//! Storage: the database ([`db`]: users, API keys, refresh tokens, audit
//! rows, migrations), conversations, and the audit trail written through it.

pub(crate) mod audit;
pub mod conversations;
pub mod db;
pub mod private;
pub(crate) mod schema_check;
pub mod uploads;
