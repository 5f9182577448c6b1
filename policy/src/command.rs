//! Command decisions: a command line becomes argv (or pipeline stages), and
//! each stage is judged against the allowlist, its argument rules and the
//! path rules for every argument that names a file.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::{Serialize, Serializer};

use crate::document::{CommandPolicy, CommandRule, WriteTargets};
use crate::interpreters::inline_code_flag;
use crate::paths::{Access, PathRules, normalize, resolve};
use crate::profiles::{self, Analysis, Profile, Risk};
use crate::shell;

/// How deep wrappers may nest (`env nice timeout 5 ls`).
const MAX_WRAPPER_DEPTH: usize = 4;

/// What the server runs for one pipeline stage: the final argv, with the
/// arguments the server adds (`sed --sandbox`, git's safety settings), and
/// the environment it adds to the scrubbed one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RunStage {
    pub argv: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
}

/// Programs refused whatever the policy says: they run other programs with
/// other privileges or as shell built-ins.
pub const ALWAYS_REFUSED: &[&str] = &["sudo", "su", "doas", "eval", "exec", "pkexec", "runuser"];

/// Rule label used when shell syntax decided.
pub const SHELL_SYNTAX_RULE: &str = "shell-syntax";

/// A command decision: allowed or not, the argv that would run, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CommandDecision {
    pub allowed: bool,
    /// The line as given.
    pub command: String,
    /// The first (or only) pipeline stage.
    pub argv: Vec<String>,
    /// Every pipeline stage (one without a pipeline).
    pub stages: Vec<Vec<String>>,
    /// The rule that decided, e.g. `commands.allow[3] (git)` or `shell-syntax`.
    pub rule: String,
    /// Shown to the user and the model, and written to the audit log.
    pub reason: String,
    /// Wall-clock limit for the whole command.
    #[serde(serialize_with = "as_seconds")]
    pub max_runtime: Duration,
    /// Output kept per stream.
    pub max_output_bytes: u64,
    /// What the server runs when allowed: one entry per stage (empty when denied).
    pub run: Vec<RunStage>,
    /// Programs of the line that have no profile, judged by the generic rules only.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unprofiled: Vec<String>,
}

fn as_seconds<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs())
}

/// Built-in limits used when the policy sets none.
pub const DEFAULT_MAX_RUNTIME_SECONDS: u64 = 30;
pub const DEFAULT_MAX_OUTPUT_BYTES: u64 = 1024 * 1024;
pub const DEFAULT_TRUSTED_BIN_DIRS: &[&str] =
    &["/bin", "/usr/bin", "/usr/local/bin", "/sbin", "/usr/sbin"];
pub const DEFAULT_PROTECTED_PATHS: &[&str] = &[
    "/", "/bin", "/boot", "/etc", "/home", "/lib", "/opt", "/root", "/sbin", "/srv", "/usr", "/var",
];

#[derive(Debug)]
struct CompiledSub {
    name: String,
    targets: Option<Vec<String>>,
    every_arg: bool,
}

#[derive(Debug)]
struct CompiledRule {
    index: usize,
    subcommands: Option<Vec<CompiledSub>>,
    deny_args: GlobSet,
    deny_args_src: Vec<String>,
    recursive_flags: Vec<String>,
    writes: WriteTargets,
    write_flags: Vec<String>,
    allow_inline: Vec<Vec<String>>,
    allow_options: Vec<String>,
    /// `allowOptions` as getopt extras: `(spelling, takes a value)`.
    extra_options: Vec<(String, bool)>,
    max_runtime: u64,
    max_output: u64,
}

/// Compiled `commands` section.
#[derive(Debug)]
pub(crate) struct CommandRules {
    rules: Vec<CompiledRule>,
    by_program: HashMap<String, usize>,
    deny: HashMap<String, usize>,
    trusted_bin_dirs: Vec<PathBuf>,
    protected: Vec<PathBuf>,
    allow_pipelines: bool,
    max_runtime: u64,
    max_output: u64,
}

/// Why a stage was refused.
struct Denial {
    rule: String,
    reason: String,
}

fn denial(rule: impl Into<String>, reason: impl Into<String>) -> Denial {
    Denial {
        rule: rule.into(),
        reason: reason.into(),
    }
}

struct StageAllowed {
    rule: String,
    max_runtime: u64,
    max_output: u64,
    run: RunStage,
    unprofiled: Vec<String>,
}

