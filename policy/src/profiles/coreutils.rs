//! File and system inspection programs (GNU coreutils, procps, hostname) and
//! the coreutils that write files.

use super::{
    Arg, Ctx, GNU_COMMON, IN_ORDER, Kind, Opt, PERMUTE, Profile, Risk, flag, getopt::Style,
    has_mark, marked, operand_files, operands, optional, reads, recursive, refused, value, writes,
};
use crate::paths::Access;

const NUMERIC: Style = Style {
    permute: true,
    numeric: true,
};

const LS: &[Opt] = &[
    flag('a', &["all"]),
    flag('A', &["almost-all"]),
    flag('\0', &["author"]),
    flag('b', &["escape"]),
    value('\0', &["block-size"]),
    flag('B', &["ignore-backups"]),
    flag('c', &[]),
    flag('C', &[]),
    optional('\0', &["color", "colour"]),
    flag('d', &["directory"]),
    flag('D', &["dired"]),
    flag('f', &[]),
    optional('F', &["classify"]),
    flag('\0', &["file-type"]),
    value('\0', &["format"]),
    flag('\0', &["full-time"]),
    flag('g', &[]),
    flag('\0', &["group-directories-first"]),
    flag('G', &["no-group"]),
    flag('h', &["human-readable"]),
    flag('\0', &["si"]),
    flag('H', &["dereference-command-line"]),
    flag('\0', &["dereference-command-line-symlink-to-dir"]),
    value('\0', &["hide"]),
    optional('\0', &["hyperlink"]),
    value('\0', &["indicator-style"]),
    flag('i', &["inode"]),
    value('I', &["ignore"]),
    flag('k', &["kibibytes"]),
    flag('l', &[]),
    flag('L', &["dereference"]),
    flag('m', &[]),
    flag('n', &["numeric-uid-gid"]),
    flag('N', &["literal"]),
    flag('o', &[]),
    flag('p', &[]),
    flag('q', &["hide-control-chars"]),
    flag('\0', &["show-control-chars"]),
    flag('Q', &["quote-name"]),
    value('\0', &["quoting-style"]),
    flag('r', &["reverse"]),
    recursive('R', &["recursive"]),
    flag('s', &["size"]),
    flag('S', &[]),
    value('\0', &["sort"]),
    value('\0', &["time"]),
    value('\0', &["time-style"]),
    flag('t', &[]),
    value('T', &["tabsize"]),
    flag('u', &[]),
    flag('U', &[]),
    flag('v', &[]),
    value('w', &["width"]),
    flag('x', &[]),
    flag('X', &[]),
    flag('Z', &["context"]),
    flag('\0', &["zero"]),
    flag('1', &[]),
    GNU_COMMON[0],
    GNU_COMMON[1],
];

const CAT: &[Opt] = &[
    flag('A', &["show-all"]),
    flag('b', &["number-nonblank"]),
    flag('e', &[]),
    flag('E', &["show-ends"]),
    flag('n', &["number"]),
    flag('s', &["squeeze-blank"]),
    flag('t', &[]),
    flag('T', &["show-tabs"]),
    flag('u', &[]),
    flag('v', &["show-nonprinting"]),
    GNU_COMMON[0],
    GNU_COMMON[1],
];

const HEAD: &[Opt] = &[
    value('c', &["bytes"]),
    value('n', &["lines"]),
    flag('q', &["quiet", "silent"]),
    flag('v', &["verbose"]),
    flag('z', &["zero-terminated"]),
    GNU_COMMON[0],
    GNU_COMMON[1],
];

const FOLLOWS: &str = "follows the file forever and would hold a worker until the time limit";

const TAIL: &[Opt] = &[
    value('c', &["bytes"]),
    refused('f', &["follow"], Arg::Optional, Risk::Blocks, FOLLOWS),
    refused('F', &[], Arg::None, Risk::Blocks, FOLLOWS),
    value('n', &["lines"]),
    value('\0', &["max-unchanged-stats"]),
    value('\0', &["pid"]),
    flag('q', &["quiet", "silent"]),
    refused('\0', &["retry"], Arg::None, Risk::Blocks, FOLLOWS),
    value('s', &["sleep-interval"]),
    flag('v', &["verbose"]),
    flag('z', &["zero-terminated"]),
    GNU_COMMON[0],
    GNU_COMMON[1],
];

