//! No command containing an unquoted shell operator is ever allowed, while
//! the same operator inside quotes is just an argument.

use std::path::Path;

use policy::{Policy, SHELL_SYNTAX_RULE};
use proptest::prelude::*;

fn permissive() -> Policy {
    // Pipelines off; every program the generator uses is allowed.
    let yaml = "version: 1\ncommands:\n  allow:\n    - program: ls\n    - program: cat\n    - program: grep\n    - program: wc\n    - program: id\n    - program: rm\n    - program: echo\npaths:\n  read: [\"/\"]\n";
    Policy::from_yaml(yaml).unwrap_or_else(|e| panic!("{e}"))
}

const PREFIXES: &[&str] = &["ls", "ls -la", "cat x", "grep -n foo", "wc -l", "echo"];
const OPERATORS: &[&str] = &[
    ";", "&&", "||", "|", "&", "$(", "`", "${", ">", ">>", "<", "<<", "<<<", "\n", "\r", "2>&1",
    "&>", "(", ")", "$HOME", "$1", "<(",
];
const SUFFIXES: &[&str] = &[
    "id",
    "rm -rf /",
    "x)",
    "whoami`",
    "HOME}",
    "EOF",
    "",
    "cat /etc/passwd",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn unquoted_operator_is_never_allowed(
        prefix in prop::sample::select(PREFIXES),
        op in prop::sample::select(OPERATORS),
        suffix in prop::sample::select(SUFFIXES),
        word in "[a-z]{0,6}",
        space_before in any::<bool>(),
        space_after in any::<bool>(),
    ) {
        let policy = permissive();
        let line = format!(
            "{prefix}{}{word}{op}{}{suffix}",
            if space_before { " " } else { "" },
            if space_after { " " } else { "" },
        );
        let d = policy.check_command(&line, Path::new("/"));
        prop_assert!(!d.allowed, "{:?} was allowed by {}", line, d.rule);
    }

    #[test]
    fn leading_assignment_is_never_allowed(
        name in "[A-Za-z_][A-Za-z0-9_]{0,8}",
        value in "[a-z/]{0,8}",
        prefix in prop::sample::select(PREFIXES),
    ) {
        let d = permissive().check_command(&format!("{name}={value} {prefix}"), Path::new("/"));
        prop_assert!(!d.allowed);
        prop_assert_eq!(d.rule, SHELL_SYNTAX_RULE);
    }

    #[test]
    fn single_quoted_operator_is_only_an_argument(
        prefix in prop::sample::select(PREFIXES),
        op in prop::sample::select(OPERATORS),
        suffix in prop::sample::select(SUFFIXES),
    ) {
        let policy = permissive();
        let quoted = format!("{op}{suffix}").replace('\'', "");
        let line = format!("{prefix} '{quoted}'");
        let d = policy.check_command(&line, Path::new("/"));
        prop_assert_ne!(&d.rule, SHELL_SYNTAX_RULE, "{:?}: {}", line, d.reason);
        prop_assert_eq!(d.argv.last().map(String::as_str), Some(quoted.as_str()));
    }
}