/// What a stage is judged with.
#[derive(Clone, Copy)]
struct Judge<'a> {
    /// `None` when only the rules are evaluated (benchmarks).
    paths: Option<&'a PathRules>,
    /// Standard input comes from a previous stage.
    piped: bool,
    depth: usize,
}

/// A working directory is judged by the deny globs as if it were a file
/// inside itself: a name no glob but one matching everything below it matches.
const INSIDE_PROBE: &str = "\0";

/// Matches a flag as the policy names it: a long flag exactly or as
/// `--flag=value`, a single-letter flag also inside a cluster (`-r` in `-rf`).
pub(crate) fn flag_matches(flag: &str, arg: &str) -> bool {
    if arg == flag {
        return true;
    }
    if let Some(long) = flag.strip_prefix("--") {
        return arg
            .strip_prefix("--")
            .and_then(|a| a.strip_prefix(long))
            .is_some_and(|rest| rest.starts_with('='));
    }
    let mut letters = flag.chars().skip(1);
    match (flag.starts_with('-'), letters.next(), letters.next()) {
        (true, Some(letter), None) => match arg.strip_prefix('-') {
            Some(cluster) if !cluster.starts_with('-') => cluster
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .any(|c| c == letter),
            _ => false,
        },
        _ => false,
    }
}

impl CommandRules {
    /// Compiles a validated `commands` section.
    pub(crate) fn compile(doc: &CommandPolicy) -> Result<CommandRules, String> {
        let mut rules = Vec::with_capacity(doc.allow.len());
        let mut by_program = HashMap::new();
        let global_runtime = doc
            .max_runtime_seconds
            .unwrap_or(DEFAULT_MAX_RUNTIME_SECONDS);
        let global_output = doc.max_output_bytes.unwrap_or(DEFAULT_MAX_OUTPUT_BYTES);
        for (index, rule) in doc.allow.iter().enumerate() {
            by_program.entry(rule.program.clone()).or_insert(index);
            rules.push(compile_rule(index, rule, global_runtime, global_output)?);
        }
        let deny = doc
            .deny
            .iter()
            .enumerate()
            .rev()
            .map(|(i, p)| (p.clone(), i))
            .collect();
        let dirs = |list: &Option<Vec<String>>, default: &[&str]| -> Vec<PathBuf> {
            match list {
                Some(l) => l.iter().map(|d| normalize(Path::new(d))).collect(),
                None => default.iter().map(PathBuf::from).collect(),
            }
        };
        let mut protected = dirs(&doc.protected_paths, DEFAULT_PROTECTED_PATHS);
        let resolved: Vec<PathBuf> = protected.iter().filter_map(|p| resolve(p).ok()).collect();
        protected.extend(resolved);
        protected.sort();
        protected.dedup();
        Ok(CommandRules {
            rules,
            by_program,
            deny,
            trusted_bin_dirs: dirs(&doc.trusted_bin_dirs, DEFAULT_TRUSTED_BIN_DIRS),
            protected,
            allow_pipelines: doc.allow_pipelines.unwrap_or(false),
            max_runtime: global_runtime,
            max_output: global_output,
        })
    }