const FILES0: &str =
    "reads the names of the files to open from a file, which the policy cannot judge";

const WC: &[Opt] = &[
    flag('c', &["bytes"]),
    flag('m', &["chars"]),
    flag('l', &["lines"]),
    Opt::new(
        '\0',
        &["files0-from"],
        Arg::Required,
        Kind::Refuse(Risk::Unjudged, FILES0),
    )
    .mark("files0"),
    flag('L', &["max-line-length"]),
    flag('w', &["words"]),
    value('\0', &["total"]),
    GNU_COMMON[0],
    GNU_COMMON[1],
];

const DF: &[Opt] = &[
    flag('a', &["all"]),
    value('B', &["block-size"]),
    flag('h', &["human-readable"]),
    flag('H', &["si"]),
    flag('i', &["inodes"]),
    flag('k', &[]),
    flag('l', &["local"]),
    flag('\0', &["no-sync"]),
    optional('\0', &["output"]),
    flag('P', &["portability"]),
    flag('\0', &["sync"]),
    flag('\0', &["total"]),
    value('t', &["type"]),
    flag('T', &["print-type"]),
    value('x', &["exclude-type"]),
    flag('v', &[]),
    GNU_COMMON[0],
    GNU_COMMON[1],
];

const DU: &[Opt] = &[
    flag('0', &["null"]),
    flag('a', &["all"]),
    flag('\0', &["apparent-size"]),
    value('B', &["block-size"]),
    flag('b', &["bytes"]),
    flag('c', &["total"]),
    flag('D', &["dereference-args"]),
    value('d', &["max-depth"]),
    Opt::new(
        '\0',
        &["files0-from"],
        Arg::Required,
        Kind::Refuse(Risk::Unjudged, FILES0),
    )
    .mark("files0"),
    flag('H', &[]),
    flag('h', &["human-readable"]),
    flag('\0', &["inodes"]),
    flag('k', &[]),
    flag('L', &["dereference"]),
    flag('l', &["count-links"]),
    flag('m', &[]),
    flag('P', &["no-dereference"]),
    flag('S', &["separate-dirs"]),
    flag('\0', &["si"]),
    flag('s', &["summarize"]),
    value('t', &["threshold"]),
    optional('\0', &["time"]),
    value('\0', &["time-style"]),
    reads('X', &["exclude-from"]),
    value('\0', &["exclude"]),
    flag('x', &["one-file-system"]),
    GNU_COMMON[0],
    GNU_COMMON[1],
];

const SETS_CLOCK: &str = "sets the system clock";

const DATE: &[Opt] = &[
    value('d', &["date"]),
    flag('\0', &["debug"]),
    reads('f', &["file"]),
    optional('I', &["iso-8601"]),
    flag('\0', &["resolution"]),
    flag('R', &["rfc-email"]),
    value('\0', &["rfc-3339"]),
    reads('r', &["reference"]),
    refused('s', &["set"], Arg::Required, Risk::State, SETS_CLOCK),
    flag('u', &["utc", "universal"]),
    GNU_COMMON[0],
    GNU_COMMON[1],
];

const UNAME: &[Opt] = &[
    flag('a', &["all"]),
    flag('s', &["kernel-name"]),
    flag('n', &["nodename"]),
    flag('r', &["kernel-release"]),
    flag('v', &["kernel-version"]),
    flag('m', &["machine"]),
    flag('p', &["processor"]),
    flag('i', &["hardware-platform"]),
    flag('o', &["operating-system"]),
    GNU_COMMON[0],
    GNU_COMMON[1],
];

const UPTIME: &[Opt] = &[
    flag('p', &["pretty"]),
    flag('s', &["since"]),
    flag('h', &["help"]),
    flag('V', &["version"]),
];

const SETS_HOSTNAME: &str = "sets the host name";

