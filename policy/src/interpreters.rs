//! Interpreters and the flags that make them run code given on the command
//! line. Such code escapes every argument rule, so it runs only when the
//! policy lists the exact line in `allowInline`.

/// How one interpreter takes inline code.
struct Interpreter {
    names: &'static [&'static str],
    /// Single-letter flags that take inline code (`c` for `-c`, also inside `-ec`).
    short: &'static [char],
    /// Letters whose value follows attached (`-W...`), ending the cluster scan.
    value_letters: &'static [char],
    /// Long flags taking inline code (`--eval`, also as `--eval=...`).
    long: &'static [&'static str],
}

const INTERPRETERS: &[Interpreter] = &[
    Interpreter {
        names: &["python", "pypy"],
        short: &['c'],
        value_letters: &['W', 'X', 'm', 'Q'],
        long: &[],
    },
    Interpreter {
        names: &[
            "sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "fish", "csh", "tcsh", "busybox",
        ],
        short: &['c'],
        value_letters: &['o', 'O'],
        long: &["--command", "--init-command"],
    },
    Interpreter {
        names: &["perl"],
        short: &['e', 'E'],
        value_letters: &['M', 'm', 'I', 'x', 'd', 'D', 'C'],
        long: &[],
    },
    Interpreter {
        names: &["node", "nodejs", "bun", "deno"],
        short: &['e', 'p'],
        value_letters: &['r'],
        long: &["--eval", "--print"],
    },
    Interpreter {
        names: &["ruby", "lua", "luajit", "rscript", "r", "osascript", "jjs"],
        short: &['e'],
        value_letters: &['I', 'r'],
        long: &["--eval"],
    },
    Interpreter {
        names: &["php"],
        short: &['r', 'B', 'R', 'E', 'F'],
        value_letters: &['d', 'c', 'z'],
        long: &[
            "--run",
            "--process-begin",
            "--process-code",
            "--process-end",
        ],
    },
    Interpreter {
        names: &["pwsh", "powershell"],
        short: &['c'],
        value_letters: &[],
        long: &["-command", "-encodedcommand", "-c", "-ec", "--command"],
    },
];

/// The interpreter family of a program name, ignoring a version suffix
/// (`python3.12`, `perl5.36`, `node18`).
fn family(program: &str) -> Option<&'static Interpreter> {
    let lower = program.to_ascii_lowercase();
    let base = lower.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    INTERPRETERS.iter().find(|i| i.names.contains(&base))
}

/// Returns the inline-code flag in `args` if `program` is an interpreter
/// called with one.
pub(crate) fn inline_code_flag<'a>(program: &str, args: &'a [String]) -> Option<&'a str> {
    let interp = family(program)?;
    for arg in args {
        if arg == "--" {
            break;
        }
        let lower = arg.to_ascii_lowercase();
        if interp
            .long
            .iter()
            .any(|l| lower == *l || lower.strip_prefix(l).is_some_and(|r| r.starts_with('=')))
        {
            return Some(arg);
        }
        if let Some(cluster) = arg.strip_prefix('-')
            && !cluster.starts_with('-')
        {
            for c in cluster.chars() {
                if interp.short.contains(&c) {
                    return Some(arg);
                }
                if !c.is_ascii_alphabetic() || interp.value_letters.contains(&c) {
                    break;
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn finds_inline_flags() {
        assert!(inline_code_flag("python3", &args(&["-c", "x"])).is_some());
        assert!(inline_code_flag("python3.12", &args(&["-Ic", "x"])).is_some());
        assert!(inline_code_flag("bash", &args(&["-ec", "x"])).is_some());
        assert!(inline_code_flag("perl", &args(&["-ne", "x"])).is_some());
        assert!(inline_code_flag("node", &args(&["--eval=1"])).is_some());
        assert!(inline_code_flag("php", &args(&["-r", "x"])).is_some());
        assert!(inline_code_flag("python3", &args(&["script.py"])).is_none());
        assert!(inline_code_flag("python3", &args(&["-Wignore", "s.py"])).is_none());
        assert!(inline_code_flag("cat", &args(&["-c"])).is_none());
    }
}
