//! Program profiles: what each common program can be made to do through its
//! options. A profile knows which options take a value, which values name a
//! file to read or to write, which options run code or other programs, make
//! the program recurse, change system state or never end. Options a profile
//! does not know are refused (an allowlist of flags); a policy may widen a
//! profile with `allowOptions`. Programs without a profile keep the generic
//! argument rules.
//!
//! Each program family lives in its own module as option tables plus a small
//! function saying what the operands are.

mod coreutils;
pub(crate) mod getopt;
mod git;
mod services;
mod text;
mod walkers;
mod wrappers;

use crate::paths::Access;
use getopt::{Event, Extras, OptRef, ParseError, Style};

/// Whether and how an option takes a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Arg {
    None,
    /// `-fV`, `-f V`, `--file=V`, `--file V`.
    Required,
    /// Only attached: `-iSUF`, `--in-place=SUF`.
    Optional,
    /// Two separate values: `jq --arg NAME VALUE`.
    Two,
}

/// Why an option (or an operand) is refused unless the policy allows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Risk {
    /// Runs code or another program; only an exact `allowInline` line lifts it.
    Code,
    /// Changes the state of the system (clock, host name, services).
    State,
    /// Never ends on its own (`tail -f`) and would hold a worker.
    Blocks,
    /// Reads file names the policy cannot see (`--files0-from`).
    Unjudged,
    /// Not an option the profile knows.
    Unknown,
    /// Never allowed: the server's own safety settings depend on it.
    Never,
}

impl Risk {
    fn liftable_by_allow_options(self) -> bool {
        matches!(
            self,
            Risk::State | Risk::Blocks | Risk::Unjudged | Risk::Unknown
        )
    }
}

/// A value that selects behaviour (`grep -d recurse`), matched like GNU
/// `argmatch`: exactly or by an unambiguous prefix.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Choice {
    pub value: &'static str,
    pub kind: Kind,
    /// Options this choice is the same as, for `denyArgs` (`-d recurse` is `-r`).
    pub same_as: &'static [&'static str],
}

/// What an option does.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    Plain,
    /// Its value is a file the program reads.
    Read,
    /// Its value is a file the program writes.
    Write,
    /// Makes the program walk directories.
    Recursive,
    Refuse(Risk, &'static str),
    Choice(&'static [Choice]),
    /// Refused when its value contains this word (`ps -o environ`).
    RefuseValueWord(&'static [&'static str], Risk, &'static str),
}

/// One option of a profile. `short` is `'\0'` when there is none.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Opt {
    pub short: char,
    pub long: &'static [&'static str],
    pub arg: Arg,
    pub kind: Kind,
    /// A meaning the profile's own code looks for (`"pattern"`, `"script"`).
    pub mark: &'static str,
}

impl Opt {
    pub(crate) const fn new(
        short: char,
        long: &'static [&'static str],
        arg: Arg,
        kind: Kind,
    ) -> Opt {
        Opt {
            short,
            long,
            arg,
            kind,
            mark: "",
        }
    }
    pub(crate) const fn mark(self, mark: &'static str) -> Opt {
        Opt { mark, ..self }
    }
}

/// A flag without a value.
pub(crate) const fn flag(short: char, long: &'static [&'static str]) -> Opt {
    Opt::new(short, long, Arg::None, Kind::Plain)
}
/// An option whose value is not a file.
pub(crate) const fn value(short: char, long: &'static [&'static str]) -> Opt {
    Opt::new(short, long, Arg::Required, Kind::Plain)
}
/// An option with an optional attached value that is not a file.
pub(crate) const fn optional(short: char, long: &'static [&'static str]) -> Opt {
    Opt::new(short, long, Arg::Optional, Kind::Plain)
}
/// An option whose value is a file read.
pub(crate) const fn reads(short: char, long: &'static [&'static str]) -> Opt {
    Opt::new(short, long, Arg::Required, Kind::Read)
}
/// An option whose value is a file written.
pub(crate) const fn writes(short: char, long: &'static [&'static str]) -> Opt {
    Opt::new(short, long, Arg::Required, Kind::Write)
}
/// A flag that makes the program recurse.
pub(crate) const fn recursive(short: char, long: &'static [&'static str]) -> Opt {
    Opt::new(short, long, Arg::None, Kind::Recursive)
}
/// An option refused unless the policy allows it.
pub(crate) const fn refused(
    short: char,
    long: &'static [&'static str],
    arg: Arg,
    risk: Risk,
    why: &'static str,
) -> Opt {
    Opt::new(short, long, arg, Kind::Refuse(risk, why))
}

/// The options every GNU program has.
pub(crate) const GNU_COMMON: [Opt; 2] = [flag('\0', &["help"]), flag('\0', &["version"])];

