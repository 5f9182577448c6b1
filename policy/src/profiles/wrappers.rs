//! Wrappers: programs that run another program. Allowed only when the policy
//! allows them; then the command they run is judged as a command in its own
//! right (`env sh -c id` is refused by `sh`'s rule). Forms whose command
//! cannot be judged (environment assignments, a command read from input, a
//! new session that outlives the time limit) are refused.

use super::{
    Arg, Ctx, IN_ORDER, Kind, Opt, Profile, Risk, Wrapped, flag, getopt::Event, operands, refused,
    value, writes,
};
use crate::paths::Access;

const SETS_ENV: &str = "sets environment variables, which change what the command does";

const ENV: &[Opt] = &[
    flag('i', &["ignore-environment"]),
    flag('0', &["null"]),
    value('u', &["unset"]),
    Opt::new('C', &["chdir"], Arg::Required, Kind::Plain).mark("chdir"),
    refused(
        'S',
        &["split-string"],
        Arg::Required,
        Risk::Code,
        "splits a string into a command the policy cannot see as written",
    ),
    flag('v', &["debug"]),
    super::optional('\0', &["block-signal"]),
    super::optional('\0', &["default-signal"]),
    super::optional('\0', &["ignore-signal"]),
    flag('\0', &["list-signal-handling"]),
    flag('\0', &["help"]),
    flag('\0', &["version"]),
];

fn env(ctx: &mut Ctx<'_>) {
    let Some(events) = ctx.getopt(ENV, IN_ORDER) else {
        return;
    };
    ctx.apply(&events);
    let chdir = super::marked(&events, "chdir").into_iter().flatten().last();
    let ops = operands(&events);
    let mut start = None;
    for p in ops {
        let word = &ctx.args[p];
        if word.contains('=') && start.is_none() {
            let what = format!("`env {word}`");
            ctx.refuse(Risk::Never, &[], what, SETS_ENV);
            continue;
        }
        start.get_or_insert(p);
    }
    if let Some(dir) = chdir {
        ctx.file(dir, Access::Read);
    }
    if let Some(start) = start {
        wrap(ctx, start, chdir);
    }
}

fn wrap(ctx: &mut Ctx<'_>, start: usize, chdir: Option<&str>) {
    ctx.out.wrapped = Some(Wrapped {
        start,
        chdir: chdir.map(str::to_owned),
        line: None,
    });
}

/// The command starts at the first operand (after `skip` leading operands
/// such as a duration or a mask).
fn simple(options: &'static [Opt], skip: usize) -> impl Fn(&mut Ctx<'_>) {
    move |ctx: &mut Ctx<'_>| {
        let Some(events) = ctx.getopt(options, IN_ORDER) else {
            return;
        };
        ctx.apply(&events);
        if let Some(&start) = operands(&events).get(skip) {
            wrap(ctx, start, None);
        }
    }
}

const TIMEOUT: &[Opt] = &[
    flag('\0', &["foreground"]),
    flag('\0', &["preserve-status"]),
    value('k', &["kill-after"]),
    value('s', &["signal"]),
    flag('v', &["verbose"]),
    flag('\0', &["help"]),
    flag('\0', &["version"]),
];

fn timeout(ctx: &mut Ctx<'_>) {
    simple(TIMEOUT, 1)(ctx);
    // Without --foreground timeout moves itself to a new process group, out
    // of reach of the server's time limit.
    ctx.out.prepend.push("--foreground");
}

const NICE: &[Opt] = &[
    value('n', &["adjustment"]),
    flag('\0', &["help"]),
    flag('\0', &["version"]),
];

fn nice(ctx: &mut Ctx<'_>) {
    simple(NICE, 0)(ctx)
}

const OTHER_PROCESS: &str = "changes another process";

const IONICE: &[Opt] = &[
    value('c', &["class"]),
    value('n', &["classdata"]),
    refused('p', &["pid"], Arg::None, Risk::State, OTHER_PROCESS),
    refused('P', &["pgid"], Arg::None, Risk::State, OTHER_PROCESS),
    refused('u', &["uid"], Arg::None, Risk::State, OTHER_PROCESS),
    flag('t', &["ignore"]),
    flag('h', &["help"]),
    flag('V', &["version"]),
];

