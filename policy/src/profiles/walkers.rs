//! Programs that walk directory trees with their own command-line grammar:
//! `find` (an expression language) and `tar` (modes, old-style clusters,
//! `-C` changing where later operands are).

use super::{
    Arg, Choice, Ctx, Kind, Opt, PERMUTE, Profile, Risk, flag, getopt::Event, getopt::OptRef,
    optional, reads, refused, value, writes,
};
use crate::paths::Access;

/// `find` primaries that take one value which is not a file.
const FIND_VALUE: &[&str] = &[
    "-name",
    "-iname",
    "-path",
    "-ipath",
    "-wholename",
    "-iwholename",
    "-regex",
    "-iregex",
    "-regextype",
    "-lname",
    "-ilname",
    "-type",
    "-xtype",
    "-user",
    "-group",
    "-uid",
    "-gid",
    "-size",
    "-perm",
    "-links",
    "-inum",
    "-mtime",
    "-atime",
    "-ctime",
    "-mmin",
    "-amin",
    "-cmin",
    "-used",
    "-maxdepth",
    "-mindepth",
    "-fstype",
    "-context",
    "-printf",
];
/// Primaries whose value is a file read (compared with).
const FIND_READ: &[&str] = &["-samefile", "-newer", "-anewer", "-cnewer"];
/// Primaries whose value is a file written.
const FIND_WRITE: &[&str] = &["-fprint", "-fprint0", "-fls"];
const FIND_FLAGS: &[&str] = &[
    "-readable",
    "-writable",
    "-executable",
    "-empty",
    "-false",
    "-true",
    "-nouser",
    "-nogroup",
    "-mount",
    "-xdev",
    "-noleaf",
    "-depth",
    "-d",
    "-daystart",
    "-follow",
    "-ignore_readdir_race",
    "-noignore_readdir_race",
    "-warn",
    "-nowarn",
    "-prune",
    "-quit",
    "-print",
    "-print0",
    "-ls",
    "-not",
    "-a",
    "-and",
    "-o",
    "-or",
    ",",
    "(",
    ")",
    "!",
    "-help",
    "--help",
    "-version",
    "--version",
];
const FIND_CODE: &[&str] = &["-exec", "-execdir", "-ok", "-okdir"];

/// `-newerXY`: `Some(true)` when its value is a file (`Y` is not `t`).
fn newer_xy(a: &str) -> Option<bool> {
    let xy = a.strip_prefix("-newer")?;
    let mut c = xy.chars();
    match (c.next(), c.next(), c.next()) {
        (Some(x), Some(y), None) if "aBcm".contains(x) && "aBcmt".contains(y) => Some(y != 't'),
        _ => None,
    }
}

fn find(ctx: &mut Ctx<'_>) {
    let args = ctx.args;
    let mut i = 0;
    // Leading options: -H -L -P, -D debugopts, -Olevel.
    while i < args.len() {
        let a = args[i].as_str();
        match a {
            "-H" | "-L" | "-P" => i += 1,
            "-D" => i += 2,
            _ if a.starts_with("-O") => i += 1,
            _ => break,
        }
    }
    let mut starts = Vec::new();
    while i < args.len() {
        let a = args[i].as_str();
        if a.starts_with('-') || a == "(" || a == "!" {
            break;
        }
        starts.push(a);
        i += 1;
    }
    let mut deletes = false;
    let mut depth_zero = false;
    while i < args.len() {
        let a = args[i].as_str();
        i += 1;
        if FIND_FLAGS.contains(&a) {
            continue;
        }
        if a == "-delete" {
            deletes = true;
            continue;
        }
        if FIND_CODE.contains(&a) {
            ctx.refuse(
                Risk::Code,
                &[a],
                format!("`find {a}`"),
                "runs another program on every file found",
            );
            return;
        }
        if a == "-files0-from" {
            ctx.refuse(
                Risk::Unjudged,
                &[a],
                "`find -files0-from`",
                "reads the starting points from a file, which the policy cannot judge",
            );
            if let Some(v) = args.get(i) {
                ctx.file(v, Access::Read);
            }
            i += 1;
            continue;
        }
        if a == "-fprintf" {
            if let Some(v) = args.get(i) {
                ctx.file(v, Access::Write);
            }
            i += 2;
            continue;
        }
        let Some(v) = args.get(i) else {
            ctx.refuse(Risk::Never, &[], format!("`find {a}`"), "needs a value");
            return;
        };
        if FIND_WRITE.contains(&a) {
            ctx.file(v, Access::Write);
        } else if FIND_READ.contains(&a) || newer_xy(a) == Some(true) {
            ctx.file(v, Access::Read);
        } else if FIND_VALUE.contains(&a) || newer_xy(a) == Some(false) {
            if a == "-maxdepth" && v == "0" {
                depth_zero = true;
            }
        } else {
            ctx.refuse(
                Risk::Unknown,
                &[a],
                format!("`find {a}`"),
                "is not a primary the profile of `find` knows",
            );
            return;
        }
        i += 1;
    }
    if starts.is_empty() {
        starts.push(".");
    }
    let access = if deletes { Access::Write } else { Access::Read };
    ctx.out.recursive = !depth_zero;
    for s in starts {
        ctx.file(s, access);
        if !depth_zero {
            ctx.walk(s, None);
        }
    }
}

