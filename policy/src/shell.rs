//! Shell-word splitting that refuses shell syntax.
//!
//! Commands run as argv, never through a shell, so anything a shell would
//! interpret (operators, substitutions, redirections, expansions) is refused
//! instead of being passed on as a literal that the author of the line
//! expected to mean something else. Quoting follows POSIX rules: single quotes
//! are literal, double quotes allow `\"`, `\\`, `\$` and `` \` `` escapes, and a
//! backslash outside quotes makes the next character literal.

use std::iter::Peekable;
use std::str::Chars;

/// Shell syntax found in a command line, with the token that revealed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShellSyntax {
    /// The offending text, e.g. `&&` or `$(`.
    pub token: String,
    /// What a shell would have done with it.
    pub what: &'static str,
}

impl ShellSyntax {
    fn new(token: impl Into<String>, what: &'static str) -> Self {
        ShellSyntax {
            token: token.into(),
            what,
        }
    }
}

impl std::fmt::Display for ShellSyntax {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "shell syntax `{}` ({}) is not allowed: commands run without a shell",
            self.token.escape_debug(),
            self.what
        )
    }
}

/// Splits a command line into pipeline stages of words.
///
/// Returns one stage unless the line contains an unquoted `|`; whether
/// several stages may run is the caller's decision.
pub fn split(line: &str) -> Result<Vec<Vec<String>>, ShellSyntax> {
    let mut stages: Vec<Vec<String>> = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();

    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\n' | '\r' => {
                return Err(ShellSyntax::new(
                    c.to_string(),
                    "newline separates commands",
                ));
            }
            '\0' => return Err(ShellSyntax::new("\\0", "NUL byte")),
            ';' => return Err(ShellSyntax::new(";", "command separator")),
            '&' => {
                return Err(match chars.peek() {
                    Some('&') => ShellSyntax::new("&&", "command list"),
                    Some('>') => ShellSyntax::new("&>", "redirection"),
                    _ => ShellSyntax::new("&", "background job"),
                });
            }
            '|' => match chars.peek() {
                Some('|') => return Err(ShellSyntax::new("||", "command list")),
                Some('&') => return Err(ShellSyntax::new("|&", "pipeline of stderr")),
                _ => {
                    if in_word {
                        words.push(std::mem::take(&mut word));
                        in_word = false;
                    }
                    if words.is_empty() {
                        return Err(ShellSyntax::new("|", "pipeline stage without a command"));
                    }
                    stages.push(std::mem::take(&mut words));
                }
            },
            '>' => return Err(ShellSyntax::new(">", "output redirection")),
            '<' => {
                return Err(match chars.peek() {
                    Some('<') => ShellSyntax::new("<<", "here-document"),
                    Some('(') => ShellSyntax::new("<(", "process substitution"),
                    _ => ShellSyntax::new("<", "input redirection"),
                });
            }
            '(' | ')' => return Err(ShellSyntax::new(c.to_string(), "subshell")),
            '`' => return Err(ShellSyntax::new("`", "command substitution")),
            '$' => {
                if let Some(err) = dollar(chars.peek().copied(), true) {
                    return Err(err);
                }
                word.push('$');
                in_word = true;
            }
            '#' if !in_word => return Err(ShellSyntax::new("#", "comment")),
            '\\' => match chars.next() {
                Some('\n') | Some('\r') => {
                    return Err(ShellSyntax::new("\\\n", "line continuation"));
                }
                Some(next) => {
                    word.push(next);
                    in_word = true;
                }
                None => return Err(ShellSyntax::new("\\", "trailing backslash")),
            },
            '\'' => {
                single_quoted(&mut chars, &mut word)?;
                in_word = true;
            }
            '"' => {
                double_quoted(&mut chars, &mut word)?;
                in_word = true;
            }
            _ => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    if words.is_empty() && !stages.is_empty() {
        return Err(ShellSyntax::new("|", "pipeline stage without a command"));
    }
    stages.push(words);
    for stage in &stages {
        if let Some(first) = stage.first()
            && is_assignment(first)
        {
            return Err(ShellSyntax::new(first.clone(), "environment assignment"));
        }
    }
    Ok(stages)
}

