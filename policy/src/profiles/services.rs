//! Service and container managers: `docker`, `kubectl`, `systemctl`. Their
//! global options are known exactly; subcommands that change state must be
//! named in the rule's `subcommands` (a rule without `subcommands` allows
//! only the read-only ones); the options of subcommands that reach the host
//! (mounts, privileges) or name files are judged, other options pass.

use super::{Arg, Ctx, IN_ORDER, Kind, Opt, PERMUTE, Profile, Risk, flag, reads, refused, value};
use crate::paths::Access;

const OTHER_HOST: &str = "talks to another daemon or host than the configured one";

const DOCKER_GLOBAL: &[Opt] = &[
    reads('\0', &["config"]),
    value('c', &["context"]),
    flag('D', &["debug"]),
    refused('H', &["host"], Arg::Required, Risk::State, OTHER_HOST),
    value('l', &["log-level"]),
    flag('\0', &["tls"]),
    reads('\0', &["tlscacert"]),
    reads('\0', &["tlscert"]),
    reads('\0', &["tlskey"]),
    flag('\0', &["tlsverify"]),
    flag('v', &["version"]),
    flag('\0', &["help"]),
];

const DOCKER_READ_ONLY: &[&str] = &[
    "ps", "images", "logs", "inspect", "version", "info", "top", "port", "diff", "history",
    "search", "stats",
];

/// Options of docker subcommands that give a container the host.
const DOCKER_HOST_ACCESS: &[&str] = &[
    "privileged",
    "volume",
    "mount",
    "pid",
    "network",
    "net",
    "ipc",
    "uts",
    "userns",
    "cap-add",
    "device",
    "security-opt",
    "volumes-from",
    "cgroupns",
];

fn docker(ctx: &mut Ctx<'_>) {
    let Some(events) = ctx.getopt(DOCKER_GLOBAL, IN_ORDER) else {
        return;
    };
    ctx.apply(&events);
    let Some(sub_at) = super::operands(&events).first().copied() else {
        return;
    };
    ctx.out.subcommand = Some(sub_at);
    let sub = ctx.args[sub_at].as_str();
    let state = !DOCKER_READ_ONLY.contains(&sub);
    if state {
        ctx.refuse_subcommand(sub, "changes containers or images");
    }
    let args = ctx.args;
    for (k, arg) in args.iter().enumerate().skip(sub_at + 1) {
        if arg == "--" {
            break;
        }
        let Some(name) = arg
            .strip_prefix("--")
            .map(|a| a.split('=').next().unwrap_or(a))
        else {
            if arg.starts_with("-v")
                && arg.len() >= 2
                && !arg.starts_with("--")
                && (sub == "run" || sub == "create")
            {
                ctx.refuse(
                    Risk::Never,
                    &[],
                    format!("`docker {sub} -v`"),
                    "mounts host paths into a container",
                );
            }
            continue;
        };
        if DOCKER_HOST_ACCESS.contains(&name) {
            ctx.refuse(
                Risk::Never,
                &[],
                format!("`docker {sub} --{name}`"),
                "gives a container access to the host",
            );
        }
        if (name == "file" || name == "env-file") && k + 1 < args.len() {
            let v = arg
                .split_once('=')
                .map(|(_, v)| v.to_string())
                .unwrap_or_else(|| args[k + 1].clone());
            ctx.file(&v, Access::Read);
        }
    }
    subcommand_operands(ctx, sub_at);
    copy_operands(ctx);
}

/// `docker cp`/`kubectl cp SRC DEST`: an operand without `NAME:` is a local
/// file, read as the source, written as the destination.
fn copy_operands(ctx: &mut Ctx<'_>) {
    let Some(sub) = ctx.out.subcommand else {
        return;
    };
    if ctx.args[sub] != "cp" {
        return;
    }
    let ops = ctx.out.sub_operands.clone();
    for (k, &p) in ops.iter().enumerate() {
        let v = ctx.args[p].clone();
        if v.contains(':') {
            continue;
        }
        let access = if k + 1 == ops.len() {
            Access::Write
        } else {
            Access::Read
        };
        ctx.file(&v, access);
    }
}

