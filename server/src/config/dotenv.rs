//! The `.env` file, read as the Python v3.0 server read it (pydantic-settings
//! over python-dotenv), so that a v3 `.env` means the same thing here:
//!
//! - `KEY=value`, optionally `export KEY=value`; blank lines and `#` lines skipped;
//! - unquoted values run to the end of the line, a ` #` starts a comment, and
//!   quotes inside are kept (`AI_CORS_ORIGINS=["https://a.example"]` stays a JSON list);
//! - `'single'` quotes are literal (only `\'` and `\\` escapes); `"double"` quotes
//!   decode `\n \t \" \\ …` and may span lines;
//! - `${NAME}` and `${NAME:-default}` expand in unquoted and double-quoted values,
//!   from earlier lines of the file first, then the environment;
//! - names are case-insensitive (pydantic-settings' default); a line that cannot
//!   be parsed is skipped and reported by number (never by content).
//!
//! `crate`'s settings give the process environment precedence over the file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The result of parsing: values by upper-cased name, and the lines skipped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    pub values: HashMap<String, String>,
    /// 1-based numbers of the lines that could not be parsed.
    pub bad_lines: Vec<usize>,
}

/// A `.env` file that was read.
#[derive(Clone, Debug, Default)]
pub struct EnvFile {
    pub path: PathBuf,
    pub parsed: Parsed,
}

impl EnvFile {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.parsed
            .values
            .get(&name.to_ascii_uppercase())
            .map(String::as_str)
    }
}

struct Cursor {
    chars: Vec<char>,
    pos: usize,
    line: usize,
}

impl Cursor {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }
    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }
    /// Skips spaces and tabs (not newlines).
    fn skip_blanks(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.bump();
        }
    }
    fn rest_of_line(&mut self) -> String {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            if c == '\n' || c == '\r' {
                break;
            }
            out.push(c);
            self.bump();
        }
        out
    }
    /// Consumes the line ending (if any).
    fn end_line(&mut self) {
        if self.peek() == Some('\r') {
            self.bump();
        }
        if self.peek() == Some('\n') {
            self.bump();
        }
    }
    fn starts_with(&self, s: &str) -> bool {
        (self.pos..)
            .zip(s.chars())
            .all(|(i, c)| self.chars.get(i) == Some(&c))
    }
}

enum Quoting {
    None,
    Single,
    Double,
}

/// Parses `.env` text; `env` resolves `${NAME}` not defined earlier in the file.
pub fn parse(text: &str, env: impl Fn(&str) -> Option<String>) -> Parsed {
    let mut cur = Cursor {
        chars: text.chars().collect(),
        pos: 0,
        line: 1,
    };
    let mut parsed = Parsed::default();
    loop {
        // Blank lines and leading whitespace.
        while matches!(cur.peek(), Some(' ' | '\t' | '\n' | '\r')) {
            cur.bump();
        }
        if cur.at_end() {
            break;
        }
        let line = cur.line;
        if cur.peek() == Some('#') {
            cur.rest_of_line();
            cur.end_line();
            continue;
        }
        let (pos, at_line) = (cur.pos, cur.line);
        match binding(&mut cur) {
            Some((key, raw, quoting)) => {
                let value = match quoting {
                    Quoting::Single => raw,
                    Quoting::None | Quoting::Double => expand(&raw, &parsed.values, &env),
                };
                parsed.values.insert(key.to_ascii_uppercase(), value);
            }
            None => {
                parsed.bad_lines.push(line);
                // Resynchronise at the line after the statement's first one.
                cur.pos = pos;
                cur.line = at_line;
                cur.rest_of_line();
                cur.end_line();
            }
        }
    }
    parsed
}

