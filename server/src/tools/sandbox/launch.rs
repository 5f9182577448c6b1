//! `ai-orchestrator sandbox-exec`: the confining launcher.
//!
//! The server runs its own binary with a spec file; the launcher confines
//! itself and then `exec`s the target, so every step is ordinary safe code
//! (no `pre_exec`). With namespaces it runs in two stages:
//!
//! 1. the first stage (single-threaded, dispatched before any runtime starts)
//!    unshares user, mount, PID (and, without network, network) namespaces and
//!    starts the second stage as its child, which is PID 1 of the new PID
//!    namespace; it then waits and exits with the child's status;
//! 2. the second stage makes its mounts private, masks the denied paths,
//!    mounts a fresh `/proc`, applies the resource limits and Landlock (which
//!    also sets `no_new_privs`), and `exec`s the target.
//!
//! Without namespaces the first stage does step 2 itself, minus the mounts.
//! Every stage shares the caller's process group, so the server's group
//! SIGKILL on a timeout reaches all of them (and the second stage dies with
//! the first through `PR_SET_PDEATHSIG`).

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, ExitStatus};

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, LandlockStatus, Ruleset,
    RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope, path_beneath_rules,
};
use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use nix::sys::resource::{Resource, setrlimit};
use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};

use super::spec::{Limits, MaskKind, SandboxSpec};

/// The subcommand name, dispatched in `main` before anything else runs.
pub const SUBCOMMAND: &str = "sandbox-exec";

/// Exit status when the launcher itself fails (like `env` and `timeout`).
pub const LAUNCH_FAILED: i32 = 125;
const NOT_FOUND: i32 = 127;
const NOT_EXECUTABLE: i32 = 126;

/// The Landlock ABI the launcher asks for; older kernels get the subset they
/// know (best effort), and what was enforced is reported.
const LANDLOCK_ABI: ABI = ABI::V7;

/// What a confined process ended up with, as the probe reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enforced {
    /// The Landlock ABI in force, when Landlock restricts the process.
    pub landlock_abi: Option<i32>,
    /// `full` or `partial` when Landlock is active, else `none`.
    pub landlock: String,
    /// Whether user, mount and PID namespaces are set up.
    pub namespaces: bool,
    /// Whether TCP connect/bind is refused (Landlock ABI ≥ 4, or a network namespace).
    pub network_denied: bool,
    /// Why a layer is missing, when one is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

enum Mode {
    Run,
    Probe,
}

/// Entry point of `ai-orchestrator sandbox-exec`; never returns when the
/// target runs. `args` are the arguments after the subcommand name.
pub fn main(args: &[OsString]) -> i32 {
    match dispatch(args) {
        Ok(code) => code,
        Err(message) => {
            let _ = writeln!(std::io::stderr(), "sandbox: {message}");
            LAUNCH_FAILED
        }
    }
}

fn dispatch(args: &[OsString]) -> Result<i32, String> {
    let words: Vec<&str> = args.iter().filter_map(|a| a.to_str()).collect();
    if words.len() != args.len() {
        return Err("arguments must be UTF-8".into());
    }
    match words.as_slice() {
        ["--probe", simulate @ ..] => {
            let spec = probe_spec(simulate);
            first_stage(&spec, None, Mode::Probe)
        }
        ["--inner-probe", simulate @ ..] => {
            let spec = probe_spec(simulate);
            final_stage(&spec, true, Mode::Probe)
        }
        ["--probe-direct", simulate @ ..] => {
            let spec = probe_spec(simulate);
            final_stage(&spec, false, Mode::Probe)
        }
        ["--inner", path] => final_stage(&read_spec(Path::new(path))?, true, Mode::Run),
        [path] => first_stage(&read_spec(Path::new(path))?, Some(path), Mode::Run),
        _ => Err(format!("usage: ai-orchestrator {SUBCOMMAND} <spec.json>")),
    }
}