/// What follows a `$`: refused when a shell would expand it.
fn dollar(next: Option<char>, unquoted: bool) -> Option<ShellSyntax> {
    match next {
        Some('(') => Some(ShellSyntax::new("$(", "command substitution")),
        Some('{') => Some(ShellSyntax::new("${", "parameter expansion")),
        Some('[') => Some(ShellSyntax::new("$[", "arithmetic expansion")),
        Some('\'') if unquoted => Some(ShellSyntax::new("$'", "ANSI-C quoting")),
        Some('"') if unquoted => Some(ShellSyntax::new("$\"", "locale quoting")),
        Some(c) if c.is_ascii_alphanumeric() || "_@*#?$!-".contains(c) => {
            Some(ShellSyntax::new(format!("${c}"), "parameter expansion"))
        }
        _ => None,
    }
}

fn single_quoted(chars: &mut Peekable<Chars<'_>>, word: &mut String) -> Result<(), ShellSyntax> {
    for c in chars.by_ref() {
        if c == '\'' {
            return Ok(());
        }
        if c == '\0' {
            return Err(ShellSyntax::new("\\0", "NUL byte"));
        }
        word.push(c);
    }
    Err(ShellSyntax::new("'", "unterminated quote"))
}

fn double_quoted(chars: &mut Peekable<Chars<'_>>, word: &mut String) -> Result<(), ShellSyntax> {
    while let Some(c) = chars.next() {
        match c {
            '"' => return Ok(()),
            '\0' => return Err(ShellSyntax::new("\\0", "NUL byte")),
            '`' => return Err(ShellSyntax::new("`", "command substitution")),
            '$' => {
                if let Some(err) = dollar(chars.peek().copied(), false) {
                    return Err(err);
                }
                word.push('$');
            }
            '\\' => match chars.peek().copied() {
                Some(next @ ('"' | '\\' | '$' | '`')) => {
                    chars.next();
                    word.push(next);
                }
                Some('\n') => return Err(ShellSyntax::new("\\\n", "line continuation")),
                _ => word.push('\\'),
            },
            _ => word.push(c),
        }
    }
    Err(ShellSyntax::new("\"", "unterminated quote"))
}

/// `NAME=value` as the first word: a shell would set a variable, not run a program.
fn is_assignment(word: &str) -> bool {
    let Some((name, _)) = word.split_once('=') else {
        return false;
    };
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        let mut stages = split(line).unwrap_or_default();
        assert_eq!(stages.len(), 1, "{line}");
        stages.remove(0)
    }

    #[test]
    fn splits_with_quotes_and_escapes() {
        assert_eq!(words("ls  -la\t/data"), ["ls", "-la", "/data"]);
        assert_eq!(
            words(r#"grep 'a; b' "c && d" e\;f"#),
            ["grep", "a; b", "c && d", "e;f"]
        );
        assert_eq!(
            words(r#"echo "x\"y\\z" '' """#),
            ["echo", "x\"y\\z", "", ""]
        );
        assert_eq!(words("echo a$ 'b$(c)'"), ["echo", "a$", "b$(c)"]);
    }

    #[test]
    fn splits_pipeline_stages() {
        let stages = split("ps aux | grep x").unwrap_or_default();
        assert_eq!(stages, vec![vec!["ps", "aux"], vec!["grep", "x"]]);
    }

    #[test]
    fn refuses_operators() {
        for (line, token) in [
            ("ls; id", ";"),
            ("ls && id", "&&"),
            ("ls || id", "||"),
            ("ls & id", "&"),
            ("ls >x", ">"),
            ("cat <x", "<"),
            ("cat <<EOF", "<<"),
            ("echo $(id)", "$("),
            ("echo \"$(id)\"", "$("),
            ("echo `id`", "`"),
            ("echo ${HOME}", "${"),
            ("echo $HOME", "$H"),
            ("ls\nid", "\n"),
            ("A=1 ls", "A=1"),
            ("ls | ", "|"),
            ("| ls", "|"),
            ("echo 'x", "'"),
            ("(id)", "("),
            ("ls # c", "#"),
        ] {
            let err = split(line).err();
            assert_eq!(err.map(|e| e.token), Some(token.to_string()), "{line:?}");
        }
    }
}