/// One `KEY=value` statement; the cursor ends after its line.
fn binding(cur: &mut Cursor) -> Option<(String, String, Quoting)> {
    if cur.starts_with("export ") || cur.starts_with("export\t") {
        for _ in 0.."export".len() {
            cur.bump();
        }
        cur.skip_blanks();
    }
    let mut key = String::new();
    if cur.peek() == Some('\'') {
        cur.bump();
        while let Some(c) = cur.peek() {
            if c == '\'' || c == '\n' {
                break;
            }
            key.push(c);
            cur.bump();
        }
        if cur.bump() != Some('\'') {
            return None;
        }
    } else {
        while let Some(c) = cur.peek() {
            if c == '=' || c == '#' || c.is_whitespace() {
                break;
            }
            key.push(c);
            cur.bump();
        }
    }
    if key.is_empty() {
        return None;
    }
    cur.skip_blanks();
    if cur.peek() != Some('=') {
        // A name without a value (python-dotenv's None) sets nothing; it is reported.
        return None;
    }
    cur.bump();
    cur.skip_blanks();
    let (value, quoting) = match cur.peek() {
        Some('\'') => {
            cur.bump();
            (quoted(cur, '\'')?, Quoting::Single)
        }
        Some('"') => {
            cur.bump();
            (quoted(cur, '"')?, Quoting::Double)
        }
        _ => {
            let raw = cur.rest_of_line();
            cur.end_line();
            return Some((key, strip_comment(&raw), Quoting::None));
        }
    };
    // After a quoted value: blanks, an optional comment, the end of the line.
    cur.skip_blanks();
    match cur.peek() {
        None | Some('\n' | '\r') => {}
        Some('#') => {
            cur.rest_of_line();
        }
        Some(_) => return None,
    }
    cur.end_line();
    Some((key, value, quoting))
}

/// The body of a quoted value, escapes decoded; `None` when the quote never closes.
fn quoted(cur: &mut Cursor, quote: char) -> Option<String> {
    let mut out = String::new();
    loop {
        let c = cur.bump()?;
        if c == quote {
            return Some(out);
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let next = cur.peek()?;
        let decoded = if quote == '\'' {
            matches!(next, '\\' | '\'').then_some(next)
        } else {
            match next {
                '\\' | '\'' | '"' => Some(next),
                'n' => Some('\n'),
                't' => Some('\t'),
                'r' => Some('\r'),
                'a' => Some('\u{7}'),
                'b' => Some('\u{8}'),
                'f' => Some('\u{c}'),
                'v' => Some('\u{b}'),
                _ => None,
            }
        };
        match decoded {
            Some(d) => {
                cur.bump();
                out.push(d);
            }
            None => out.push('\\'),
        }
    }
}

/// An unquoted value without its trailing comment (` #…`) and trailing blanks.
fn strip_comment(raw: &str) -> String {
    let mut cut = raw.len();
    let bytes = raw.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'#' && i > 0 && matches!(bytes[i - 1], b' ' | b'\t') {
            cut = i;
            break;
        }
    }
    raw[..cut].trim_end().to_string()
}

/// Expands `${NAME}` and `${NAME:-default}`: the file's earlier values, then `env`, then the default.
fn expand(
    value: &str,
    file: &HashMap<String, String>,
    env: &impl Fn(&str) -> Option<String>,
) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start + 2..].find('}') else {
            break;
        };
        out.push_str(&rest[..start]);
        let inner = &rest[start + 2..start + 2 + len];
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        let resolved = file
            .get(&name.to_ascii_uppercase())
            .cloned()
            .or_else(|| env(name))
            .or_else(|| default.map(str::to_string))
            .unwrap_or_default();
        out.push_str(&resolved);
        rest = &rest[start + 3 + len..];
    }
    out.push_str(rest);
    out
}

