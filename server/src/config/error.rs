//! Why a configuration was refused. The message goes to `/health`, the logs
//! and the audit trail (it names files and fields, never secrets); the
//! [`ReloadError::reason`] labels the refusal metric.

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The policy document is not text or does not validate.
    #[error("{0}")]
    Policy(String),
    /// The policy with the environment overrides applied does not validate.
    #[error("{0}")]
    Overrides(String),
    #[error(transparent)]
    JwtKeys(policy::contract::FileError),
    #[error("{location}: missing, and no AI_JWT_SECRET_KEY is set; the keys in force stay")]
    MissingJwtKeys { location: String },
    #[error(transparent)]
    ApiKeys(policy::contract::FileError),
    #[error("reload task failed: {0}")]
    Task(String),
}

impl ReloadError {
    /// A short fixed label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            ReloadError::Read { .. } => "read",
            ReloadError::Policy(_) => "policy",
            ReloadError::Overrides(_) => "overrides",
            ReloadError::JwtKeys(_) => "jwt-keys",
            ReloadError::MissingJwtKeys { .. } => "jwt-keys-missing",
            ReloadError::ApiKeys(_) => "api-keys",
            ReloadError::Task(_) => "internal",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_fixed_labels_and_messages_keep_their_detail() {
        let error = ReloadError::MissingJwtKeys {
            location: "/secrets/jwt-keys.json".into(),
        };
        assert_eq!(error.reason(), "jwt-keys-missing");
        assert!(
            error
                .to_string()
                .starts_with("/secrets/jwt-keys.json: missing")
        );
        assert_eq!(ReloadError::Policy("bad".into()).reason(), "policy");
    }
}
