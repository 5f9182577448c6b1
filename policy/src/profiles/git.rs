//! `git`: strict global options, known subcommands only (an unknown name
//! could be an alias from the repository's config), the options of
//! subcommands that run programs or name files, and the settings the server
//! always adds so that neither the repository nor the user's config makes
//! git run a program.

use super::{
    Arg, Ctx, IN_ORDER, Opt, Profile, Risk, flag, getopt::Event, getopt::OptRef, optional, refused,
    value,
};
use crate::paths::Access;

/// `-c` settings the server passes before every git command: no fsmonitor
/// daemon, hooks, pager, editor, credential helper, signature program or
/// `ext::` transport, whatever `.git/config` or `~/.gitconfig` say.
pub const GIT_SAFE_CONFIG: &[&str] = &[
    "core.fsmonitor=false",
    "core.hooksPath=/dev/null",
    "core.pager=cat",
    "core.sshCommand=ssh",
    "core.editor=false",
    "sequence.editor=false",
    "credential.helper=",
    "gpg.program=false",
    "log.showSignature=false",
    "protocol.ext.allow=never",
];

/// What the server puts before the caller's arguments: `--no-pager` and
/// every [`GIT_SAFE_CONFIG`] setting as `-c SETTING`.
const GIT_SAFE_ARGS: &[&str] = &[
    "--no-pager",
    "-c",
    GIT_SAFE_CONFIG[0],
    "-c",
    GIT_SAFE_CONFIG[1],
    "-c",
    GIT_SAFE_CONFIG[2],
    "-c",
    GIT_SAFE_CONFIG[3],
    "-c",
    GIT_SAFE_CONFIG[4],
    "-c",
    GIT_SAFE_CONFIG[5],
    "-c",
    GIT_SAFE_CONFIG[6],
    "-c",
    GIT_SAFE_CONFIG[7],
    "-c",
    GIT_SAFE_CONFIG[8],
    "-c",
    GIT_SAFE_CONFIG[9],
];

/// Environment the server adds for git: no password prompts or askpass programs.
pub const GIT_SAFE_ENV: &[(&str, &str)] = &[("GIT_TERMINAL_PROMPT", "0"), ("GIT_ASKPASS", "")];

const NEVER: &str = "overrides the settings the server runs git with";

const GLOBAL: &[Opt] = &[
    flag('v', &["version"]),
    refused(
        'h',
        &["help"],
        Arg::None,
        Risk::Code,
        "starts a manual viewer or browser from git's config",
    ),
    Opt::new('C', &[], Arg::Required, super::Kind::Plain).mark("chdir"),
    refused('c', &[], Arg::Required, Risk::Never, NEVER),
    refused('\0', &["config-env"], Arg::Required, Risk::Never, NEVER),
    refused('\0', &["exec-path"], Arg::Optional, Risk::Never, NEVER),
    flag('\0', &["html-path"]),
    flag('\0', &["man-path"]),
    flag('\0', &["info-path"]),
    flag('p', &["paginate"]),
    flag('P', &["no-pager"]),
    flag('\0', &["no-replace-objects"]),
    flag('\0', &["no-lazy-fetch"]),
    flag('\0', &["no-optional-locks"]),
    flag('\0', &["no-advice"]),
    flag('\0', &["bare"]),
    Opt::new('\0', &["git-dir"], Arg::Required, super::Kind::Read),
    Opt::new('\0', &["work-tree"], Arg::Required, super::Kind::Read),
    value('\0', &["namespace"]),
    flag('\0', &["literal-pathspecs"]),
    flag('\0', &["glob-pathspecs"]),
    flag('\0', &["noglob-pathspecs"]),
    flag('\0', &["icase-pathspecs"]),
    value('\0', &["list-cmds"]),
    value('\0', &["attr-source"]),
    optional('\0', &["super-prefix"]),
];