const HOSTNAME: &[Opt] = &[
    flag('a', &["alias"]),
    flag('A', &["all-fqdns"]),
    refused('b', &["boot"], Arg::None, Risk::State, SETS_HOSTNAME),
    flag('d', &["domain"]),
    flag('f', &["fqdn", "long"]),
    refused('F', &["file"], Arg::Required, Risk::State, SETS_HOSTNAME),
    flag('i', &["ip-address"]),
    flag('I', &["all-ip-addresses"]),
    flag('s', &["short"]),
    flag('y', &["yp", "nis"]),
    flag('v', &["verbose"]),
    flag('V', &["version"]),
    flag('h', &["help"]),
];

const WHOAMI: &[Opt] = &[GNU_COMMON[0], GNU_COMMON[1]];

const REPEATS: &str = "repeats forever and would hold a worker until the time limit";

const FREE: &[Opt] = &[
    flag('b', &["bytes"]),
    flag('k', &["kibi"]),
    flag('m', &["mebi"]),
    flag('g', &["gibi"]),
    flag('\0', &["tebi"]),
    flag('\0', &["pebi"]),
    flag('\0', &["kilo"]),
    flag('\0', &["mega"]),
    flag('\0', &["giga"]),
    flag('\0', &["tera"]),
    flag('\0', &["peta"]),
    flag('h', &["human"]),
    flag('\0', &["si"]),
    flag('l', &["lohi"]),
    flag('L', &["line"]),
    flag('t', &["total"]),
    flag('v', &["committed"]),
    Opt::new('s', &["seconds"], Arg::Required, Kind::Plain).mark("repeat"),
    value('c', &["count"]).mark("count"),
    flag('w', &["wide"]),
    flag('\0', &["help"]),
    flag('V', &["version"]),
];

const ENV_WORDS: &[&str] = &["env", "environ", "environment"];
const PRINTS_ENV: &str = "prints other processes' environment, which holds secrets";

/// procps `ps`: Unix (`-o`), GNU (`--format`) and BSD (`aux`) options.
const PS: &[Opt] = &[
    flag('A', &[]),
    flag('a', &[]),
    flag('d', &[]),
    flag('e', &[]),
    flag('N', &["deselect"]),
    value('C', &[]),
    value('G', &["Group"]),
    value('g', &["group"]),
    value('p', &["pid"]),
    value('\0', &["ppid"]),
    value('q', &["quick-pid"]),
    value('s', &["sid"]),
    value('t', &["tty"]),
    value('u', &["user"]),
    value('U', &["User"]),
    flag('f', &[]),
    flag('F', &[]),
    flag('j', &[]),
    flag('l', &[]),
    flag('L', &[]),
    flag('m', &[]),
    flag('M', &[]),
    flag('Z', &["context"]),
    Opt::new(
        'o',
        &["format"],
        Arg::Required,
        Kind::RefuseValueWord(ENV_WORDS, Risk::Never, PRINTS_ENV),
    ),
    Opt::new(
        'O',
        &[],
        Arg::Required,
        Kind::RefuseValueWord(ENV_WORDS, Risk::Never, PRINTS_ENV),
    ),
    flag('c', &[]),
    flag('y', &[]),
    flag('H', &["forest"]),
    flag('w', &[]),
    flag('T', &[]),
    value('\0', &["sort"]),
    value('\0', &["cols", "columns", "width"]),
    value('\0', &["rows", "lines"]),
    flag('\0', &["headers"]),
    flag('\0', &["no-headers"]),
    flag('\0', &["cumulative"]),
    flag('V', &["version"]),
    optional('\0', &["help"]),
    flag('\0', &["info"]),
];

/// BSD-style `ps` letters (an argument without a dash); `e` is refused.
const PS_BSD_FLAGS: &str = "axufjlsvXwrTchHmnSLMZgNVq";
const PS_BSD_VALUES: &str = "oOptUk";

