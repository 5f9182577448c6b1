//! Text tools whose first operand is a program or a pattern: `grep`, `sed`,
//! `awk`, `jq`. `sed` and `gawk` run with `--sandbox` (added by the server);
//! their scripts are also read here so that a refusal names the command.

use super::{
    Arg, Choice, Ctx, GNU_COMMON, IN_ORDER, Kind, Opt, PERMUTE, Profile, Risk, flag, getopt::Style,
    has_mark, marked, operands, optional, reads, recursive, refused, value,
};
use crate::paths::Access;

const GREP_DIRECTORIES: &[Choice] = &[
    Choice {
        value: "read",
        kind: Kind::Plain,
        same_as: &[],
    },
    Choice {
        value: "skip",
        kind: Kind::Plain,
        same_as: &[],
    },
    Choice {
        value: "recurse",
        kind: Kind::Recursive,
        same_as: &["-r", "--recursive"],
    },
];

const GREP_DEVICES: &[Choice] = &[
    Choice {
        value: "read",
        kind: Kind::Plain,
        same_as: &[],
    },
    Choice {
        value: "skip",
        kind: Kind::Plain,
        same_as: &[],
    },
];

const PATTERN: &str = "pattern";

const GREP: &[Opt] = &[
    flag('E', &["extended-regexp"]),
    flag('F', &["fixed-strings"]),
    flag('G', &["basic-regexp"]),
    flag('P', &["perl-regexp"]),
    value('e', &["regexp"]).mark(PATTERN),
    reads('f', &["file"]).mark(PATTERN),
    flag('i', &["ignore-case"]),
    flag('\0', &["no-ignore-case"]),
    flag('w', &["word-regexp"]),
    flag('x', &["line-regexp"]),
    flag('y', &[]),
    flag('s', &["no-messages"]),
    flag('v', &["invert-match"]),
    flag('V', &["version"]),
    flag('\0', &["help"]),
    value('m', &["max-count"]),
    flag('b', &["byte-offset"]),
    flag('n', &["line-number"]),
    flag('\0', &["line-buffered"]),
    flag('H', &["with-filename"]),
    flag('h', &["no-filename"]),
    value('\0', &["label"]),
    flag('o', &["only-matching"]),
    flag('q', &["quiet", "silent"]),
    value('\0', &["binary-files"]),
    flag('a', &["text"]),
    flag('I', &[]),
    Opt::new(
        'd',
        &["directories"],
        Arg::Required,
        Kind::Choice(GREP_DIRECTORIES),
    ),
    Opt::new('D', &["devices"], Arg::Required, Kind::Choice(GREP_DEVICES)),
    recursive('r', &["recursive"]),
    recursive('R', &["dereference-recursive"]),
    value('\0', &["include"]),
    value('\0', &["exclude"]),
    reads('\0', &["exclude-from"]),
    value('\0', &["exclude-dir"]),
    flag('L', &["files-without-match"]),
    flag('l', &["files-with-matches"]),
    flag('c', &["count"]),
    flag('T', &["initial-tab"]),
    flag('Z', &["null"]),
    flag('z', &["null-data"]),
    optional('\0', &["color", "colour"]),
    flag('U', &["binary"]),
    value('A', &["after-context"]),
    value('B', &["before-context"]),
    value('C', &["context"]),
];

const NUMERIC: Style = Style {
    permute: true,
    numeric: true,
};

fn grep(ctx: &mut Ctx<'_>) {
    let Some(events) = ctx.getopt(GREP, NUMERIC) else {
        return;
    };
    ctx.apply(&events);
    let mut ops = operands(&events);
    if !has_mark(&events, PATTERN) && !ops.is_empty() {
        ops.remove(0);
    }
    if ctx.out.recursive && ops.is_empty() {
        ctx.walk(".", None);
    }
    for p in ops {
        let v = ctx.args[p].clone();
        ctx.file(&v, Access::Read);
        if ctx.out.recursive {
            ctx.walk(&v, None);
        }
    }
}

const SCRIPT: &str = "script";
const IN_PLACE: &str = "in-place";

const SED: &[Opt] = &[
    flag('n', &["quiet", "silent"]),
    flag('\0', &["debug"]),
    value('e', &["expression"]).mark(SCRIPT),
    reads('f', &["file"]).mark("script-file"),
    flag('\0', &["follow-symlinks"]),
    optional('i', &["in-place"]).mark(IN_PLACE),
    value('l', &["line-length"]),
    flag('\0', &["posix"]),
    flag('E', &["regexp-extended"]),
    flag('r', &[]),
    flag('s', &["separate"]),
    flag('\0', &["sandbox"]),
    flag('u', &["unbuffered"]),
    flag('z', &["null-data"]),
    GNU_COMMON[0],
    GNU_COMMON[1],
];