const CHECKPOINT_ACTIONS: &[Choice] = &[
    Choice {
        value: "bell",
        kind: Kind::Plain,
        same_as: &[],
    },
    Choice {
        value: "dot",
        kind: Kind::Plain,
        same_as: &[],
    },
    Choice {
        value: "echo",
        kind: Kind::Plain,
        same_as: &[],
    },
    Choice {
        value: "totals",
        kind: Kind::Plain,
        same_as: &[],
    },
];

const RUNS: &str = "runs a program";
const MODE: &str = "mode";
const CREATE: &str = "create";

const TAR: &[Opt] = &[
    flag('A', &["catenate", "concatenate"]).mark(CREATE),
    flag('c', &["create"]).mark(CREATE),
    flag('d', &["diff", "compare"]).mark(MODE),
    flag('\0', &["delete"]).mark(CREATE),
    flag('r', &["append"]).mark(CREATE),
    flag('t', &["list"]).mark(MODE),
    flag('\0', &["test-label"]).mark(MODE),
    flag('u', &["update"]).mark(CREATE),
    flag('x', &["extract", "get"]).mark("extract"),
    Opt::new('f', &["file"], Arg::Required, Kind::Plain).mark("archive"),
    Opt::new('C', &["directory"], Arg::Required, Kind::Plain).mark("directory"),
    flag('v', &["verbose"]),
    flag('z', &["gzip", "gunzip", "ungzip"]),
    flag('j', &["bzip2"]),
    flag('J', &["xz"]),
    flag('\0', &["zstd"]),
    flag('\0', &["lzma"]),
    flag('\0', &["lzip"]),
    flag('\0', &["lzop"]),
    flag('Z', &["compress", "uncompress"]),
    flag('a', &["auto-compress"]),
    refused(
        'I',
        &["use-compress-program"],
        Arg::Required,
        Risk::Code,
        RUNS,
    ),
    refused('\0', &["to-command"], Arg::Required, Risk::Code, RUNS),
    optional('\0', &["checkpoint"]),
    Opt::new(
        '\0',
        &["checkpoint-action"],
        Arg::Required,
        Kind::Choice(CHECKPOINT_ACTIONS),
    ),
    refused(
        'F',
        &["info-script", "new-volume-script"],
        Arg::Required,
        Risk::Code,
        RUNS,
    ),
    refused('\0', &["rsh-command"], Arg::Required, Risk::Code, RUNS),
    refused('\0', &["rmt-command"], Arg::Required, Risk::Code, RUNS),
    flag('k', &["keep-old-files"]),
    flag('\0', &["keep-newer-files"]),
    flag('\0', &["skip-old-files"]),
    flag('\0', &["overwrite"]),
    flag('\0', &["overwrite-dir"]),
    flag('\0', &["no-overwrite-dir"]),
    flag('U', &["unlink-first"]),
    flag('p', &["preserve-permissions", "same-permissions"]),
    flag('\0', &["no-same-permissions"]),
    flag('\0', &["same-owner"]),
    flag('\0', &["no-same-owner"]),
    flag('o', &[]),
    flag('m', &["touch"]),
    flag('O', &["to-stdout"]),
    refused(
        'P',
        &["absolute-names"],
        Arg::None,
        Risk::Never,
        "would read or write absolute member names outside the judged directory",
    ),
    value('\0', &["strip-components"]),
    value('\0', &["exclude"]),
    reads('X', &["exclude-from"]),
    Opt::new(
        'T',
        &["files-from"],
        Arg::Required,
        Kind::Refuse(
            Risk::Unjudged,
            "reads the names of the files to archive from a file, which the policy cannot judge",
        ),
    )
    .mark("files-from"),
    flag('\0', &["null"]),
    flag('\0', &["no-null"]),
    flag('h', &["dereference"]),
    flag('\0', &["hard-dereference"]),
    flag('l', &["check-links"]),
    flag('\0', &["one-file-system"]),
    flag('S', &["sparse"]),
    flag('W', &["verify"]),
    flag('\0', &["wildcards"]),
    flag('\0', &["no-wildcards"]),
    flag('\0', &["anchored"]),
    flag('\0', &["no-anchored"]),
    flag('\0', &["numeric-owner"]),
    value('\0', &["owner"]),
    value('\0', &["group"]),
    value('\0', &["mode"]),
    value('\0', &["mtime"]),
    value('\0', &["sort"]),
    value('H', &["format"]),
    value('\0', &["transform", "xform"]),
    writes('g', &["listed-incremental"]),
    flag('G', &["incremental"]),
    value('V', &["label"]),
    value('b', &["blocking-factor"]),
    flag('B', &["read-full-records"]),
    flag('i', &["ignore-zeros"]),
    flag('\0', &["ignore-failed-read"]),
    value('\0', &["warning"]),
    optional('\0', &["totals"]),
    flag('R', &["block-number"]),
    Opt::new('\0', &["remove-files"], Arg::None, Kind::Plain).mark("remove"),
    flag('\0', &["recursion"]),
    Opt::new('\0', &["no-recursion"], Arg::None, Kind::Plain).mark("no-recursion"),
    optional('\0', &["exclude-vcs"]),
    flag('\0', &["exclude-caches"]),
    flag('\0', &["exclude-backups"]),
    flag('\0', &["show-transformed-names"]),
    writes('\0', &["index-file"]),
    optional('\0', &["atime-preserve"]),
    flag('\0', &["xattrs"]),
    flag('\0', &["no-xattrs"]),
    flag('\0', &["acls"]),
    flag('\0', &["no-acls"]),
    flag('\0', &["selinux"]),
    flag('\0', &["no-selinux"]),
    flag('\0', &["force-local"]),
    flag('\0', &["no-auto-compress"]),
    flag('\0', &["full-time"]),
    flag('\0', &["utc"]),
    flag('\0', &["help"]),
    flag('\0', &["version"]),
    flag('\0', &["usage"]),
];