/// A file a command line names, with what the program does to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FileUse {
    pub value: String,
    pub access: Access,
    /// A directory (relative to the working directory) the value is relative to.
    pub base: Option<String>,
    /// A name the program itself keeps inside the working directory (a git
    /// pathspec): judged by the deny globs only.
    pub deny_globs_only: bool,
}

/// An option or operand the profile refuses.
#[derive(Clone, Debug)]
pub(crate) struct Refusal {
    pub risk: Risk,
    /// A subcommand whose listing in the rule's `subcommands` lifts it.
    pub subcommand: Option<String>,
    /// The names the policy can allow it by (`-f`, `--follow`).
    pub names: Vec<String>,
    pub what: String,
    pub why: String,
}

/// A command a wrapper runs, to be judged in its own right.
#[derive(Clone, Debug, Default)]
pub(crate) struct Wrapped {
    /// Index in the arguments where the wrapped command starts.
    pub start: usize,
    /// A directory (relative to the working directory) it runs in.
    pub chdir: Option<String>,
    /// The wrapped command as one shell line (`watch`), run as argv instead.
    pub line: Option<String>,
}

/// Everything a profile found in one command line.
#[derive(Clone, Debug, Default)]
pub(crate) struct Analysis {
    pub files: Vec<FileUse>,
    pub recursive: bool,
    /// Targets a recursive walk starts from (checked against protected paths).
    pub walks: Vec<FileUse>,
    pub refusals: Vec<Refusal>,
    /// Every option given, spelled every way it can be (`-r`, `--recursive`,
    /// `--file=V`), for `denyArgs`, `recursiveFlags` and `writeFlags`.
    pub forms: Vec<String>,
    /// Arguments the server adds right after the program name.
    pub prepend: Vec<&'static str>,
    /// The arguments the server runs instead of the caller's, meaning the same.
    pub replace_args: Option<Vec<String>>,
    /// Arguments the server adds after the argument at this index (a subcommand).
    pub insert_after: Option<(usize, &'static [&'static str])>,
    /// Environment the server adds.
    pub env: &'static [(&'static str, &'static str)],
    pub wrapped: Option<Wrapped>,
    /// Index of the subcommand argument, for programs that have them.
    pub subcommand: Option<usize>,
    /// Indexes of the operands after the subcommand (targets).
    pub sub_operands: Vec<usize>,
}

/// What a profile is given.
pub(crate) struct Ctx<'a> {
    pub program: &'a str,
    pub args: &'a [String],
    pub extras: &'a Extras,
    /// Standard input comes from a previous pipeline stage.
    pub piped: bool,
    /// Whether to collect `Analysis::forms` (only the rule's flag lists need them).
    pub forms: bool,
    pub out: Analysis,
}

impl<'a> Ctx<'a> {
    pub(crate) fn refuse(
        &mut self,
        risk: Risk,
        names: &[&str],
        what: impl Into<String>,
        why: impl Into<String>,
    ) {
        self.out.refusals.push(Refusal {
            risk,
            subcommand: None,
            names: names.iter().map(|s| s.to_string()).collect(),
            what: what.into(),
            why: why.into(),
        });
    }

    /// A subcommand that changes state: refused unless the rule lists it.
    pub(crate) fn refuse_subcommand(&mut self, sub: &str, why: &str) {
        let what = format!("`{} {sub}`", self.program);
        self.out.refusals.push(Refusal {
            risk: Risk::State,
            subcommand: Some(sub.to_owned()),
            names: Vec::new(),
            what,
            why: format!("{why}; name it in the rule's subcommands"),
        });
    }

    pub(crate) fn file(&mut self, value: &str, access: Access) {
        self.file_in(value, access, None);
    }

    pub(crate) fn file_in(&mut self, value: &str, access: Access, base: Option<&str>) {
        if value == "-" || value.is_empty() {
            return;
        }
        self.out.files.push(FileUse {
            value: value.to_owned(),
            access,
            base: base.map(str::to_owned),
            deny_globs_only: false,
        });
    }

    pub(crate) fn walk(&mut self, value: &str, base: Option<&str>) {
        self.out.walks.push(FileUse {
            value: value.to_owned(),
            access: Access::Read,
            base: base.map(str::to_owned),
            deny_globs_only: false,
        });
    }

