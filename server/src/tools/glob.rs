//! File-name globs for `search_files`: `*` (any run), `?` (one character),
//! `[abc]` / `[a-z]` / `[!abc]` sets and `{a,b}` alternatives, matched
//! against a single name. A `[` that opens no set is literal, as is `\`.

use globset::{GlobBuilder, GlobMatcher};

/// A compiled name pattern.
#[derive(Clone, Debug)]
pub struct NameGlob(Option<GlobMatcher>);

impl NameGlob {
    /// Compiles `pattern`; one that still does not parse matches nothing.
    pub fn new(pattern: &str) -> Self {
        let build = |pattern: &str| {
            GlobBuilder::new(pattern)
                .literal_separator(true)
                .backslash_escape(false)
                .allow_unclosed_class(true)
                .build()
                .map(|g| g.compile_matcher())
        };
        NameGlob(build(pattern).ok())
    }

    /// Whether `name` matches the pattern as a whole.
    pub fn is_match(&self, name: &str) -> bool {
        self.0.as_ref().is_some_and(|m| m.is_match(name))
    }
}

#[cfg(test)]
mod tests {
    use super::NameGlob;

    fn matches(pattern: &str, name: &str) -> bool {
        NameGlob::new(pattern).is_match(name)
    }

    #[test]
    fn wildcards_sets_and_literals() {
        assert!(matches("*", "anything"));
        assert!(matches("*.rs", "main.rs"));
        assert!(!matches("*.rs", "main.rs.bak"));
        assert!(matches("report-??.txt", "report-07.txt"));
        assert!(!matches("report-??.txt", "report-7.txt"));
        assert!(matches("[a-c]*", "beta"));
        assert!(!matches("[!a-c]*", "beta"));
        assert!(matches("a*b*c", "aXXbYYc"));
        assert!(!matches("a*b*c", "aXXbYY"));
        assert!(matches("[x", "[x"));
        assert!(matches("", ""));
        assert!(!matches("", "a"));
    }

    #[test]
    fn alternatives_pick_one_of_several_names() {
        assert!(matches("*.{rs,toml}", "Cargo.toml"));
        assert!(!matches("*.{rs,toml}", "README.md"));
    }
}