/// Built-in subcommands; any other name would run an alias or `git-NAME` from PATH.
const SUBCOMMANDS: &[&str] = &[
    "add",
    "am",
    "annotate",
    "apply",
    "archive",
    "bisect",
    "blame",
    "branch",
    "bundle",
    "cat-file",
    "check-attr",
    "check-ignore",
    "check-mailmap",
    "check-ref-format",
    "checkout",
    "cherry",
    "cherry-pick",
    "clean",
    "clone",
    "column",
    "commit",
    "commit-graph",
    "commit-tree",
    "config",
    "count-objects",
    "describe",
    "diff",
    "diff-files",
    "diff-index",
    "diff-tree",
    "fetch",
    "for-each-ref",
    "format-patch",
    "fsck",
    "gc",
    "grep",
    "hash-object",
    "init",
    "log",
    "ls-files",
    "ls-remote",
    "ls-tree",
    "merge",
    "merge-base",
    "merge-file",
    "merge-tree",
    "mv",
    "name-rev",
    "notes",
    "prune",
    "pull",
    "push",
    "range-diff",
    "read-tree",
    "rebase",
    "reflog",
    "remote",
    "repack",
    "replace",
    "reset",
    "restore",
    "rev-list",
    "rev-parse",
    "revert",
    "rm",
    "shortlog",
    "show",
    "show-branch",
    "show-ref",
    "sparse-checkout",
    "stash",
    "status",
    "submodule",
    "switch",
    "symbolic-ref",
    "tag",
    "update-index",
    "update-ref",
    "var",
    "verify-commit",
    "verify-pack",
    "verify-tag",
    "version",
    "whatchanged",
    "worktree",
    "write-tree",
];

/// Subcommands that run programs of the caller's or the repository's choosing.
const RUN_SUBCOMMANDS: &[(&str, &str)] = &[
    ("difftool", "runs a diff tool"),
    ("mergetool", "runs a merge tool"),
    ("filter-branch", "runs shell commands"),
    ("maintenance", "schedules commands"),
    ("instaweb", "starts a web server"),
    ("web--browse", "starts a browser"),
    ("help", "starts a manual viewer or browser"),
    ("daemon", "starts a server"),
    ("send-email", "sends mail"),
    ("credential", "runs credential helpers"),
];

/// Subcommands that show diffs: the server adds `--no-ext-diff --no-textconv`.
const DIFFS: &[&str] = &[
    "diff",
    "log",
    "show",
    "whatchanged",
    "diff-tree",
    "diff-files",
    "diff-index",
    "format-patch",
];
const TEXTCONV: &[&str] = &["blame", "annotate", "grep"];

/// What a subcommand's long option does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SubOpt {
    Code(&'static str),
    Never,
    Read,
    Write,
}

/// Long options of subcommands that need judging; any other option passes.
const SUB_LONG: &[(&str, SubOpt)] = &[
    (
        "help",
        SubOpt::Code("starts a manual viewer or browser from git's config"),
    ),
    (
        "ext-diff",
        SubOpt::Code("runs the external diff program from git's config"),
    ),
    (
        "textconv",
        SubOpt::Code("runs text conversion programs from git's config"),
    ),
    (
        "filters",
        SubOpt::Code("runs filter programs from git's config"),
    ),
    ("open-files-in-pager", SubOpt::Code("runs a pager program")),
    ("upload-pack", SubOpt::Code("runs a program")),
    ("receive-pack", SubOpt::Code("runs a program")),
    ("exec", SubOpt::Code("runs a program")),
    ("show-signature", SubOpt::Code("runs the signature program")),
    ("config", SubOpt::Never),
    ("output", SubOpt::Write),
    ("output-directory", SubOpt::Write),
    ("separate-git-dir", SubOpt::Write),
    ("contents", SubOpt::Read),
    ("ignore-revs-file", SubOpt::Read),
    ("pathspec-from-file", SubOpt::Read),
    ("orderfile", SubOpt::Read),
    ("file", SubOpt::Read),
    ("template", SubOpt::Read),
];