const IMPERSONATES: &str = "acts as another user or with other credentials";

const KUBECTL_GLOBAL: &[Opt] = &[
    reads('\0', &["kubeconfig"]),
    value('\0', &["context"]),
    value('\0', &["cluster"]),
    value('\0', &["user"]),
    value('n', &["namespace"]),
    flag('A', &["all-namespaces"]),
    value('v', &["v"]),
    value('\0', &["request-timeout"]),
    value('o', &["output"]),
    value('l', &["selector"]),
    value('\0', &["field-selector"]),
    flag('w', &["watch"]).mark("watch"),
    flag('\0', &["no-headers"]),
    flag('\0', &["show-labels"]),
    value('L', &["label-columns"]),
    value('\0', &["sort-by"]),
    value('c', &["container"]),
    flag('f', &["follow"]).mark("follow"),
    value('\0', &["tail"]),
    value('\0', &["since"]),
    flag('p', &["previous"]),
    flag('\0', &["timestamps"]),
    flag('\0', &["recursive"]),
    reads('\0', &["filename"]),
    flag('\0', &["dry-run"]),
    value('\0', &["chunk-size"]),
    refused('\0', &["as"], Arg::Required, Risk::Never, IMPERSONATES),
    refused(
        '\0',
        &["as-group"],
        Arg::Required,
        Risk::Never,
        IMPERSONATES,
    ),
    refused('\0', &["as-uid"], Arg::Required, Risk::Never, IMPERSONATES),
    refused('\0', &["token"], Arg::Required, Risk::Never, IMPERSONATES),
    refused(
        '\0',
        &["username"],
        Arg::Required,
        Risk::Never,
        IMPERSONATES,
    ),
    refused(
        '\0',
        &["password"],
        Arg::Required,
        Risk::Never,
        IMPERSONATES,
    ),
    refused(
        '\0',
        &["client-key"],
        Arg::Required,
        Risk::Never,
        IMPERSONATES,
    ),
    refused(
        '\0',
        &["client-certificate"],
        Arg::Required,
        Risk::Never,
        IMPERSONATES,
    ),
    refused('s', &["server"], Arg::Required, Risk::State, OTHER_HOST),
    refused(
        '\0',
        &["insecure-skip-tls-verify"],
        Arg::Optional,
        Risk::Never,
        "turns off TLS verification",
    ),
    reads('\0', &["certificate-authority"]),
    flag('h', &["help"]),
];

const KUBECTL_READ_ONLY: &[&str] = &[
    "get",
    "describe",
    "logs",
    "explain",
    "api-resources",
    "api-versions",
    "version",
    "cluster-info",
    "top",
    "auth",
    "events",
    "diff",
];

fn kubectl(ctx: &mut Ctx<'_>) {
    // kubectl takes its flags anywhere; unknown ones are refused.
    let Some(events) = ctx.getopt(KUBECTL_GLOBAL, PERMUTE) else {
        return;
    };
    ctx.apply(&events);
    let follows = super::has_mark(&events, "watch") || super::has_mark(&events, "follow");
    if follows {
        ctx.refuse(
            Risk::Blocks,
            &["--watch", "-w", "--follow", "-f"],
            "`kubectl --watch`/`--follow`",
            "never ends and would hold a worker until the time limit",
        );
    }
    let ops = super::operands(&events);
    let Some(&sub_at) = ops.first() else {
        return;
    };
    ctx.out.subcommand = Some(sub_at);
    let sub = ctx.args[sub_at].as_str();
    if !KUBECTL_READ_ONLY.contains(&sub) {
        ctx.refuse_subcommand(sub, "changes the cluster (or runs a plugin)");
    }
    ctx.out.sub_operands = ops[1..].to_vec();
    copy_operands(ctx);
}