fn ionice(ctx: &mut Ctx<'_>) {
    simple(IONICE, 0)(ctx)
}

const NOHUP: &[Opt] = &[flag('\0', &["help"]), flag('\0', &["version"])];

fn nohup(ctx: &mut Ctx<'_>) {
    simple(NOHUP, 0)(ctx)
}

const STDBUF: &[Opt] = &[
    value('i', &["input"]),
    value('o', &["output"]),
    value('e', &["error"]),
    flag('\0', &["help"]),
    flag('\0', &["version"]),
];

fn stdbuf(ctx: &mut Ctx<'_>) {
    simple(STDBUF, 0)(ctx)
}

const DETACHES: &str = "starts a new session that outlives the command's time limit";

fn setsid(ctx: &mut Ctx<'_>) {
    ctx.refuse(Risk::Code, &[], "`setsid`", DETACHES);
}

const XARGS: &[Opt] = &[
    flag('0', &["null"]),
    refused(
        'a',
        &["arg-file"],
        Arg::Required,
        Risk::Code,
        "reads the command's arguments from a file the policy cannot judge",
    ),
    value('d', &["delimiter"]),
    value('E', &[]),
    super::optional('e', &["eof"]),
    refused(
        'I',
        &[],
        Arg::Required,
        Risk::Code,
        "builds commands from input the policy cannot judge",
    ),
    refused(
        'i',
        &["replace"],
        Arg::Optional,
        Risk::Code,
        "builds commands from input the policy cannot judge",
    ),
    value('L', &["max-lines"]),
    super::optional('l', &[]),
    value('n', &["max-args"]),
    flag('o', &["open-tty"]),
    refused(
        'p',
        &["interactive"],
        Arg::None,
        Risk::Code,
        "asks on a terminal",
    ),
    value('\0', &["process-slot-var"]),
    value('P', &["max-procs"]),
    flag('r', &["no-run-if-empty"]),
    value('s', &["max-chars"]),
    flag('\0', &["show-limits"]),
    flag('t', &["verbose"]),
    flag('x', &["exit"]),
    flag('\0', &["help"]),
    flag('\0', &["version"]),
];

fn xargs(ctx: &mut Ctx<'_>) {
    if ctx.piped {
        ctx.refuse(
            Risk::Code,
            &[],
            "`xargs` reading a pipeline",
            "passes its input as arguments, which the policy cannot judge",
        );
        return;
    }
    // Standard input is empty: the command runs once, with the arguments given.
    simple(XARGS, 0)(ctx)
}

const WATCH: &[Opt] = &[
    flag('b', &["beep"]),
    flag('c', &["color"]),
    flag('C', &["no-color"]),
    flag('d', &["differences"]),
    flag('e', &["errexit"]),
    flag('g', &["chgexit"]),
    value('n', &["interval"]),
    flag('p', &["precise"]),
    value('q', &["equexit"]),
    flag('r', &["no-rerun"]),
    flag('t', &["no-title"]),
    flag('w', &["no-wrap"]),
    flag('x', &["exec"]).mark("exec"),
    flag('h', &["help"]),
    flag('v', &["version"]),
];

/// `watch CMD...` runs `sh -c "CMD..."`; the server runs it with `-x` and
/// the words the policy judged, so no shell reads them.
fn watch(ctx: &mut Ctx<'_>) {
    let Some(events) = ctx.getopt(WATCH, IN_ORDER) else {
        return;
    };
    ctx.apply(&events);
    let Some(&start) = operands(&events).first() else {
        return;
    };
    let exec = super::has_mark(&events, "exec");
    ctx.out.wrapped = Some(Wrapped {
        start,
        chdir: None,
        line: (!exec).then(|| ctx.args[start..].join(" ")),
    });
    if !exec {
        ctx.out.prepend.push("-x");
    }
}

const TIME: &[Opt] = &[
    writes('o', &["output"]),
    flag('a', &["append"]),
    value('f', &["format"]),
    flag('p', &["portability"]),
    flag('v', &["verbose"]),
    flag('q', &["quiet"]),
    flag('\0', &["help"]),
    flag('V', &["version"]),
];

fn time(ctx: &mut Ctx<'_>) {
    simple(TIME, 0)(ctx)
}