/// Short options of subcommands that need judging, per subcommand.
const SUB_SHORT: &[(&str, char, SubOpt)] = &[
    ("grep", 'O', SubOpt::Code("runs a pager program")),
    ("grep", 'f', SubOpt::Read),
    ("clone", 'u', SubOpt::Code("runs a program")),
    ("clone", 'c', SubOpt::Never),
    ("rebase", 'x', SubOpt::Code("runs shell commands")),
    ("format-patch", 'o', SubOpt::Write),
    ("commit", 'F', SubOpt::Read),
    ("tag", 'F', SubOpt::Read),
    ("notes", 'F', SubOpt::Read),
    ("merge", 'F', SubOpt::Read),
    ("blame", 'S', SubOpt::Read),
];

fn git(ctx: &mut Ctx<'_>) {
    let Some(events) = ctx.getopt(GLOBAL, IN_ORDER) else {
        return;
    };
    ctx.apply(&events);
    let mut chdir: Option<String> = None;
    let mut sub_at = None;
    for e in &events {
        match e {
            Event::Opt {
                opt: OptRef::Profile(o),
                value: Some(v),
                ..
            } if o.mark == "chdir" => {
                // `-C a -C b` is `a/b`.
                chdir = Some(match chdir {
                    Some(prev) => format!("{prev}/{v}"),
                    None => v.to_string(),
                });
            }
            Event::Operand { at } => {
                sub_at = Some(*at);
                break;
            }
            _ => {}
        }
    }
    ctx.out.env = GIT_SAFE_ENV;
    ctx.out.prepend.extend_from_slice(GIT_SAFE_ARGS);
    if let Some(dir) = &chdir {
        ctx.file(dir, Access::Read);
    }
    let Some(sub_at) = sub_at else {
        return;
    };
    ctx.out.subcommand = Some(sub_at);
    let sub = ctx.args[sub_at].clone();
    if let Some((_, why)) = RUN_SUBCOMMANDS.iter().find(|(s, _)| *s == sub) {
        ctx.refuse(Risk::Code, &[], format!("`git {sub}`"), *why);
        return;
    }
    if !SUBCOMMANDS.contains(&sub.as_str()) {
        ctx.refuse(
            Risk::Unknown,
            &[],
            format!("`git {sub}`"),
            "is not a git command the profile knows (it could be an alias from the repository's config)",
        );
        return;
    }
    if DIFFS.contains(&sub.as_str()) {
        ctx.out.insert_after = Some((sub_at, &["--no-ext-diff", "--no-textconv"]));
    } else if TEXTCONV.contains(&sub.as_str()) {
        ctx.out.insert_after = Some((sub_at, &["--no-textconv"]));
    }
    sub_args(ctx, &sub, sub_at + 1, chdir.as_deref());
}

