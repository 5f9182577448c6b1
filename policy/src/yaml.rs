//! YAML in and out. Output is deterministic: field order is the struct
//! order and maps are sorted, so equal documents give identical bytes.

use crate::document::PolicyDocument;
use crate::error::PolicyError;

/// Parses a policy document; unknown fields and wrong types are errors that
/// say where in the text they are.
pub fn from_yaml(text: &str) -> Result<PolicyDocument, PolicyError> {
    serde_saphyr::from_str(text).map_err(|e| {
        // The first line carries the location and the message; the rest is a
        // source snippet that would break one-error-per-line output.
        let text = e.to_string();
        let first = text.lines().next().unwrap_or_default();
        PolicyError::Parse(first.trim_start_matches("error: ").to_owned())
    })
}

/// Serialises a document as YAML.
pub fn to_yaml(doc: &PolicyDocument) -> String {
    match serde_saphyr::to_string(doc) {
        Ok(text) => text,
        // Plain structs of strings, numbers and maps with string keys always serialise.
        Err(e) => panic!("policy document failed to serialise: {e}"),
    }
}