/// The flag the server adds to every `sed` and `gawk`: no `e`, `r`, `w`
/// commands, `s///e`, `system()`, redirections or pipes at run time.
pub(crate) const SANDBOX: &str = "--sandbox";

fn sed(ctx: &mut Ctx<'_>) {
    let Some(events) = ctx.getopt(SED, PERMUTE) else {
        return;
    };
    ctx.apply(&events);
    let mut ops = operands(&events);
    let mut scripts: Vec<&str> = marked(&events, SCRIPT).into_iter().flatten().collect();
    if scripts.is_empty() && !has_mark(&events, "script-file") && !ops.is_empty() {
        scripts.push(ctx.args[ops.remove(0)].as_str());
    }
    for script in scripts {
        if let Err((command, why)) = sed_script::check(script) {
            let what = format!("`sed` command `{command}`");
            ctx.refuse(Risk::Code, &[], what, why);
        }
    }
    let in_place: Vec<Option<&str>> = marked(&events, IN_PLACE);
    let access = if in_place.is_empty() {
        Access::Read
    } else {
        Access::Write
    };
    for suffix in in_place.iter().flatten() {
        if suffix.contains('/') || suffix.contains('*') {
            let what = format!("`sed --in-place={suffix}`");
            ctx.refuse(
                Risk::Never,
                &[],
                what,
                "would write its backup elsewhere than beside the file",
            );
        }
    }
    for p in ops {
        let v = ctx.args[p].clone();
        ctx.file(&v, access);
        for suffix in in_place.iter().flatten() {
            ctx.file(&format!("{v}{suffix}"), Access::Write);
        }
    }
    ctx.out.prepend.push(SANDBOX);
}