const STRACE: &[Opt] = &[
    flag('f', &["follow-forks"]),
    flag('c', &["summary-only"]),
    flag('C', &["summary"]),
    flag('t', &[]),
    flag('T', &["syscall-times"]),
    flag('y', &["decode-fds"]),
    value('s', &["string-limit"]),
    value('e', &[]),
    writes('o', &["output"]),
    refused(
        'p',
        &["attach"],
        Arg::Required,
        Risk::State,
        "reads another process's memory",
    ),
    flag('q', &["quiet"]),
    flag('h', &["help"]),
    flag('V', &["version"]),
];

fn strace(ctx: &mut Ctx<'_>) {
    let Some(events) = ctx.getopt(STRACE, IN_ORDER) else {
        return;
    };
    ctx.apply(&events);
    // `-e trace=...` and friends only observe; `inject`/`fault` change results.
    for v in events.iter().filter_map(|e| match e {
        Event::Opt {
            opt: super::getopt::OptRef::Profile(o),
            value: Some(v),
            ..
        } if o.short == 'e' => Some(*v),
        _ => None,
    }) {
        let class = v.split('=').next().unwrap_or("");
        if matches!(class, "inject" | "fault" | "kvm") {
            let what = format!("`strace -e {v}`");
            ctx.refuse(
                Risk::State,
                &["-e"],
                what,
                "changes what the traced program's system calls do",
            );
        }
    }
    if let Some(&start) = operands(&events).first() {
        wrap(ctx, start, None);
    }
}

fn chroot(ctx: &mut Ctx<'_>) {
    ctx.refuse(
        Risk::Code,
        &[],
        "`chroot`",
        "changes what every path of the command means, so its command cannot be judged",
    );
}

const FLOCK: &[Opt] = &[
    flag('s', &["shared"]),
    flag('x', &["exclusive"]),
    flag('u', &["unlock"]),
    flag('n', &["nonblock"]),
    value('w', &["timeout"]),
    value('E', &["conflict-exit-code"]),
    flag('o', &["close"]),
    flag('\0', &["verbose"]),
    refused(
        'c',
        &["command"],
        Arg::Required,
        Risk::Code,
        "runs a shell command",
    ),
    flag('F', &["no-fork"]),
    flag('h', &["help"]),
    flag('V', &["version"]),
];

/// `flock FILE CMD...`: the lock file is created (written).
fn flock(ctx: &mut Ctx<'_>) {
    let Some(events) = ctx.getopt(FLOCK, IN_ORDER) else {
        return;
    };
    ctx.apply(&events);
    let ops = operands(&events);
    if let Some(&file) = ops.first() {
        let v = ctx.args[file].clone();
        if !v.bytes().all(|b| b.is_ascii_digit()) {
            ctx.file(&v, Access::Write);
        }
        if file + 1 < ctx.args.len() {
            wrap(ctx, file + 1, None);
        }
    }
}

const TASKSET: &[Opt] = &[
    flag('a', &["all-tasks"]),
    refused('p', &["pid"], Arg::None, Risk::State, OTHER_PROCESS),
    flag('c', &["cpu-list"]),
    flag('h', &["help"]),
    flag('V', &["version"]),
];

fn taskset(ctx: &mut Ctx<'_>) {
    simple(TASKSET, 1)(ctx)
}

pub(crate) const PROFILES: &[Profile] = &[
    Profile {
        names: &["env"],
        analyze: env,
    },
    Profile {
        names: &["timeout"],
        analyze: timeout,
    },
    Profile {
        names: &["nice"],
        analyze: nice,
    },
    Profile {
        names: &["ionice"],
        analyze: ionice,
    },
    Profile {
        names: &["nohup"],
        analyze: nohup,
    },
    Profile {
        names: &["stdbuf"],
        analyze: stdbuf,
    },
    Profile {
        names: &["setsid"],
        analyze: setsid,
    },
    Profile {
        names: &["xargs"],
        analyze: xargs,
    },
    Profile {
        names: &["watch"],
        analyze: watch,
    },
    Profile {
        names: &["time"],
        analyze: time,
    },
    Profile {
        names: &["strace"],
        analyze: strace,
    },
    Profile {
        names: &["chroot"],
        analyze: chroot,
    },
    Profile {
        names: &["flock"],
        analyze: flock,
    },
    Profile {
        names: &["taskset"],
        analyze: taskset,
    },
];