/// Which file to read: `--env-file`, else `AI_ENV_FILE`, else `./.env` when it exists.
/// The flag and the variable name a file that must exist.
pub fn locate(flag: Option<&Path>, variable: Option<&str>) -> anyhow::Result<Option<PathBuf>> {
    let named = flag
        .map(Path::to_path_buf)
        .or_else(|| variable.filter(|v| !v.trim().is_empty()).map(PathBuf::from));
    match named {
        Some(path) => {
            if !path.is_file() {
                anyhow::bail!(
                    "the env file {} (from {}) does not exist or is not a file",
                    path.display(),
                    if flag.is_some() {
                        "--env-file"
                    } else {
                        "AI_ENV_FILE"
                    }
                );
            }
            Ok(Some(path))
        }
        None => {
            let default = PathBuf::from(".env");
            Ok(default.is_file().then_some(default))
        }
    }
}

/// Reads and parses `path`; `env` resolves `${NAME}`.
pub fn read(path: &Path, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<EnvFile> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read the env file {}: {e}", path.display()))?;
    Ok(EnvFile {
        path: path.to_path_buf(),
        parsed: parse(&text, env),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> Parsed {
        parse(text, |name| {
            (name == "HOME").then(|| "/home/v3".to_string())
        })
    }

    #[test]
    fn the_v3_guide_env_means_what_it_meant_to_python() {
        let p = values(
            r#"
# AI Orchestrator settings
AI_ADMIN_PASSWORD=Str0ng-Admin-Passphrase
export AI_JWT_SECRET_KEY="a-long-random-secret-of-at-least-32-bytes"
AI_CORS_ORIGINS=["https://ai.example.org"]
AI_LOG_LEVEL=WARNING   # Python's names
AI_UPLOAD_DIR='${HOME}/uploads'
AI_DB_PATH=${HOME}/data/orchestrator.db
AI_APP_NAME="My \"AI\"\n"
ai_port = 8002
TAGGED=a#b
EMPTY=
"#,
        );
        let v = |k: &str| p.values.get(k).cloned().unwrap_or_else(|| "<unset>".into());
        assert_eq!(v("AI_ADMIN_PASSWORD"), "Str0ng-Admin-Passphrase");
        assert_eq!(
            v("AI_JWT_SECRET_KEY"),
            "a-long-random-secret-of-at-least-32-bytes"
        );
        assert_eq!(v("AI_CORS_ORIGINS"), r#"["https://ai.example.org"]"#);
        assert_eq!(v("AI_LOG_LEVEL"), "WARNING");
        assert_eq!(v("AI_UPLOAD_DIR"), "${HOME}/uploads");
        assert_eq!(v("AI_DB_PATH"), "/home/v3/data/orchestrator.db");
        assert_eq!(v("AI_APP_NAME"), "My \"AI\"\n");
        assert_eq!(v("AI_PORT"), "8002");
        assert_eq!(v("TAGGED"), "a#b");
        assert_eq!(v("EMPTY"), "");
        assert!(p.bad_lines.is_empty(), "{:?}", p.bad_lines);
    }

    #[test]
    fn bad_lines_are_skipped_by_number_and_the_rest_is_read() {
        let p = values("A=1\n=nokey\nB=\"unterminated\nC=3\n");
        assert_eq!(p.values.get("A").map(String::as_str), Some("1"));
        assert_eq!(p.values.get("C").map(String::as_str), Some("3"));
        assert_eq!(p.bad_lines, [2, 3]);
        let p = values("M=\"two\nlines\"\nN=1\n");
        assert_eq!(p.values["M"], "two\nlines");
        assert_eq!(p.values["N"], "1");
        let p = values("A='x' trailing\nB=2\nLONELY\n");
        assert_eq!(p.bad_lines, [1, 3]);
        assert_eq!(p.values.get("B").map(String::as_str), Some("2"));
    }

    #[test]
    fn expansion_prefers_the_file_then_the_environment_then_the_default() {
        let p = values("BASE=/srv\nA=${BASE}/x\nB=${MISSING:-fallback}\nC=${HOME}\nD=${NOPE}\n");
        assert_eq!(p.values["A"], "/srv/x");
        assert_eq!(p.values["B"], "fallback");
        assert_eq!(p.values["C"], "/home/v3");
        assert_eq!(p.values["D"], "");
    }
}