    /// Parses with getopt rules; a parse error becomes a refusal.
    pub(crate) fn getopt(&mut self, options: &'a [Opt], style: Style) -> Option<Vec<Event<'a>>> {
        self.getopt_args(options, style, self.args)
    }

    pub(crate) fn getopt_args(
        &mut self,
        options: &'a [Opt],
        style: Style,
        args: &'a [String],
    ) -> Option<Vec<Event<'a>>> {
        match getopt::parse(options, self.extras, style, args) {
            Ok(events) => Some(events),
            Err(e) => {
                let program = self.program;
                match e {
                    ParseError::Unknown(o) => self.refuse(
                        Risk::Unknown,
                        &[&o],
                        format!("`{program} {o}`"),
                        format!("is not an option the profile of `{program}` knows"),
                    ),
                    ParseError::Ambiguous(o, all) => self.refuse(
                        Risk::Never,
                        &[],
                        format!("`{program} {o}`"),
                        format!("is ambiguous (it could be {})", all.join(", ")),
                    ),
                    ParseError::MissingValue(o) => self.refuse(
                        Risk::Never,
                        &[],
                        format!("`{program} {o}`"),
                        "needs a value",
                    ),
                    ParseError::UnexpectedValue(o) => self.refuse(
                        Risk::Never,
                        &[],
                        format!("`{program} {o}`"),
                        "takes no value",
                    ),
                }
                None
            }
        }
    }

    /// Applies what every option kind means: file values, recursion,
    /// refusals, and the spellings for the policy's flag lists.
    pub(crate) fn apply(&mut self, events: &[Event<'a>]) {
        for event in events {
            let Event::Opt { opt, value, .. } = event else {
                continue;
            };
            let value = *value;
            match opt {
                OptRef::Extra(spelling, _) => {
                    if self.forms {
                        self.out.forms.push(spelling.to_string());
                        if let Some(v) = value {
                            self.out.forms.push(format!("{spelling}={v}"));
                        }
                    }
                }
                OptRef::Profile(o) => {
                    if self.forms {
                        push_forms(&mut self.out.forms, o, value);
                    }
                    self.apply_kind(o, o.kind, value);
                }
            }
        }
    }

    pub(crate) fn apply_kind(&mut self, o: &Opt, kind: Kind, value: Option<&str>) {
        match kind {
            Kind::Plain => {}
            Kind::Read => {
                if let Some(v) = value {
                    self.file(v, Access::Read);
                }
            }
            Kind::Write => {
                if let Some(v) = value {
                    self.file(v, Access::Write);
                }
            }
            Kind::Recursive => self.out.recursive = true,
            Kind::Refuse(risk, why) => {
                let names = names_of(o);
                let what = format!("`{} {}`", self.program, primary(o));
                self.out.refusals.push(Refusal {
                    risk,
                    subcommand: None,
                    names,
                    what,
                    why: why.into(),
                });
            }
            Kind::RefuseValueWord(words, risk, why) => {
                if let Some(v) = value
                    && v.split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                        .any(|w| words.contains(&w))
                {
                    let names = names_of(o);
                    let what = format!("`{} {} {v}`", self.program, primary(o));
                    self.out.refusals.push(Refusal {
                        risk,
                        subcommand: None,
                        names,
                        what,
                        why: why.into(),
                    });
                }
            }
            Kind::Choice(choices) => {
                let Some(v) = value else {
                    return;
                };
                match choose(choices, v) {
                    Some(c) => {
                        self.out
                            .forms
                            .extend(c.same_as.iter().map(|s| s.to_string()));
                        self.apply_kind(o, c.kind, value);
                    }
                    None => {
                        let what = format!("`{} {} {v}`", self.program, primary(o));
                        let allowed: Vec<&str> = choices.iter().map(|c| c.value).collect();
                        self.refuse(
                            Risk::Unknown,
                            &[],
                            what,
                            format!("is not a value the profile knows ({})", allowed.join(", ")),
                        );
                    }
                }
            }
        }
    }
}

/// The choice a value selects: exactly, or by an unambiguous prefix.
fn choose(choices: &'static [Choice], v: &str) -> Option<&'static Choice> {
    if let Some(c) = choices.iter().find(|c| c.value == v) {
        return Some(c);
    }
    let mut found = choices
        .iter()
        .filter(|c| !v.is_empty() && c.value.starts_with(v));
    match (found.next(), found.next()) {
        (Some(c), None) => Some(c),
        _ => None,
    }
}

fn primary(o: &Opt) -> String {
    match o.long.first() {
        Some(l) => format!("--{l}"),
        None => format!("-{}", o.short),
    }
}

fn names_of(o: &Opt) -> Vec<String> {
    let mut names: Vec<String> = Vec::with_capacity(o.long.len() + 1);
    if o.short != '\0' {
        names.push(format!("-{}", o.short));
    }
    names.extend(o.long.iter().map(|l| format!("--{l}")));
    names
}

pub(crate) fn push_forms(forms: &mut Vec<String>, o: &Opt, value: Option<&str>) {
    if o.short != '\0' {
        forms.push(format!("-{}", o.short));
        if let Some(v) = value {
            forms.push(format!("-{}{v}", o.short));
        }
    }
    for l in o.long {
        forms.push(format!("--{l}"));
        if let Some(v) = value {
            forms.push(format!("--{l}={v}"));
        }
    }
}

/// Operand positions in parse order.
pub(crate) fn operands(events: &[Event<'_>]) -> Vec<usize> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Operand { at } => Some(*at),
            _ => None,
        })
        .collect()
}

/// The values of options carrying `mark`, in order.
pub(crate) fn marked<'a>(events: &[Event<'a>], mark: &str) -> Vec<Option<&'a str>> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Opt {
                opt: OptRef::Profile(o),
                value,
                ..
            } if o.mark == mark => Some(*value),
            _ => None,
        })
        .collect()
}