fn ps(ctx: &mut Ctx<'_>) {
    // Each argument is either Unix/GNU (with a dash) or a BSD cluster.
    let mut i = 0;
    while i < ctx.args.len() {
        let arg = ctx.args[i].as_str();
        i += 1;
        if arg.starts_with('-') {
            continue;
        }
        for (pos, c) in arg.char_indices() {
            if c == 'e' {
                ctx.refuse(
                    Risk::Never,
                    &[],
                    format!("`ps {arg}`"),
                    format!("`e` {PRINTS_ENV}"),
                );
                break;
            }
            if PS_BSD_VALUES.contains(c) {
                let rest = &arg[pos + 1..];
                let v = if rest.is_empty() {
                    let v = ctx.args.get(i).map(String::as_str).unwrap_or("");
                    i += 1;
                    v
                } else {
                    rest
                };
                if matches!(c, 'o' | 'O')
                    && v.split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                        .any(|w| ENV_WORDS.contains(&w))
                {
                    ctx.refuse(Risk::Never, &[], format!("`ps {c} {v}`"), PRINTS_ENV);
                }
                break;
            }
            if !PS_BSD_FLAGS.contains(c) {
                ctx.refuse(
                    Risk::Unknown,
                    &[],
                    format!("`ps {arg}`"),
                    format!("`{c}` is not an option the profile of `ps` knows"),
                );
                break;
            }
        }
    }
    let unix: Vec<String> = unix_ps_args(ctx.args);
    let events = match super::getopt::parse(PS, ctx.extras, PERMUTE, &unix) {
        Ok(e) => e,
        Err(_) => {
            ctx.refuse(
                Risk::Unknown,
                &[],
                format!("`ps {}`", unix.join(" ")),
                "has options the profile of `ps` does not know",
            );
            return;
        }
    };
    for e in &events {
        if let super::getopt::Event::Opt {
            opt: super::getopt::OptRef::Profile(o),
            value,
            ..
        } = e
        {
            if ctx.forms {
                super::push_forms(&mut ctx.out.forms, o, *value);
            }
            if let Kind::RefuseValueWord(..) = o.kind {
                ctx.apply_kind(o, o.kind, *value);
            }
        }
    }
}

/// Whether `args[k]` is the separate value of a BSD value letter before it.
fn bsd_value_position(args: &[String], k: usize) -> bool {
    k > 0
        && !args[k - 1].starts_with('-')
        && args[k - 1]
            .chars()
            .last()
            .is_some_and(|c| PS_BSD_VALUES.contains(c))
}

/// The Unix/GNU part of a `ps` line: dashed arguments and their values.
fn unix_ps_args(args: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut take_next = false;
    for (k, a) in args.iter().enumerate() {
        if take_next {
            out.push(a.clone());
            take_next = false;
            continue;
        }
        if a.starts_with('-') {
            out.push(a.clone());
            // A separate value of a value-taking Unix option.
            take_next = needs_separate_value(a);
        } else if bsd_value_position(args, k) {
            continue;
        }
    }
    out
}

fn needs_separate_value(a: &str) -> bool {
    if let Some(long) = a.strip_prefix("--") {
        return !long.contains('=')
            && PS.iter().any(|o| {
                o.arg == Arg::Required
                    && o.long
                        .iter()
                        .any(|l| l.starts_with(long) && !long.is_empty())
            });
    }
    let cluster = &a[1..];
    for (pos, c) in cluster.char_indices() {
        if let Some(o) = PS.iter().find(|o| o.short == c)
            && o.arg == Arg::Required
        {
            return pos + c.len_utf8() == cluster.len();
        }
    }
    false
}

fn ls(ctx: &mut Ctx<'_>) {
    let Some(events) = ctx.getopt(LS, PERMUTE) else {
        return;
    };
    ctx.apply(&events);
    let ops = operands(&events);
    if ctx.out.recursive && ops.is_empty() {
        ctx.walk(".", None);
    }
    for &p in &ops {
        let v = ctx.args[p].clone();
        ctx.file(&v, Access::Read);
        if ctx.out.recursive {
            ctx.walk(&v, None);
        }
    }
}

/// Programs whose operands are files they read.
fn reader(options: &'static [Opt], style: Style) -> impl Fn(&mut Ctx<'_>) {
    move |ctx: &mut Ctx<'_>| {
        let Some(events) = ctx.getopt(options, style) else {
            return;
        };
        ctx.apply(&events);
        let ops = operands(&events);
        operand_files(ctx, &ops, Access::Read);
    }
}

