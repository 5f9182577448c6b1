//! The validating admission webhook: `POST /validate/accesspolicies` and
//! `/validate/orchestrators` over HTTPS, answering AdmissionReview v1.
//! `decide` holds the pure decisions, `tls` the pure certificate plan,
//! `server` the HTTPS listener and `certs` the Secret and caBundle upkeep.

pub mod certs;
pub mod decide;
pub mod server;
pub mod tls;