/// Rewrites tar's old-style first argument (`cvf a.tar`) to dashed options,
/// taking the values of value letters from the following arguments in order.
fn old_style(args: &[String]) -> Option<Vec<String>> {
    let first = args.first()?;
    if first.starts_with('-') {
        return None;
    }
    let mut out = Vec::with_capacity(args.len() + 2);
    let mut rest = args[1..].iter();
    for c in first.chars() {
        let o = TAR.iter().find(|o| o.short == c)?;
        out.push(format!("-{c}"));
        if o.arg == Arg::Required {
            out.push(rest.next()?.clone());
        }
    }
    out.extend(rest.cloned());
    Some(out)
}

fn tar(ctx: &mut Ctx<'_>) {
    if let Some(rewritten) = old_style(ctx.args) {
        let mut inner = Ctx {
            program: ctx.program,
            args: &rewritten,
            extras: ctx.extras,
            piped: ctx.piped,
            forms: ctx.forms,
            out: std::mem::take(&mut ctx.out),
        };
        tar_dashed(&mut inner);
        ctx.out = inner.out;
        // Old style only works as the first argument: run the dashed form.
        ctx.out.replace_args = Some(rewritten);
        return;
    }
    tar_dashed(ctx);
}

fn tar_dashed(ctx: &mut Ctx<'_>) {
    let Some(events) = ctx.getopt(TAR, PERMUTE) else {
        return;
    };
    ctx.apply(&events);
    let marks: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            Event::Opt {
                opt: OptRef::Profile(o),
                ..
            } => Some(o.mark),
            _ => None,
        })
        .collect();
    let creates = marks.contains(&CREATE);
    let extracts = marks.contains(&"extract");
    let removes = marks.contains(&"remove");
    // `-C DIR` applies to the operands after it.
    let mut dir: Option<&str> = None;
    for e in &events {
        match e {
            Event::Opt {
                opt: OptRef::Profile(o),
                value: Some(v),
                ..
            } => match o.mark {
                "archive" => {
                    let access = if creates { Access::Write } else { Access::Read };
                    ctx.file(v, access);
                }
                "directory" => {
                    let access = if extracts {
                        Access::Write
                    } else {
                        Access::Read
                    };
                    ctx.file(v, access);
                    dir = Some(v);
                }
                _ => {}
            },
            Event::Operand { at } => {
                let v = ctx.args[*at].clone();
                let access = if extracts || removes {
                    Access::Write
                } else {
                    Access::Read
                };
                if creates || extracts || removes {
                    ctx.file_in(&v, access, dir);
                    if creates && !marks.contains(&"no-recursion") {
                        ctx.out.recursive = true;
                        ctx.walk(&v, dir);
                    }
                }
            }
            _ => {}
        }
    }
    if extracts {
        // Members land in the working directory (or the last `-C`).
        ctx.file(dir.unwrap_or("."), Access::Write);
    }
    // A name with a colon would be a remote archive reached through rsh.
    ctx.out.prepend.push("--force-local");
}

pub(crate) const PROFILES: &[Profile] = &[
    Profile {
        names: &["find"],
        analyze: find,
    },
    Profile {
        names: &["tar"],
        analyze: tar,
    },
];