fn cat(ctx: &mut Ctx<'_>) {
    reader(CAT, PERMUTE)(ctx)
}
fn head(ctx: &mut Ctx<'_>) {
    reader(HEAD, NUMERIC)(ctx)
}
fn tail(ctx: &mut Ctx<'_>) {
    reader(TAIL, NUMERIC)(ctx)
}
fn wc(ctx: &mut Ctx<'_>) {
    files0(ctx, WC)
}
fn df(ctx: &mut Ctx<'_>) {
    reader(DF, PERMUTE)(ctx)
}

/// `wc`/`du`: `--files0-from=F` also reads `F`.
fn files0(ctx: &mut Ctx<'_>, options: &'static [Opt]) {
    let Some(events) = ctx.getopt(options, PERMUTE) else {
        return;
    };
    ctx.apply(&events);
    for v in marked(&events, "files0").into_iter().flatten() {
        ctx.file(v, Access::Read);
    }
    let ops = operands(&events);
    operand_files(ctx, &ops, Access::Read);
}

fn du(ctx: &mut Ctx<'_>) {
    let Some(events) = ctx.getopt(DU, PERMUTE) else {
        return;
    };
    ctx.apply(&events);
    for v in marked(&events, "files0").into_iter().flatten() {
        ctx.file(v, Access::Read);
    }
    // du always walks the directories it is given (the working directory by default).
    ctx.out.recursive = true;
    let ops = operands(&events);
    if ops.is_empty() {
        ctx.walk(".", None);
    }
    for p in ops {
        let v = ctx.args[p].clone();
        ctx.file(&v, Access::Read);
        ctx.walk(&v, None);
    }
}

fn date(ctx: &mut Ctx<'_>) {
    let Some(events) = ctx.getopt(DATE, PERMUTE) else {
        return;
    };
    ctx.apply(&events);
    for p in operands(&events) {
        let v = &ctx.args[p];
        if !v.starts_with('+') {
            let what = format!("`date {v}`");
            ctx.refuse(Risk::State, &["--set"], what, SETS_CLOCK);
        }
    }
}

fn no_operands(options: &'static [Opt], why: &'static str) -> impl Fn(&mut Ctx<'_>) {
    move |ctx: &mut Ctx<'_>| {
        let Some(events) = ctx.getopt(options, PERMUTE) else {
            return;
        };
        ctx.apply(&events);
        for p in operands(&events) {
            let what = format!("`{} {}`", ctx.program, ctx.args[p]);
            ctx.refuse(Risk::Unknown, &[], what, why);
        }
    }
}

fn uname(ctx: &mut Ctx<'_>) {
    no_operands(UNAME, "takes no operands")(ctx)
}
fn uptime(ctx: &mut Ctx<'_>) {
    no_operands(UPTIME, "takes no operands")(ctx)
}
fn whoami(ctx: &mut Ctx<'_>) {
    no_operands(WHOAMI, "takes no operands")(ctx)
}

fn hostname(ctx: &mut Ctx<'_>) {
    let Some(events) = ctx.getopt(HOSTNAME, PERMUTE) else {
        return;
    };
    ctx.apply(&events);
    for p in operands(&events) {
        let what = format!("`hostname {}`", ctx.args[p]);
        ctx.refuse(Risk::State, &["--set"], what, SETS_HOSTNAME);
    }
}

fn free(ctx: &mut Ctx<'_>) {
    let Some(events) = ctx.getopt(FREE, PERMUTE) else {
        return;
    };
    ctx.apply(&events);
    if has_mark(&events, "repeat") && !has_mark(&events, "count") {
        ctx.refuse(
            Risk::Blocks,
            &["--seconds", "-s"],
            "`free --seconds`",
            REPEATS,
        );
    }
    for p in operands(&events) {
        let what = format!("`free {}`", ctx.args[p]);
        ctx.refuse(Risk::Unknown, &[], what, "takes no operands");
    }
}

// Programs that write.

const TARGET: &str = "target";
const SUFFIX: &str = "suffix";