    /// Judges a command line run in `cwd`; without `paths` only the rules
    /// are evaluated, no path is resolved.
    pub(crate) fn check(
        &self,
        line: &str,
        cwd: &Path,
        paths: Option<&PathRules>,
    ) -> CommandDecision {
        let mut decision = CommandDecision {
            allowed: false,
            command: line.to_owned(),
            argv: Vec::new(),
            stages: Vec::new(),
            rule: String::new(),
            reason: String::new(),
            max_runtime: Duration::from_secs(self.max_runtime),
            max_output_bytes: self.max_output,
            run: Vec::new(),
            unprofiled: Vec::new(),
        };
        let stages = match shell::split(line) {
            Ok(stages) => stages,
            Err(syntax) => {
                decision.rule = SHELL_SYNTAX_RULE.into();
                decision.reason = syntax.to_string();
                return decision;
            }
        };
        decision.argv = stages.first().cloned().unwrap_or_default();
        decision.stages = stages;
        if decision.argv.is_empty() {
            decision.rule = "commands".into();
            decision.reason = "empty command".into();
            return decision;
        }
        if decision.stages.len() > 1 && !self.allow_pipelines {
            decision.rule = SHELL_SYNTAX_RULE.into();
            decision.reason =
                "shell syntax `|` (pipeline) is not allowed: commands.allowPipelines is off".into();
            return decision;
        }
        if !cwd.is_absolute() {
            decision.rule = "commands".into();
            decision.reason = format!(
                "the working directory `{}` is not an absolute path",
                cwd.display()
            );
            return decision;
        }
        if let Some(paths) = paths
            && let Some(rule) = working_directory_denied(cwd, paths)
        {
            decision.reason = format!(
                "the working directory `{}` is refused: a file inside it matches the deny glob {rule}",
                cwd.display()
            );
            decision.rule = rule;
            return decision;
        }
        let mut rules = Vec::with_capacity(decision.stages.len());
        let mut run = Vec::with_capacity(decision.stages.len());
        let mut unprofiled: Vec<String> = Vec::new();
        let (mut runtime, mut output) = (self.max_runtime, self.max_output);
        for (k, stage) in decision.stages.iter().enumerate() {
            let judge = Judge {
                paths,
                piped: k > 0,
                depth: 0,
            };
            match self.check_stage(stage, cwd, judge) {
                Ok(ok) => {
                    rules.push(ok.rule);
                    runtime = runtime.min(ok.max_runtime);
                    output = output.min(ok.max_output);
                    run.push(ok.run);
                    for name in ok.unprofiled {
                        if !unprofiled.contains(&name) {
                            unprofiled.push(name);
                        }
                    }
                }
                Err(d) => {
                    decision.rule = d.rule;
                    decision.reason = d.reason;
                    return decision;
                }
            }
        }
        decision.allowed = true;
        decision.run = run;
        decision.unprofiled = unprofiled;
        decision.rule = rules.join(" | ");
        decision.reason = format!("allowed by {}", decision.rule);
        decision.max_runtime = Duration::from_secs(runtime);
        decision.max_output_bytes = output;
        decision
    }

    /// The program name an argv[0] stands for, or why it is refused.
    fn program_name(&self, program: &str) -> Result<String, Denial> {
        if program.is_empty() {
            return Err(denial("commands", "empty program name"));
        }
        if !program.contains('/') {
            return Ok(program.to_owned());
        }
        if !program.starts_with('/') {
            return Err(denial(
                "commands.trustedBinDirs",
                format!(
                    "`{program}`: a program named by a relative path is refused; name it without a directory"
                ),
            ));
        }
        let normal = normalize(Path::new(program));
        let name = normal.file_name().and_then(|n| n.to_str());
        match (normal.parent(), name) {
            (Some(dir), Some(name)) if self.trusted_bin_dirs.iter().any(|t| t == dir) => {
                Ok(name.to_owned())
            }
            _ => Err(denial(
                "commands.trustedBinDirs",
                format!("`{program}` is not in a trusted bin directory (commands.trustedBinDirs)"),
            )),
        }
    }

