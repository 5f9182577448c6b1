//! Errors of loading a policy: a document that does not parse, or one that
//! parses but breaks a rule. Every validation error names its field path so an
//! author can find the mistake without reading code.

use std::fmt;

/// One broken rule, located by its field path (`commands.allow[3].program`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ValidationError {
    pub path: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ValidationError {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every broken rule of one document, in document order.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ValidationErrors(pub Vec<ValidationError>);

impl ValidationErrors {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, ValidationError> {
        self.0.iter()
    }

    pub(crate) fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ValidationError::new(path, message));
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

/// Why a policy could not be loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicyError {
    /// The text is not a policy document (YAML syntax, unknown field, wrong type).
    Parse(String),
    /// The document parsed but breaks one or more rules.
    Invalid(ValidationErrors),
}

impl PolicyError {
    /// One message per line, as the CLI prints them and `/health` shows them.
    pub fn lines(&self) -> Vec<String> {
        match self {
            PolicyError::Parse(m) => m.lines().map(str::to_owned).collect(),
            PolicyError::Invalid(errors) => errors.iter().map(ToString::to_string).collect(),
        }
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyError::Parse(m) => write!(f, "{m}"),
            PolicyError::Invalid(errors) => write!(f, "{errors}"),
        }
    }
}

impl std::error::Error for PolicyError {}