const CP: &[Opt] = &[
    flag('a', &["archive"]),
    flag('\0', &["attributes-only"]),
    optional('\0', &["backup"]),
    flag('b', &[]),
    flag('\0', &["copy-contents"]),
    flag('d', &[]),
    flag('\0', &["debug"]),
    flag('f', &["force"]),
    flag('i', &["interactive"]),
    flag('H', &[]),
    flag('l', &["link"]),
    flag('L', &["dereference"]),
    flag('n', &["no-clobber"]),
    flag('P', &["no-dereference"]),
    flag('p', &[]),
    optional('\0', &["preserve"]),
    value('\0', &["no-preserve"]),
    flag('\0', &["parents"]),
    recursive('R', &["recursive"]),
    recursive('r', &[]),
    optional('\0', &["reflink"]),
    flag('\0', &["remove-destination"]),
    value('\0', &["sparse"]),
    flag('\0', &["strip-trailing-slashes"]),
    flag('s', &["symbolic-link"]),
    value('S', &["suffix"]).mark(SUFFIX),
    writes('t', &["target-directory"]).mark(TARGET),
    flag('T', &["no-target-directory"]),
    optional('\0', &["update"]),
    flag('u', &[]),
    flag('v', &["verbose"]),
    flag('\0', &["keep-directory-symlink"]),
    flag('x', &["one-file-system"]),
    flag('Z', &[]),
    optional('\0', &["context"]),
    GNU_COMMON[0],
    GNU_COMMON[1],
];

const MV: &[Opt] = &[
    optional('\0', &["backup"]),
    flag('b', &[]),
    flag('\0', &["debug"]),
    flag('\0', &["exchange"]),
    flag('f', &["force"]),
    flag('i', &["interactive"]),
    flag('n', &["no-clobber"]),
    flag('\0', &["no-copy"]),
    flag('\0', &["strip-trailing-slashes"]),
    value('S', &["suffix"]).mark(SUFFIX),
    writes('t', &["target-directory"]).mark(TARGET),
    flag('T', &["no-target-directory"]),
    optional('\0', &["update"]),
    flag('u', &[]),
    flag('v', &["verbose"]),
    flag('Z', &["context"]),
    GNU_COMMON[0],
    GNU_COMMON[1],
];

const RM: &[Opt] = &[
    flag('f', &["force"]),
    flag('i', &[]),
    flag('I', &[]),
    optional('\0', &["interactive"]),
    flag('\0', &["one-file-system"]),
    refused(
        '\0',
        &["no-preserve-root"],
        Arg::None,
        Risk::Never,
        "would let a recursive removal of `/` proceed",
    ),
    optional('\0', &["preserve-root"]),
    recursive('r', &["recursive"]),
    recursive('R', &[]),
    flag('d', &["dir"]),
    flag('v', &["verbose"]),
    GNU_COMMON[0],
    GNU_COMMON[1],
];

const TOUCH: &[Opt] = &[
    flag('a', &[]),
    flag('c', &["no-create"]),
    value('d', &["date"]),
    flag('f', &[]),
    flag('h', &["no-dereference"]),
    flag('m', &[]),
    reads('r', &["reference"]),
    value('t', &[]),
    value('\0', &["time"]),
    GNU_COMMON[0],
    GNU_COMMON[1],
];

const MKDIR: &[Opt] = &[
    value('m', &["mode"]),
    flag('p', &["parents"]),
    flag('v', &["verbose"]),
    flag('Z', &[]),
    optional('\0', &["context"]),
    GNU_COMMON[0],
    GNU_COMMON[1],
];

const TEE: &[Opt] = &[
    flag('a', &["append"]),
    flag('i', &["ignore-interrupts"]),
    flag('p', &[]),
    optional('\0', &["output-error"]),
    GNU_COMMON[0],
    GNU_COMMON[1],
];