fn sub_args(ctx: &mut Ctx<'_>, sub: &str, from: usize, chdir: Option<&str>) {
    let args = ctx.args;
    let mut no_index = false;
    let mut operands: Vec<usize> = Vec::new();
    let mut i = from;
    let mut dashes = false;
    while i < args.len() {
        let arg = args[i].as_str();
        let at = i;
        i += 1;
        if dashes || arg == "-" || !arg.starts_with('-') {
            operands.push(at);
            continue;
        }
        if arg == "--" {
            dashes = true;
            continue;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, attached) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            };
            if name == "no-index" {
                no_index = true;
                continue;
            }
            let exact = SUB_LONG.iter().find(|(l, _)| *l == name);
            let abbreviates = SUB_LONG
                .iter()
                .find(|(l, _)| l.len() > name.len() && l.starts_with(name) && !name.is_empty());
            let Some((long_name, what)) = exact.or(abbreviates) else {
                continue;
            };
            if exact.is_none() {
                ctx.refuse(
                    Risk::Never,
                    &[],
                    format!("`git {sub} --{name}`"),
                    format!("abbreviates `--{long_name}`; spell options that name files or run programs in full"),
                );
                continue;
            }
            // `config` and `file` only matter for the subcommands that have them.
            if matches!(*long_name, "config" | "template" | "separate-git-dir")
                && !matches!(sub, "clone" | "init")
            {
                continue;
            }
            if *long_name == "file"
                && !matches!(sub, "commit" | "tag" | "notes" | "merge" | "config")
            {
                continue;
            }
            let value = match attached {
                Some(v) => Some(v),
                None if matches!(what, SubOpt::Read | SubOpt::Write) => {
                    i += 1;
                    args.get(i - 1).map(String::as_str)
                }
                None => None,
            };
            judge(ctx, sub, &format!("--{long_name}"), *what, value, chdir);
            continue;
        }
        // A cluster of short options: judge the letters that matter.
        let cluster = &arg[1..];
        for (pos, c) in cluster.char_indices() {
            if let Some((_, _, what)) = SUB_SHORT.iter().find(|(s, l, _)| *s == sub && *l == c) {
                let rest = &cluster[pos + c.len_utf8()..];
                let value = if rest.is_empty() {
                    if matches!(what, SubOpt::Read | SubOpt::Write) {
                        i += 1;
                        args.get(i - 1).map(String::as_str)
                    } else {
                        None
                    }
                } else {
                    Some(rest)
                };
                judge(ctx, sub, &format!("-{c}"), *what, value, chdir);
                break;
            }
            // `-O<orderfile>` of the diff family.
            if c == 'O' && DIFFS.contains(&sub) {
                let rest = &cluster[pos + 1..];
                judge(ctx, sub, "-O", SubOpt::Read, Some(rest), chdir);
                break;
            }
        }
    }
    if sub == "bisect" && operands.first().is_some_and(|&p| args[p] == "run") {
        ctx.refuse(
            Risk::Code,
            &[],
            "`git bisect run`",
            "runs a command on every step",
        );
    }
    if sub == "submodule" && operands.iter().any(|&p| args[p] == "foreach") {
        ctx.refuse(
            Risk::Code,
            &[],
            "`git submodule foreach`",
            "runs a shell command in every submodule",
        );
    }
    if sub == "config" {
        let reads_only = args[from..].iter().any(|a| {
            matches!(
                a.as_str(),
                "--get" | "--get-all" | "--get-regexp" | "--list" | "-l" | "get" | "list"
            )
        });
        if !reads_only {
            ctx.refuse(
                Risk::Code,
                &[],
                "`git config` that sets a value",
                "writes settings that make later git commands run programs",
            );
        }
    }
    // Where `clone`, `init` and `worktree add` create a repository is written.
    let destination = match sub {
        "clone" if operands.len() >= 2 => operands.last().copied(),
        "init" => operands.first().copied(),
        "worktree" if operands.first().is_some_and(|&p| args[p] == "add") => {
            operands.get(1).copied()
        }
        _ => None,
    };
    if let Some(p) = destination {
        let v = args[p].clone();
        ctx.file_in(&v, Access::Write, chdir);
    }
    for p in operands {
        if Some(p) == destination {
            continue;
        }
        let v = args[p].clone();
        if no_index {
            ctx.file_in(&v, Access::Read, chdir);
        } else {
            // Pathspecs and `REV:path` name files git keeps inside the repository
            // (it refuses others): only a deny glob can refuse them.
            let path = v.split_once(':').map(|(_, p)| p).unwrap_or(&v).to_string();
            if !path.is_empty() {
                ctx.out.files.push(super::FileUse {
                    value: path,
                    access: Access::Read,
                    base: chdir.map(str::to_owned),
                    deny_globs_only: true,
                });
            }
        }
    }
}

fn judge(
    ctx: &mut Ctx<'_>,
    sub: &str,
    option: &str,
    what: SubOpt,
    value: Option<&str>,
    chdir: Option<&str>,
) {
    match what {
        SubOpt::Code(why) => ctx.refuse(Risk::Code, &[], format!("`git {sub} {option}`"), why),
        SubOpt::Never => ctx.refuse(Risk::Never, &[], format!("`git {sub} {option}`"), NEVER),
        SubOpt::Read | SubOpt::Write => {
            let access = if what == SubOpt::Write {
                Access::Write
            } else {
                Access::Read
            };
            match value {
                Some(v) => ctx.file_in(v, access, chdir),
                None => ctx.refuse(
                    Risk::Never,
                    &[],
                    format!("`git {sub} {option}`"),
                    "needs a value",
                ),
            }
        }
    }
}

pub(crate) const PROFILES: &[Profile] = &[Profile {
    names: &["git"],
    analyze: git,
}];