pub(crate) fn has_mark(events: &[Event<'_>], mark: &str) -> bool {
    events
        .iter()
        .any(|e| matches!(e, Event::Opt { opt: OptRef::Profile(o), .. } if o.mark == mark))
}

/// A program family: the names it answers to and how its command line is read.
pub(crate) struct Profile {
    pub names: &'static [&'static str],
    pub analyze: fn(&mut Ctx<'_>),
}

const PROFILES: &[&[Profile]] = &[
    coreutils::PROFILES,
    text::PROFILES,
    walkers::PROFILES,
    git::PROFILES,
    services::PROFILES,
    wrappers::PROFILES,
];

/// The profile of a program, by name.
pub(crate) fn profile(program: &str) -> Option<&'static Profile> {
    PROFILES
        .iter()
        .flat_map(|family| family.iter())
        .find(|p| p.names.contains(&program))
}

/// Every profiled program name.
pub fn profiled_programs() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = PROFILES
        .iter()
        .flat_map(|family| family.iter())
        .flat_map(|p| p.names.iter().copied())
        .collect();
    names.sort_unstable();
    names
}

/// Whether a policy may name `option` in `allowOptions` for `program`, and
/// if not, why.
pub(crate) fn widenable(program: &str, option: &str) -> Result<(), String> {
    let Some(p) = profile(program) else {
        return Err(format!(
            "`{program}` has no profile; allowOptions only widens profiled programs"
        ));
    };
    let bare = option.trim_end_matches('=');
    // Look the option up by running it alone, and with a value.
    let with_value = if bare.starts_with("--") {
        format!("{bare}=x")
    } else {
        format!("{bare}x")
    };
    for probe in [
        vec![bare.to_owned()],
        vec![with_value],
        vec![bare.to_owned(), "x".into()],
    ] {
        let out = analyze(p, program, &probe, &[], false, false);
        match out
            .refusals
            .iter()
            .find(|r| r.names.iter().any(|n| n == bare))
        {
            Some(r) if r.risk == Risk::Code => {
                return Err(format!(
                    "`{program} {bare}` runs code or other programs; list the exact command line in allowInline instead"
                ));
            }
            Some(r) if r.risk == Risk::Never => {
                return Err(format!(
                    "`{program} {bare}` can never be allowed: it {}",
                    r.why
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Whether `refusal` is lifted by the rule's `allowOptions`.
pub(crate) fn lifted(refusal: &Refusal, allow_options: &[String]) -> bool {
    refusal.risk.liftable_by_allow_options()
        && refusal
            .names
            .iter()
            .any(|n| allow_options.iter().any(|a| a.trim_end_matches('=') == n))
}

/// Runs a program's profile over its arguments.
pub(crate) fn analyze(
    profile: &Profile,
    program: &str,
    args: &[String],
    extras: &Extras,
    piped: bool,
    forms: bool,
) -> Analysis {
    let mut ctx = Ctx {
        program,
        args,
        extras,
        piped,
        forms,
        out: Analysis::default(),
    };
    (profile.analyze)(&mut ctx);
    ctx.out
}

/// Judges file operands with one access, skipping `-` (standard input or output).
pub(crate) fn operand_files(ctx: &mut Ctx<'_>, positions: &[usize], access: Access) {
    for &p in positions {
        let v = &ctx.args[p];
        ctx.file(v, access);
    }
}

pub(crate) use getopt::{IN_ORDER, PERMUTE};
pub use git::{GIT_SAFE_CONFIG, GIT_SAFE_ENV};

/// Programs that run another program; their command is judged in its own right.
pub const WRAPPERS: &[&str] = &[
    "env", "timeout", "nice", "ionice", "nohup", "stdbuf", "setsid", "xargs", "watch", "time",
    "strace", "chroot", "flock", "taskset",
];

/// Whether the profile of `program` knows `option` (so `allowOptions`
/// lifts its refusal rather than adding an option).
pub(crate) fn knows(program: &str, option: &str) -> bool {
    let Some(p) = profile(program) else {
        return false;
    };
    let bare = option.trim_end_matches('=');
    let args = [bare.to_owned()];
    let out = analyze(p, program, &args, &[], false, false);
    !out.refusals
        .iter()
        .any(|r| r.risk == Risk::Unknown && r.names.iter().any(|n| n == bare))
}