/// `cp`/`mv`: the last operand is written, unless `-t DIR` names the
/// destination; `mv` also removes its sources.
fn copy(ctx: &mut Ctx<'_>, options: &'static [Opt], moves: bool) {
    let Some(events) = ctx.getopt(options, PERMUTE) else {
        return;
    };
    ctx.apply(&events);
    for suffix in marked(&events, SUFFIX).into_iter().flatten() {
        if suffix.contains('/') {
            let what = format!("`{} --suffix={suffix}`", ctx.program);
            ctx.refuse(
                Risk::Never,
                &[],
                what,
                "would write its backup elsewhere than beside the file",
            );
        }
    }
    let ops = operands(&events);
    let source = if moves { Access::Write } else { Access::Read };
    let (sources, dest) = if has_mark(&events, TARGET) {
        (&ops[..], None)
    } else {
        match ops.split_last() {
            Some((last, rest)) => (rest, Some(*last)),
            None => (&ops[..], None),
        }
    };
    for &p in sources {
        let v = ctx.args[p].clone();
        ctx.file(&v, source);
        if ctx.out.recursive {
            ctx.walk(&v, None);
        }
    }
    if let Some(p) = dest {
        let v = ctx.args[p].clone();
        ctx.file(&v, Access::Write);
    }
}

fn cp(ctx: &mut Ctx<'_>) {
    copy(ctx, CP, false)
}
fn mv(ctx: &mut Ctx<'_>) {
    copy(ctx, MV, true)
}

fn writer(options: &'static [Opt]) -> impl Fn(&mut Ctx<'_>) {
    move |ctx: &mut Ctx<'_>| {
        let Some(events) = ctx.getopt(options, PERMUTE) else {
            return;
        };
        ctx.apply(&events);
        for p in operands(&events) {
            let v = ctx.args[p].clone();
            ctx.file(&v, Access::Write);
            if ctx.out.recursive {
                ctx.walk(&v, None);
            }
        }
    }
}

fn rm(ctx: &mut Ctx<'_>) {
    writer(RM)(ctx)
}
fn touch(ctx: &mut Ctx<'_>) {
    writer(TOUCH)(ctx)
}
fn mkdir(ctx: &mut Ctx<'_>) {
    writer(MKDIR)(ctx)
}
fn tee(ctx: &mut Ctx<'_>) {
    writer(TEE)(ctx)
}

const DD_OPERANDS: &[&str] = &[
    "bs", "cbs", "conv", "count", "ibs", "iflag", "iseek", "obs", "oflag", "oseek", "seek", "skip",
    "status",
];

/// `dd`: no options, only `key=value` operands; `if=` is read, `of=` written.
fn dd(ctx: &mut Ctx<'_>) {
    for arg in ctx.args {
        if arg == "--help" || arg == "--version" {
            continue;
        }
        match arg.split_once('=') {
            Some(("if", v)) => ctx.file(v, Access::Read),
            Some(("of", v)) => ctx.file(v, Access::Write),
            Some((k, _)) if DD_OPERANDS.contains(&k) => {}
            _ => {
                let what = format!("`dd {arg}`");
                ctx.refuse(
                    Risk::Unknown,
                    &[],
                    what,
                    "is not an operand the profile of `dd` knows",
                );
            }
        }
    }
}

const SORT: &[Opt] = &[
    flag('b', &["ignore-leading-blanks"]),
    flag('d', &["dictionary-order"]),
    flag('f', &["ignore-case"]),
    flag('g', &["general-numeric-sort"]),
    flag('i', &["ignore-nonprinting"]),
    flag('M', &["month-sort"]),
    flag('h', &["human-numeric-sort"]),
    flag('n', &["numeric-sort"]),
    flag('R', &["random-sort"]),
    reads('\0', &["random-source"]),
    flag('r', &["reverse"]),
    value('\0', &["sort"]),
    flag('V', &["version-sort"]),
    value('\0', &["batch-size"]),
    optional('c', &["check"]),
    flag('C', &[]),
    refused(
        '\0',
        &["compress-program"],
        Arg::Required,
        Risk::Code,
        "runs a program",
    ),
    flag('\0', &["debug"]),
    Opt::new(
        '\0',
        &["files0-from"],
        Arg::Required,
        Kind::Refuse(Risk::Unjudged, FILES0),
    )
    .mark("files0"),
    value('k', &["key"]),
    flag('m', &["merge"]),
    writes('o', &["output"]),
    flag('s', &["stable"]),
    value('S', &["buffer-size"]),
    value('t', &["field-separator"]),
    writes('T', &["temporary-directory"]),
    value('\0', &["parallel"]),
    flag('u', &["unique"]),
    flag('z', &["zero-terminated"]),
    flag('\0', &["help"]),
    flag('\0', &["version"]),
];