fn read_spec(path: &Path) -> Result<SandboxSpec, String> {
    let text = std::fs::read(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    serde_json::from_slice(&text).map_err(|e| format!("spec {}: {e}", path.display()))
}

/// The spec the probe confines itself with: nothing readable, no network.
fn probe_spec(simulate: &[&str]) -> SandboxSpec {
    SandboxSpec {
        argv: Vec::new(),
        cwd: "/".into(),
        env: Vec::new(),
        read: Vec::new(),
        write: Vec::new(),
        network: false,
        masks: Vec::new(),
        limits: Limits::default(),
        namespaces: true,
        require_landlock: false,
        require_namespaces: false,
        simulate_missing: simulate.iter().map(|s| s.to_string()).collect(),
    }
}

fn first_stage(spec: &SandboxSpec, path: Option<&str>, mode: Mode) -> Result<i32, String> {
    if !spec.namespaces {
        return final_stage(spec, false, mode);
    }
    let entered = if spec.simulates_missing("namespaces") {
        Err("namespaces are simulated as missing (AI_SANDBOX_SIMULATE_MISSING)".to_string())
    } else {
        enter_namespaces(spec.network)
    };
    if let Err(why) = entered {
        if spec.require_namespaces {
            return Err(format!(
                "sandbox.require lists namespaces, but they cannot be set up: {why}"
            ));
        }
        if !spec.masks.is_empty() {
            // Running unmasked would expose what the deny globs hide.
            return Err(format!(
                "the paths the deny globs hide cannot be masked without namespaces: {why}"
            ));
        }
        return match mode {
            Mode::Probe => probe_without_namespaces(spec, why),
            Mode::Run => final_stage(spec, false, mode),
        };
    }
    let exe = std::env::current_exe().map_err(|e| format!("own executable: {e}"))?;
    let mut inner = Command::new(exe);
    inner.arg(SUBCOMMAND).env_clear();
    match (&mode, path) {
        (Mode::Run, Some(path)) => inner.args(["--inner", path]),
        _ => inner.arg("--inner-probe").args(&spec.simulate_missing),
    };
    let status = inner
        .status()
        .map_err(|e| format!("start the second stage: {e}"))?;
    match mode {
        Mode::Probe if !status.success() => {
            probe_without_namespaces(spec, format!("the namespace stage failed ({status})"))
        }
        _ => Ok(forward(status)),
    }
}

/// Exits the way the child did: its code, or the same signal where that
/// signal's default action ends the process.
fn forward(status: ExitStatus) -> i32 {
    if let Some(code) = status.code() {
        return code;
    }
    let signal = status.signal().unwrap_or(0);
    if let Ok(sig) = Signal::try_from(signal) {
        let _ = nix::sys::signal::raise(sig);
    }
    128 + signal
}

fn probe_without_namespaces(spec: &SandboxSpec, why: String) -> Result<i32, String> {
    // This process may already be in a new user namespace: Landlock is
    // probed in a fresh process instead.
    let exe = std::env::current_exe().map_err(|e| format!("own executable: {e}"))?;
    let out = Command::new(exe)
        .arg(SUBCOMMAND)
        .arg("--probe-direct")
        .args(&spec.simulate_missing)
        .env_clear()
        .output()
        .map_err(|e| format!("probe: {e}"))?;
    let mut enforced: Enforced = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("probe without namespaces: {e}"))?;
    enforced.notes.push(format!("namespaces: {why}"));
    print_report(&enforced)
}

fn print_report(enforced: &Enforced) -> Result<i32, String> {
    let json = serde_json::to_string(enforced).map_err(|e| e.to_string())?;
    println!("{json}");
    Ok(0)
}