    fn check_stage(
        &self,
        argv: &[String],
        cwd: &Path,
        judge: Judge<'_>,
    ) -> Result<StageAllowed, Denial> {
        let Some((program, args)) = argv.split_first() else {
            return Err(denial("commands", "empty command"));
        };
        let name = self.program_name(program)?;
        let name = name.as_str();
        if ALWAYS_REFUSED.contains(&name) {
            return Err(denial(
                "always-refused",
                format!("`{name}` is always refused"),
            ));
        }
        if let Some(i) = self.deny.get(name) {
            return Err(denial(
                format!("commands.deny[{i}] ({name})"),
                format!("`{name}` is denied by commands.deny[{i}]"),
            ));
        }
        let Some(&index) = self.by_program.get(name) else {
            return Err(denial(
                "commands.allow",
                format!("`{name}` is not in allowlist"),
            ));
        };
        let rule = &self.rules[index];
        let label = format!("commands.allow[{index}] ({name})");
        let allowed = StageAllowed {
            rule: label.clone(),
            max_runtime: rule.max_runtime,
            max_output: rule.max_output,
            run: RunStage::default(),
            unprofiled: Vec::new(),
        };
        let exact_inline = rule
            .allow_inline
            .iter()
            .position(|line| line.first().map(String::as_str) == Some(name) && line[1..] == *args);

        if let Some(profile) = profiles::profile(name) {
            return self.check_profiled(
                profile,
                rule,
                name,
                argv,
                cwd,
                judge,
                exact_inline,
                allowed,
            );
        }

        if let Some(flag) = inline_code_flag(name, args) {
            if let Some(k) = exact_inline {
                return Ok(StageAllowed {
                    rule: format!("commands.allow[{index}].allowInline[{k}]"),
                    run: generic_run(argv),
                    ..allowed
                });
            }
            return Err(denial(
                "interpreter-inline-code",
                format!(
                    "`{name} {flag}` runs inline code; only the exact lines in commands.allow[{}].allowInline may run",
                    rule.index
                ),
            ));
        }

        deny_args(rule, name, args, &[])?;

        // Positions of the non-flag arguments; `--` ends the flags.
        let mut operands: Vec<usize> = Vec::new();
        let mut flags: Vec<usize> = Vec::new();
        let mut after_dashes = false;
        for (i, arg) in args.iter().enumerate() {
            if after_dashes {
                operands.push(i);
            } else if arg == "--" {
                after_dashes = true;
            } else if arg.len() > 1 && arg.starts_with('-') {
                flags.push(i);
            } else {
                operands.push(i);
            }
        }

        let named = subcommands(
            rule,
            name,
            args,
            operands.first().copied(),
            operands.get(1..).unwrap_or(&[]),
        )?;
        let files: Vec<usize> = operands
            .iter()
            .copied()
            .filter(|p| !named.contains(p))
            .collect();

        if let Some(flag) = rule
            .recursive_flags
            .iter()
            .find(|f| flags.iter().any(|&i| flag_matches(f, &args[i])))
        {
            let targets: Vec<&str> = files.iter().map(|&p| args[p].as_str()).collect();
            self.check_protected(name, flag, &targets, cwd)?;
        }

        let write_all = rule.writes == WriteTargets::All
            || rule
                .write_flags
                .iter()
                .any(|f| flags.iter().any(|&i| flag_matches(f, &args[i])));
        let Some(paths) = judge.paths else {
            return Ok(StageAllowed {
                unprofiled: vec![name.to_owned()],
                run: generic_run(argv),
                ..allowed
            });
        };
        let last = files.last().copied();
        for &pos in &files {
            let access = if write_all || (rule.writes == WriteTargets::Last && Some(pos) == last) {
                Access::Write
            } else {
                Access::Read
            };
            check_argument(&args[pos], access, true, cwd, paths, name)?;
        }
        for &pos in &flags {
            let arg = &args[pos];
            let value = if arg.starts_with("--") {
                arg.split_once('=').map(|(_, v)| v)
            } else {
                arg.find('/').map(|i| &arg[i..])
            };
            if let Some(value) = value.filter(|v| is_path_like(v)) {
                let access = if write_all {
                    Access::Write
                } else {
                    Access::Read
                };
                check_argument(value, access, false, cwd, paths, name)?;
            }
        }
        Ok(StageAllowed {
            unprofiled: vec![name.to_owned()],
            run: generic_run(argv),
            ..allowed
        })
    }