fn sort(ctx: &mut Ctx<'_>) {
    files0(ctx, SORT)
}

const UNIQ: &[Opt] = &[
    flag('c', &["count"]),
    flag('d', &["repeated"]),
    flag('D', &[]),
    optional('\0', &["all-repeated"]),
    value('f', &["skip-fields"]),
    optional('\0', &["group"]),
    flag('i', &["ignore-case"]),
    value('s', &["skip-chars"]),
    flag('u', &["unique"]),
    flag('z', &["zero-terminated"]),
    value('w', &["check-chars"]),
    GNU_COMMON[0],
    GNU_COMMON[1],
];

/// `uniq [INPUT [OUTPUT]]`: the second operand is written.
fn uniq(ctx: &mut Ctx<'_>) {
    let Some(events) = ctx.getopt(UNIQ, NUMERIC) else {
        return;
    };
    ctx.apply(&events);
    for (k, p) in operands(&events).into_iter().enumerate() {
        let v = ctx.args[p].clone();
        let access = if k == 0 { Access::Read } else { Access::Write };
        ctx.file(&v, access);
    }
}

const CUT: &[Opt] = &[
    value('b', &["bytes"]),
    value('c', &["characters"]),
    value('d', &["delimiter"]),
    value('f', &["fields"]),
    flag('n', &[]),
    flag('\0', &["complement"]),
    flag('s', &["only-delimited"]),
    value('\0', &["output-delimiter"]),
    flag('z', &["zero-terminated"]),
    GNU_COMMON[0],
    GNU_COMMON[1],
];

fn cut(ctx: &mut Ctx<'_>) {
    reader(CUT, PERMUTE)(ctx)
}

const TR: &[Opt] = &[
    flag('c', &["complement"]),
    flag('C', &[]),
    flag('d', &["delete"]),
    flag('s', &["squeeze-repeats"]),
    flag('t', &["truncate-set1"]),
    GNU_COMMON[0],
    GNU_COMMON[1],
];

/// `tr` reads standard input only; its operands are character sets.
fn tr(ctx: &mut Ctx<'_>) {
    if let Some(events) = ctx.getopt(TR, IN_ORDER) {
        ctx.apply(&events);
    }
}

pub(crate) const PROFILES: &[Profile] = &[
    Profile {
        names: &["ls"],
        analyze: ls,
    },
    Profile {
        names: &["cat"],
        analyze: cat,
    },
    Profile {
        names: &["head"],
        analyze: head,
    },
    Profile {
        names: &["tail"],
        analyze: tail,
    },
    Profile {
        names: &["wc"],
        analyze: wc,
    },
    Profile {
        names: &["df"],
        analyze: df,
    },
    Profile {
        names: &["du"],
        analyze: du,
    },
    Profile {
        names: &["ps"],
        analyze: ps,
    },
    Profile {
        names: &["date"],
        analyze: date,
    },
    Profile {
        names: &["uname"],
        analyze: uname,
    },
    Profile {
        names: &["uptime"],
        analyze: uptime,
    },
    Profile {
        names: &["hostname"],
        analyze: hostname,
    },
    Profile {
        names: &["whoami"],
        analyze: whoami,
    },
    Profile {
        names: &["free"],
        analyze: free,
    },
    Profile {
        names: &["cp"],
        analyze: cp,
    },
    Profile {
        names: &["mv"],
        analyze: mv,
    },
    Profile {
        names: &["rm"],
        analyze: rm,
    },
    Profile {
        names: &["touch"],
        analyze: touch,
    },
    Profile {
        names: &["mkdir"],
        analyze: mkdir,
    },
    Profile {
        names: &["tee"],
        analyze: tee,
    },
    Profile {
        names: &["dd"],
        analyze: dd,
    },
    Profile {
        names: &["sort"],
        analyze: sort,
    },
    Profile {
        names: &["uniq"],
        analyze: uniq,
    },
    Profile {
        names: &["cut"],
        analyze: cut,
    },
    Profile {
        names: &["tr"],
        analyze: tr,
    },
];