const SYSTEMCTL: &[Opt] = &[
    value('t', &["type"]),
    value('\0', &["state"]),
    value('p', &["property"]),
    value('P', &[]),
    flag('a', &["all"]),
    flag('r', &["recursive"]),
    flag('\0', &["reverse"]),
    flag('\0', &["after"]),
    flag('\0', &["before"]),
    flag('\0', &["with-dependencies"]),
    flag('l', &["full"]),
    flag('\0', &["value"]),
    flag('\0', &["show-types"]),
    value('\0', &["job-mode"]),
    flag('T', &["show-transaction"]),
    flag('i', &["ignore-inhibitors"]),
    flag('\0', &["dry-run"]),
    flag('q', &["quiet"]),
    flag('\0', &["no-warn"]),
    flag('\0', &["no-block"]),
    flag('\0', &["wait"]),
    flag('\0', &["no-wall"]),
    flag('\0', &["no-reload"]),
    flag('\0', &["no-ask-password"]),
    value('\0', &["kill-whom", "kill-value"]),
    value('s', &["signal"]),
    value('\0', &["what"]),
    refused(
        'f',
        &["force"],
        Arg::None,
        Risk::State,
        "skips the safety checks of unit changes",
    ),
    value('\0', &["message"]),
    flag('\0', &["now"]),
    Opt::new('\0', &["root"], Arg::Required, Kind::Write),
    refused(
        '\0',
        &["image"],
        Arg::Required,
        Risk::State,
        "operates on a disk image",
    ),
    flag('\0', &["runtime"]),
    value('\0', &["preset-mode"]),
    value('n', &["lines"]),
    value('o', &["output"]),
    flag('\0', &["plain"]),
    value('\0', &["timestamp"]),
    flag('\0', &["failed"]),
    flag('\0', &["no-pager"]),
    flag('\0', &["no-legend"]),
    value('\0', &["legend"]),
    refused('H', &["host"], Arg::Required, Risk::State, OTHER_HOST),
    refused('M', &["machine"], Arg::Required, Risk::State, OTHER_HOST),
    flag('\0', &["user"]),
    flag('\0', &["system"]),
    flag('\0', &["global"]),
    flag('h', &["help"]),
    flag('\0', &["version"]),
];

const SYSTEMCTL_READ_ONLY: &[&str] = &[
    "status",
    "show",
    "list-units",
    "list-unit-files",
    "list-sockets",
    "list-timers",
    "list-jobs",
    "list-dependencies",
    "list-automounts",
    "list-paths",
    "is-active",
    "is-enabled",
    "is-failed",
    "is-system-running",
    "cat",
    "help",
    "get-default",
    "show-environment",
];

fn systemctl(ctx: &mut Ctx<'_>) {
    let Some(events) = ctx.getopt(SYSTEMCTL, PERMUTE) else {
        return;
    };
    ctx.apply(&events);
    let ops = super::operands(&events);
    let Some(&sub_at) = ops.first() else {
        return;
    };
    ctx.out.subcommand = Some(sub_at);
    let sub = ctx.args[sub_at].as_str();
    if !SYSTEMCTL_READ_ONLY.contains(&sub) {
        ctx.refuse_subcommand(sub, "changes services or the system");
    }
    ctx.out.sub_operands = ops[1..].to_vec();
}

/// Operands after a subcommand that are not option values (approximate for
/// programs whose subcommand options are not all known).
fn subcommand_operands(ctx: &mut Ctx<'_>, sub_at: usize) {
    let mut dashes = false;
    for (k, a) in ctx.args.iter().enumerate().skip(sub_at + 1) {
        if dashes || !a.starts_with('-') || a == "-" {
            ctx.out.sub_operands.push(k);
        } else if a == "--" {
            dashes = true;
        }
    }
}

pub(crate) const PROFILES: &[Profile] = &[
    Profile {
        names: &["docker"],
        analyze: docker,
    },
    Profile {
        names: &["kubectl"],
        analyze: kubectl,
    },
    Profile {
        names: &["systemctl"],
        analyze: systemctl,
    },
];