    /// Refuses a recursive walk over a protected path.
    fn check_protected(
        &self,
        name: &str,
        flag: &str,
        targets: &[&str],
        cwd: &Path,
    ) -> Result<(), Denial> {
        for target in targets {
            let target = normalize(&cwd.join(target));
            let real = resolve(&target).unwrap_or_else(|_| target.clone());
            if self.protected.iter().any(|p| *p == target || *p == real) {
                return Err(denial(
                    "commands.protectedPaths",
                    format!(
                        "`{name} {flag}` on the protected path `{}` is refused",
                        target.display()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Judges a program with a profile: its options as the program reads
    /// them, every file its options and operands name, and any command it runs.
    #[allow(clippy::too_many_arguments)]
    fn check_profiled(
        &self,
        profile: &Profile,
        rule: &CompiledRule,
        name: &str,
        argv: &[String],
        cwd: &Path,
        judge: Judge<'_>,
        exact_inline: Option<usize>,
        allowed: StageAllowed,
    ) -> Result<StageAllowed, Denial> {
        let index = rule.index;
        let args = &argv[1..];
        let forms = !(rule.deny_args_src.is_empty()
            && rule.recursive_flags.is_empty()
            && rule.write_flags.is_empty());
        let analysis =
            profiles::analyze(profile, name, args, &rule.extra_options, judge.piped, forms);
        if let Some(k) = exact_inline {
            return Ok(StageAllowed {
                rule: format!("commands.allow[{index}].allowInline[{k}]"),
                run: final_run(&argv[0], args, &analysis),
                ..allowed
            });
        }
        deny_args(rule, name, args, &analysis.forms)?;
        subcommands(
            rule,
            name,
            args,
            analysis.subcommand.or_else(|| first_operand(args)),
            &analysis.sub_operands,
        )?;
        for refusal in &analysis.refusals {
            let by_subcommand = refusal.subcommand.as_ref().is_some_and(|sub| {
                rule.subcommands
                    .as_ref()
                    .is_some_and(|subs| subs.iter().any(|s| s.name == *sub))
            });
            if by_subcommand || profiles::lifted(refusal, &rule.allow_options) {
                continue;
            }
            let how = match refusal.risk {
                Risk::Code => format!(
                    "; only an exact line in commands.allow[{index}].allowInline may run it"
                ),
                Risk::Never => String::new(),
                _ if refusal.subcommand.is_some() => String::new(),
                _ => format!("; commands.allow[{index}].allowOptions can allow it"),
            };
            return Err(denial(
                format!("profile ({name})"),
                format!("{} {}{how}", refusal.what, refusal.why),
            ));
        }

        // The policy's own flag lists, matched against every spelling.
        let given = |list: &[String]| {
            list.iter()
                .find(|f| {
                    analysis.forms.iter().any(|g| g == *f)
                        || args.iter().any(|a| flag_matches(f, a))
                })
                .cloned()
        };
        let recursive_flag = if analysis.recursive {
            Some(String::from("(recursive)"))
        } else {
            given(&rule.recursive_flags)
        };
        if let Some(flag) = &recursive_flag {
            let mut targets: Vec<String> = Vec::with_capacity(analysis.walks.len());
            for w in &analysis.walks {
                targets.push(match &w.base {
                    Some(b) => format!("{b}/{}", w.value),
                    None => w.value.clone(),
                });
            }
            if analysis.walks.is_empty() {
                targets.extend(analysis.files.iter().map(|f| f.value.clone()));
            }
            let refs: Vec<&str> = targets.iter().map(String::as_str).collect();
            let flag = if flag == "(recursive)" {
                "walking"
            } else {
                flag.as_str()
            };
            self.check_protected(name, flag, &refs, cwd)?;
        }
        let write_all = rule.writes == WriteTargets::All || given(&rule.write_flags).is_some();

        if let Some(paths) = judge.paths {
            let last_operand = analysis.files.len().checked_sub(1);
            for (k, f) in analysis.files.iter().enumerate() {
                let access = if write_all
                    || (rule.writes == WriteTargets::Last && Some(k) == last_operand)
                {
                    Access::Write
                } else {
                    f.access
                };
                let dir = match &f.base {
                    Some(b) => normalize(&cwd.join(b)),
                    None => cwd.to_path_buf(),
                };
                if f.deny_globs_only {
                    if let Some(rule) = paths.deny_glob_for(&dir.join(&f.value)) {
                        return Err(denial(
                            rule.clone(),
                            format!(
                                "`{name}` argument `{}`: matches the deny glob {rule}",
                                f.value
                            ),
                        ));
                    }
                    continue;
                }
                check_argument(&f.value, access, false, &dir, paths, name)?;
            }
        }

        let mut result = StageAllowed {
            run: final_run(&argv[0], args, &analysis),
            ..allowed
        };
        if let Some(wrapped) = &analysis.wrapped {
            if judge.depth >= MAX_WRAPPER_DEPTH {
                return Err(denial(
                    format!("profile ({name})"),
                    format!("`{name}`: wrappers nest deeper than {MAX_WRAPPER_DEPTH}"),
                ));
            }
            let inner: Vec<String> = match &wrapped.line {
                Some(line) => {
                    let mut stages = shell::split(line).map_err(|e| {
                        denial(
                            SHELL_SYNTAX_RULE,
                            format!("`{name}` runs its command through a shell: {e}"),
                        )
                    })?;
                    if stages.len() != 1 {
                        return Err(denial(
                            SHELL_SYNTAX_RULE,
                            format!("`{name}` would run a pipeline through a shell"),
                        ));
                    }
                    stages.remove(0)
                }
                None => args[wrapped.start..].to_vec(),
            };
            let inner_cwd = match &wrapped.chdir {
                Some(d) => normalize(&cwd.join(d)),
                None => cwd.to_path_buf(),
            };
            let inner_judge = Judge {
                depth: judge.depth + 1,
                ..judge
            };
            let ok = self
                .check_stage(&inner, &inner_cwd, inner_judge)
                .map_err(|d| Denial {
                    rule: d.rule,
                    reason: format!("`{name}` runs a command that is refused: {}", d.reason),
                })?;
            // The wrapper's own arguments, then what the server runs for the wrapped command.
            let mut argv_out: Vec<String> =
                Vec::with_capacity(result.run.argv.len() + ok.run.argv.len());
            let own = result.run.argv.len() - (args.len() - wrapped.start);
            argv_out.extend(result.run.argv[..own].iter().cloned());
            argv_out.extend(ok.run.argv);
            result.run.argv = argv_out;
            result.run.env.extend(ok.run.env);
            result.rule = format!("{} > {}", result.rule, ok.rule);
            result.max_runtime = result.max_runtime.min(ok.max_runtime);
            result.max_output = result.max_output.min(ok.max_output);
            result.unprofiled = ok.unprofiled;
        }
        Ok(result)
    }
}

/// The first argument that is not a flag (a subcommand).
fn first_operand(args: &[String]) -> Option<usize> {
    let mut dashes = false;
    for (i, a) in args.iter().enumerate() {
        if dashes || a == "-" || !a.starts_with('-') {
            return Some(i);
        }
        if a == "--" {
            dashes = true;
        }
    }
    None
}

/// An unprofiled program runs as written.
fn generic_run(argv: &[String]) -> RunStage {
    RunStage {
        argv: argv.to_vec(),
        env: BTreeMap::new(),
    }
}

/// The argv the server runs: the program, the server's additions, the
/// caller's arguments (or the profile's equivalent rewrite).
fn final_run(program: &str, args: &[String], analysis: &Analysis) -> RunStage {
    let rest: &[String] = analysis.replace_args.as_deref().unwrap_or(args);
    let extra = analysis.insert_after.map_or(0, |(_, v)| v.len());
    let mut argv = Vec::with_capacity(1 + analysis.prepend.len() + rest.len() + extra);
    argv.push(program.to_owned());
    argv.extend(analysis.prepend.iter().map(|a| a.to_string()));
    for (i, a) in rest.iter().enumerate() {
        argv.push(a.clone());
        if let Some((at, insert)) = analysis.insert_after
            && at == i
        {
            argv.extend(insert.iter().map(|a| a.to_string()));
        }
    }
    RunStage {
        argv,
        env: analysis
            .env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

/// `denyArgs`, matched against each argument as written and against every
/// spelling of the options a profile found (`--in-pl` is `--in-place`).
fn deny_args(
    rule: &CompiledRule,
    name: &str,
    args: &[String],
    forms: &[String],
) -> Result<(), Denial> {
    if rule.deny_args_src.is_empty() {
        return Ok(());
    }
    for arg in args.iter().chain(forms) {
        if let Some(k) = rule.deny_args.matches(arg.as_str()).into_iter().min() {
            let index = rule.index;
            return Err(denial(
                format!(
                    "commands.allow[{index}].denyArgs[{k}] ({})",
                    rule.deny_args_src[k]
                ),
                format!("argument `{arg}` of `{name}` is refused"),
            ));
        }
    }
    Ok(())
}

/// The rule's `subcommands` and `targets`; returns the positions that name
/// a subcommand or a target (identifiers, not files).
fn subcommands(
    rule: &CompiledRule,
    name: &str,
    args: &[String],
    sub_pos: Option<usize>,
    rest: &[usize],
) -> Result<Vec<usize>, Denial> {
    let index = rule.index;
    let mut named = Vec::new();
    let Some(subs) = &rule.subcommands else {
        return Ok(named);
    };
    let names = || {
        subs.iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(sub_pos) = sub_pos else {
        return Err(denial(
            format!("commands.allow[{index}].subcommands"),
            format!("`{name}` needs one of the subcommands: {}", names()),
        ));
    };
    let given = &args[sub_pos];
    let Some((k, sub)) = subs.iter().enumerate().find(|(_, s)| s.name == *given) else {
        return Err(denial(
            format!("commands.allow[{index}].subcommands"),
            format!(
                "`{name} {given}` is not allowed; allowed subcommands: {}",
                names()
            ),
        ));
    };
    named.push(sub_pos);
    if let Some(targets) = &sub.targets {
        let checked: &[usize] = if sub.every_arg {
            rest
        } else {
            rest.get(..1).unwrap_or(&[])
        };
        if checked.is_empty() {
            return Err(denial(
                format!("commands.allow[{index}].subcommands[{k}].targets"),
                format!(
                    "`{name} {given}` needs one of the targets: {}",
                    targets.join(", ")
                ),
            ));
        }
        for &pos in checked {
            if !targets.iter().any(|t| *t == args[pos]) {
                return Err(denial(
                    format!("commands.allow[{index}].subcommands[{k}].targets"),
                    format!(
                        "`{name} {given}` may only target: {} (not `{}`)",
                        targets.join(", "),
                        args[pos]
                    ),
                ));
            }
            named.push(pos);
        }
    }
    Ok(named)
}

/// The deny glob that refuses `cwd` as a working directory, if any.
fn working_directory_denied(cwd: &Path, paths: &PathRules) -> Option<String> {
    let normal = normalize(cwd);
    let real = resolve(&normal).unwrap_or_else(|_| normal.clone());
    [normal, real]
        .iter()
        .find_map(|dir| paths.deny_glob_for(&dir.join(INSIDE_PROBE)))
}

/// Absolute, home-relative, containing a separator, or a dot directory.
fn is_path_like(arg: &str) -> bool {
    arg.starts_with('/') || arg.starts_with('~') || arg.contains('/') || arg == "." || arg == ".."
}

/// Judges one argument that may name a file.
///
/// Path-like arguments are judged in full. A bare word is judged in full
/// when written to or when a file of that name exists in `cwd`; otherwise it
/// is most likely not a file (a pattern, a format) and only the deny globs
/// apply.
fn check_argument(
    arg: &str,
    access: Access,
    bare_allowed: bool,
    cwd: &Path,
    paths: &PathRules,
    program: &str,
) -> Result<(), Denial> {
    let joined = cwd.join(arg);
    let mut candidates = vec![joined.clone()];
    if (arg == "~" || arg.starts_with("~/"))
        && let Some(home) = std::env::var_os("HOME")
    {
        candidates
            .push(PathBuf::from(home).join(arg.trim_start_matches('~').trim_start_matches('/')));
    }
    let judge_fully = !bare_allowed
        || is_path_like(arg)
        || access == Access::Write
        || std::fs::symlink_metadata(&joined).is_ok();
    for candidate in candidates {
        if judge_fully {
            let d = paths.check(&candidate, access);
            if !d.allowed {
                return Err(denial(
                    d.rule,
                    format!("`{program}` argument `{arg}`: {}", d.reason),
                ));
            }
        } else if let Some(rule) = paths.deny_glob_for(&candidate) {
            return Err(denial(
                rule.clone(),
                format!("`{program}` argument `{arg}`: matches the deny glob {rule}"),
            ));
        }
    }
    Ok(())
}

fn compile_rule(
    index: usize,
    rule: &CommandRule,
    runtime: u64,
    output: u64,
) -> Result<CompiledRule, String> {
    let mut builder = GlobSetBuilder::new();
    for pattern in &rule.deny_args {
        builder.add(Glob::new(pattern).map_err(|e| e.to_string())?);
    }
    let allow_inline = rule
        .allow_inline
        .iter()
        .map(|line| {
            let mut stages = shell::split(line).map_err(|e| e.to_string())?;
            match stages.len() {
                1 => Ok(stages.remove(0)),
                _ => Err(format!("`{line}` is a pipeline")),
            }
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(CompiledRule {
        index,
        subcommands: rule.subcommands.as_ref().map(|subs| {
            subs.iter()
                .map(|s| CompiledSub {
                    name: s.name.clone(),
                    targets: s.targets.clone(),
                    every_arg: s.every_arg_is_target.unwrap_or(false),
                })
                .collect()
        }),
        deny_args: builder.build().map_err(|e| e.to_string())?,
        deny_args_src: rule.deny_args.clone(),
        recursive_flags: rule.recursive_flags.clone(),
        writes: rule.writes,
        write_flags: rule.write_flags.clone(),
        allow_inline,
        allow_options: rule.allow_options.clone(),
        extra_options: rule
            .allow_options
            .iter()
            .filter(|o| !profiles::knows(&rule.program, o))
            .map(|o| (o.trim_end_matches('=').to_owned(), o.ends_with('=')))
            .collect(),
        max_runtime: rule.max_runtime_seconds.map_or(runtime, |r| r.min(runtime)),
        max_output: rule.max_output_bytes.map_or(output, |o| o.min(output)),
    })
}