/// User (mapping the caller to root inside), mount and PID namespaces, and
/// an empty network namespace when the network is not allowed.
fn enter_namespaces(network: bool) -> Result<(), String> {
    let uid = nix::unistd::getuid();
    let gid = nix::unistd::getgid();
    let mut flags = CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWPID;
    if !network {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    unshare(flags).map_err(|e| format!("unshare: {e}"))?;
    std::fs::write("/proc/self/setgroups", "deny").map_err(|e| format!("setgroups: {e}"))?;
    std::fs::write("/proc/self/uid_map", format!("0 {uid} 1"))
        .map_err(|e| format!("uid_map: {e}"))?;
    std::fs::write("/proc/self/gid_map", format!("0 {gid} 1"))
        .map_err(|e| format!("gid_map: {e}"))?;
    Ok(())
}

/// Mounts of the second stage: nothing propagates out, denied paths are
/// masked, and `/proc` shows only this PID namespace.
fn set_up_mounts(spec: &SandboxSpec) -> Result<(), String> {
    let none: Option<&str> = None;
    mount(none, "/", none, MsFlags::MS_REC | MsFlags::MS_PRIVATE, none)
        .map_err(|e| format!("make mounts private: {e}"))?;
    let quiet = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    for mask in &spec.masks {
        let done = match mask.kind {
            MaskKind::Dir => mount(
                Some("tmpfs"),
                &mask.path,
                Some("tmpfs"),
                quiet | MsFlags::MS_RDONLY,
                Some("size=4k,mode=0555"),
            ),
            MaskKind::File => mount(Some("/dev/null"), &mask.path, none, MsFlags::MS_BIND, none),
        };
        match done {
            Ok(()) => {}
            // Gone since it was planned: nothing left to hide.
            Err(nix::errno::Errno::ENOENT) => {}
            Err(e) => return Err(format!("mask {}: {e}", mask.path.display())),
        }
    }
    mount(Some("proc"), "/proc", Some("proc"), quiet, none)
        .map_err(|e| format!("mount a private /proc: {e}"))?;
    Ok(())
}

fn set_limits(limits: &Limits) -> Result<(), String> {
    let set = |resource: Resource, value: Option<u64>, name: &str| match value {
        Some(v) => setrlimit(resource, v, v).map_err(|e| format!("{name}: {e}")),
        None => Ok(()),
    };
    set(Resource::RLIMIT_NPROC, limits.processes, "RLIMIT_NPROC")?;
    set(Resource::RLIMIT_FSIZE, limits.file_size, "RLIMIT_FSIZE")?;
    set(Resource::RLIMIT_CPU, limits.cpu_seconds, "RLIMIT_CPU")?;
    set(Resource::RLIMIT_AS, limits.address_space, "RLIMIT_AS")?;
    set(Resource::RLIMIT_CORE, Some(0), "RLIMIT_CORE")
}

/// Empties the bounding set and every capability set, so that even a root
/// server's commands (and what they exec, with `no_new_privs`) hold no
/// capability: no `CAP_SYS_PTRACE` to read another process's memory or
/// environment, no `CAP_DAC_OVERRIDE`.
fn drop_capabilities() -> Result<(), String> {
    use rustix::thread::{CapabilitySet, CapabilitySets, remove_capability_from_bounding_set};
    for bit in 0..64u32 {
        if let Some(cap) = CapabilitySet::from_bits(1u64 << bit)
            && !cap.is_empty()
        {
            // Without CAP_SETPCAP there is nothing to drop (EPERM); unknown bits are EINVAL.
            let _ = remove_capability_from_bounding_set(cap);
        }
    }
    let empty = CapabilitySet::empty();
    rustix::thread::set_capabilities(
        None,
        CapabilitySets {
            effective: empty,
            permitted: empty,
            inheritable: empty,
        },
    )
    .map_err(|e| format!("drop capabilities: {e}"))
}

/// Restricts this process (and what it execs) to the spec's paths; without
/// network, no TCP connect or bind; no signals or abstract sockets outside.
fn apply_landlock(spec: &SandboxSpec) -> Result<(RulesetStatus, Option<i32>, bool), String> {
    let fail = |e: landlock::RulesetError| format!("landlock: {e}");
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(LANDLOCK_ABI))
        .map_err(fail)?;
    let mut handled_net: BitFlags<AccessNet> = BitFlags::EMPTY;
    if !spec.network {
        handled_net = AccessNet::BindTcp | AccessNet::ConnectTcp;
        ruleset = ruleset.handle_access(handled_net).map_err(fail)?;
    }
    let status = ruleset
        .scope(Scope::AbstractUnixSocket | Scope::Signal)
        .map_err(fail)?
        .create()
        .map_err(fail)?
        .add_rules(path_beneath_rules(
            &spec.read,
            AccessFs::from_read(LANDLOCK_ABI),
        ))
        .map_err(fail)?
        .add_rules(path_beneath_rules(
            &spec.write,
            AccessFs::from_all(LANDLOCK_ABI),
        ))
        .map_err(fail)?
        .restrict_self()
        .map_err(fail)?;
    let abi = match status.landlock {
        LandlockStatus::Available { effective_abi, .. } => Some(effective_abi as i32),
        _ => None,
    };
    let network_denied = !handled_net.is_empty() && abi.is_some_and(|v| v >= 4);
    Ok((status.ruleset, abi, network_denied))
}

fn final_stage(spec: &SandboxSpec, in_namespaces: bool, mode: Mode) -> Result<i32, String> {
    let mut enforced = Enforced {
        namespaces: in_namespaces,
        network_denied: in_namespaces && !spec.network,
        ..Enforced::default()
    };
    if in_namespaces {
        nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(|e| format!("pdeathsig: {e}"))?;
        set_up_mounts(spec)?;
    }
    set_limits(&spec.limits)?;
    drop_capabilities()?;
    nix::sys::prctl::set_no_new_privs().map_err(|e| format!("no_new_privs: {e}"))?;
    if spec.simulates_missing("landlock") {
        enforced.landlock = "none".into();
        enforced
            .notes
            .push("landlock: simulated as missing (AI_SANDBOX_SIMULATE_MISSING)".into());
    } else {
        let (status, abi, net) = apply_landlock(spec)?;
        enforced.landlock = match status {
            RulesetStatus::FullyEnforced => "full",
            RulesetStatus::PartiallyEnforced => "partial",
            RulesetStatus::NotEnforced => "none",
        }
        .into();
        enforced.landlock_abi = abi.filter(|_| status != RulesetStatus::NotEnforced);
        enforced.network_denied |= net;
        if status == RulesetStatus::NotEnforced {
            enforced
                .notes
                .push("landlock: not supported by this kernel".into());
        }
    }
    if spec.require_landlock && enforced.landlock_abi.is_none() {
        return Err(
            "sandbox.require lists landlock, but Landlock is not available on this host".into(),
        );
    }
    if let Mode::Probe = mode {
        return print_report(&enforced);
    }
    let (program, args) = spec
        .argv
        .split_first()
        .ok_or_else(|| "empty command".to_string())?;
    let error = Command::new(program)
        .args(args)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&spec.cwd)
        .exec();
    let _ = writeln!(std::io::stderr(), "{program}: {error}");
    Ok(match error.kind() {
        std::io::ErrorKind::NotFound => NOT_FOUND,
        _ => NOT_EXECUTABLE,
    })
}