/// Reads a GNU sed script far enough to find every command and refuses the
/// ones that run programs or touch files other than the operands.
mod sed_script {
    type Found = (String, &'static str);

    const RUNS: &str = "runs a shell command";
    const READS: &str = "reads a file the policy does not judge";
    const WRITES: &str = "writes a file the policy does not judge";

    pub(super) fn check(script: &str) -> Result<(), Found> {
        let s: Vec<char> = script.chars().collect();
        let mut i = 0;
        loop {
            while i < s.len() && (s[i].is_whitespace() || s[i] == ';') {
                i += 1;
            }
            if i >= s.len() {
                return Ok(());
            }
            i = address(&s, i)?;
            while i < s.len() && (s[i].is_whitespace() || s[i] == '!') {
                i += 1;
            }
            let Some(&c) = s.get(i) else {
                return Err((script.into(), "has an address without a command"));
            };
            i += 1;
            match c {
                '{' | '}' | '=' | 'd' | 'D' | 'g' | 'G' | 'h' | 'H' | 'n' | 'N' | 'p' | 'P'
                | 'x' | 'z' | 'F' => {}
                '#' | ':' | 'b' | 't' | 'T' | 'v' | 'q' | 'Q' | 'l' | 'L' => {
                    // A comment, label or number runs to the end of the line
                    // (a label or number also ends at `;`).
                    while i < s.len() && s[i] != '\n' && (c == '#' || s[i] != ';') {
                        if c != '#' && c != ':' && s[i] == '}' {
                            break;
                        }
                        i += 1;
                    }
                }
                'a' | 'i' | 'c' => {
                    // Text to the end of the line; a backslash continues it.
                    while i < s.len() && s[i] != '\n' {
                        if s[i] == '\\' {
                            i += 1;
                        }
                        i += 1;
                    }
                }
                'e' => return Err((line_from(&s, i - 1), RUNS)),
                'r' | 'R' => return Err((line_from(&s, i - 1), READS)),
                'w' | 'W' => return Err((line_from(&s, i - 1), WRITES)),
                's' => {
                    let start = i - 1;
                    i = delimited(&s, i, 2)?;
                    // Flags: a `w` flag takes the rest of the line as a file name.
                    while i < s.len() && !matches!(s[i], ';' | '\n' | '}' | '#') {
                        match s[i] {
                            'e' => return Err((line_from(&s, start), RUNS)),
                            'w' => return Err((line_from(&s, start), WRITES)),
                            'g' | 'p' | 'i' | 'I' | 'm' | 'M' | ' ' | '\t' => {}
                            d if d.is_ascii_digit() => {}
                            _ => return Err((line_from(&s, start), "has an unknown flag")),
                        }
                        i += 1;
                    }
                }
                'y' => i = delimited(&s, i, 2)?,
                _ => return Err((line_from(&s, i - 1), "is not a command this profile knows")),
            }
        }
    }

    fn line_from(s: &[char], from: usize) -> String {
        s[from..].iter().take_while(|c| **c != '\n').collect()
    }

    /// Skips an address or a range (`1`, `$`, `/re/I`, `\%re%`, `1,+3`, `0~2`).
    fn address(s: &[char], mut i: usize) -> Result<usize, Found> {
        for part in 0..2 {
            match s.get(i) {
                Some(c) if c.is_ascii_digit() || *c == '+' || *c == '~' => {
                    i += 1;
                    while i < s.len() && (s[i].is_ascii_digit() || s[i] == '~') {
                        i += 1;
                    }
                }
                Some('$') => i += 1,
                Some('/') => {
                    i = delimited(s, i, 1)?;
                    while i < s.len() && matches!(s[i], 'I' | 'M') {
                        i += 1;
                    }
                }
                Some('\\') => {
                    i = delimited(s, i + 1, 1)?;
                    while i < s.len() && matches!(s[i], 'I' | 'M') {
                        i += 1;
                    }
                }
                _ if part == 1 => {
                    return Err((
                        s[i.saturating_sub(1)..].iter().collect(),
                        "has a malformed address",
                    ));
                }
                _ => return Ok(i),
            }
            if part == 0 && s.get(i) == Some(&',') {
                i += 1;
                while i < s.len() && s[i] == ' ' {
                    i += 1;
                }
            } else {
                return Ok(i);
            }
        }
        Ok(i)
    }

    /// Skips `parts` sections delimited by the character at `i`
    /// (`/re/` is one, `s/re/new/` two after the `s`).
    fn delimited(s: &[char], mut i: usize, parts: usize) -> Result<usize, Found> {
        let Some(&delim) = s.get(i) else {
            return Err((s.iter().collect(), "is unterminated"));
        };
        if delim == '\n' || delim == '\\' {
            return Err((s.iter().collect(), "has a malformed delimiter"));
        }
        i += 1;
        for _ in 0..parts {
            loop {
                match s.get(i) {
                    None => return Err((s.iter().collect(), "is unterminated")),
                    Some('\\') => i += 2,
                    Some(&c) if c == delim => {
                        i += 1;
                        break;
                    }
                    Some(_) => i += 1,
                }
            }
        }
        Ok(i)
    }
}

const PROGRAM: &str = "program";
const PROGRAM_FILE: &str = "program-file";
const WRITES_OUT: &str = "writes a file the policy does not judge";

/// gawk's options; `awk`, `mawk` and `nawk` take the POSIX subset.
const GAWK: &[Opt] = &[
    Opt::new('f', &["file"], Arg::Required, Kind::Read).mark(PROGRAM_FILE),
    value('F', &["field-separator"]),
    value('v', &["assign"]),
    flag('b', &["characters-as-bytes"]),
    flag('c', &["traditional"]),
    flag('C', &["copyright"]),
    refused(
        'd',
        &["dump-variables"],
        Arg::Optional,
        Risk::Unjudged,
        WRITES_OUT,
    ),
    refused(
        'D',
        &["debug"],
        Arg::Optional,
        Risk::Code,
        "starts the interactive debugger",
    ),
    value('e', &["source"]).mark(PROGRAM),
    Opt::new('E', &["exec"], Arg::Required, Kind::Read).mark(PROGRAM_FILE),
    flag('g', &["gen-pot"]),
    flag('h', &["help"]),
    reads('i', &["include"]),
    flag('I', &["trace"]),
    refused(
        'l',
        &["load"],
        Arg::Required,
        Risk::Code,
        "loads a shared library",
    ),
    optional('L', &["lint"]),
    flag('M', &["bignum"]),
    flag('N', &["use-lc-numeric"]),
    flag('n', &["non-decimal-data"]),
    refused(
        'o',
        &["pretty-print"],
        Arg::Optional,
        Risk::Unjudged,
        WRITES_OUT,
    ),
    flag('O', &["optimize"]),
    refused('p', &["profile"], Arg::Optional, Risk::Unjudged, WRITES_OUT),
    flag('P', &["posix"]),
    flag('r', &["re-interval"]),
    flag('s', &["no-optimize"]),
    flag('S', &["sandbox"]),
    flag('t', &["lint-old"]),
    flag('V', &["version"]),
];

const POSIX_AWK: &[Opt] = &[
    Opt::new('f', &[], Arg::Required, Kind::Read).mark(PROGRAM_FILE),
    value('F', &[]),
    value('v', &[]),
];

/// What a non-gawk awk program may not contain: without `--sandbox` these
/// run commands (`system`, `|`) or read and write files (`getline`, `>`).
const AWK_UNSANDBOXED: &[(&str, &str)] = &[
    ("system", "runs a shell command"),
    (
        "getline",
        "reads a file or a command's output the policy does not judge",
    ),
    ("|", "pipes to or from a shell command"),
    (
        ">",
        "may redirect output to a file (use `<` or gawk for comparisons)",
    ),
    ("@load", "loads a shared library"),
    ("@include", "reads a file the policy does not judge"),
];

fn awk(ctx: &mut Ctx<'_>) {
    let gawk = ctx.program == "gawk";
    let options = if gawk { GAWK } else { POSIX_AWK };
    let Some(events) = ctx.getopt(options, IN_ORDER) else {
        return;
    };
    ctx.apply(&events);
    let mut ops = operands(&events);
    let mut programs: Vec<&str> = marked(&events, PROGRAM).into_iter().flatten().collect();
    let from_file = has_mark(&events, PROGRAM_FILE);
    if programs.is_empty() && !from_file && !ops.is_empty() {
        programs.push(ctx.args[ops.remove(0)].as_str());
    }
    if gawk {
        ctx.out.prepend.push(SANDBOX);
    } else {
        if from_file {
            let what = format!("`{} -f`", ctx.program);
            ctx.refuse(
                Risk::Code,
                &[],
                what,
                "runs a program from a file that cannot be checked without gawk's --sandbox",
            );
        }
        for program in programs {
            if let Some((word, why)) = AWK_UNSANDBOXED.iter().find(|(w, _)| {
                if *w == ">" {
                    program
                        .match_indices('>')
                        .any(|(k, _)| !program[k + 1..].starts_with('='))
                } else {
                    program.contains(w)
                }
            }) {
                let what = format!("`{}` program with `{word}`", ctx.program);
                ctx.refuse(Risk::Code, &[], what, *why);
            }
        }
    }
    // `var=value` operands are assignments, the rest input files.
    for p in ops {
        let v = ctx.args[p].clone();
        if is_assignment(&v) {
            continue;
        }
        ctx.file(&v, Access::Read);
    }
}

fn is_assignment(word: &str) -> bool {
    let Some((name, _)) = word.split_once('=') else {
        return false;
    };
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

const JQ: &[Opt] = &[
    flag('n', &["null-input"]),
    flag('R', &["raw-input"]),
    flag('s', &["slurp"]),
    flag('c', &["compact-output"]),
    flag('r', &["raw-output"]),
    flag('\0', &["raw-output0"]),
    flag('j', &["join-output"]),
    flag('a', &["ascii-output"]),
    flag('S', &["sort-keys"]),
    flag('C', &["color-output"]),
    flag('M', &["monochrome-output"]),
    flag('\0', &["tab"]),
    value('\0', &["indent"]),
    flag('\0', &["unbuffered"]),
    flag('\0', &["stream"]),
    flag('\0', &["stream-errors"]),
    flag('\0', &["seq"]),
    Opt::new('f', &["from-file"], Arg::Required, Kind::Read).mark(PROGRAM_FILE),
    reads('L', &[]),
    flag('e', &["exit-status"]),
    Opt::new('\0', &["arg"], Arg::Two, Kind::Plain),
    Opt::new('\0', &["argjson"], Arg::Two, Kind::Plain),
    Opt::new('\0', &["slurpfile", "rawfile"], Arg::Two, Kind::Plain).mark("file-pair"),
    flag('\0', &["args"]).mark("args"),
    flag('\0', &["jsonargs"]).mark("args"),
    flag('h', &["help"]),
    flag('V', &["version"]),
    flag('\0', &["build-configuration"]),
];

/// `jq [options] FILTER [FILES...]`; after `--args`/`--jsonargs` the
/// operands are values, not files.
fn jq(ctx: &mut Ctx<'_>) {
    let Some(events) = ctx.getopt(JQ, PERMUTE) else {
        return;
    };
    ctx.apply(&events);
    for e in &events {
        if let super::getopt::Event::Opt {
            opt: super::getopt::OptRef::Profile(o),
            value2: Some(file),
            ..
        } = e
            && o.mark == "file-pair"
        {
            ctx.file(file, Access::Read);
        }
    }
    let mut ops = operands(&events);
    if !has_mark(&events, PROGRAM_FILE) && !ops.is_empty() {
        ops.remove(0);
    }
    // Operands after `--args` are positional values.
    let args_at = events.iter().find_map(|e| match e {
        super::getopt::Event::Opt {
            opt: super::getopt::OptRef::Profile(o),
            at,
            ..
        } if o.mark == "args" => Some(*at),
        _ => None,
    });
    for p in ops {
        if args_at.is_some_and(|a| p > a) {
            continue;
        }
        let v = ctx.args[p].clone();
        ctx.file(&v, Access::Read);
    }
}

pub(crate) const PROFILES: &[Profile] = &[
    Profile {
        names: &["grep", "egrep", "fgrep"],
        analyze: grep,
    },
    Profile {
        names: &["sed"],
        analyze: sed,
    },
    Profile {
        names: &["awk", "gawk", "mawk", "nawk"],
        analyze: awk,
    },
    Profile {
        names: &["jq"],
        analyze: jq,
    },
];
