//! The admission decisions, pure: what the API server is told about a new or
//! changed AccessPolicy or Orchestrator, given the other objects of its
//! namespace. The same validation the reconcile and the server run, plus
//! the check that matters most to a cluster: every Orchestrator that would
//! select the policy still gets a valid merged policy whose examples pass.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::ResourceExt;
use policy::contract::{
    ApiKeyEntry, Problem, Scope, api_key_sha256, parse_api_keys, render_api_keys,
};

use crate::crd::{AccessPolicy, Orchestrator};
use crate::render::{self, PolicySet};

/// What the API server is told.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Why the object is refused; `None` admits it.
    pub denied: Option<String>,
    /// Legal but risky: shown by `kubectl` and admitted.
    pub warnings: Vec<String>,
}

impl Verdict {
    fn deny(message: impl Into<String>) -> Verdict {
        Verdict {
            denied: Some(message.into()),
            warnings: Vec::new(),
        }
    }

    pub fn allowed(&self) -> bool {
        self.denied.is_none()
    }
}

/// The objects of the namespace the reviewed object lives in, as stored now.
#[derive(Clone, Debug, Default)]
pub struct Namespace {
    pub orchestrators: Vec<Orchestrator>,
    pub policies: Vec<AccessPolicy>,
}

/// Directories a write root should not be: the agent could change the system.
const SYSTEM_DIRS: &[&str] = &[
    "/", "/bin", "/boot", "/dev", "/etc", "/lib", "/lib64", "/proc", "/root", "/sbin", "/sys",
    "/usr", "/var",
];

/// The decision on a created or updated AccessPolicy.
pub fn review_access_policy(policy: &AccessPolicy, ns: &Namespace) -> Verdict {
    let name = policy.name_any();
    if let Err(errors) = render::validate_policy(policy) {
        return Verdict::deny(format!("AccessPolicy {name} is invalid:\n{errors}"));
    }
    let mut warnings = risky_rules(policy);
    let others: Vec<&AccessPolicy> = ns
        .policies
        .iter()
        .filter(|p| p.name_any() != name)
        .collect();
    let mut bound = Vec::new();
    for orch in ns
        .orchestrators
        .iter()
        .filter(|o| render::selects(o, policy))
    {
        let orch_name = orch.name_any();
        bound.push(orch_name.clone());
        let before = render::policy_set(orch, ns.policies.iter());
        let after = render::policy_set(orch, others.iter().copied().chain([policy]));
        let merged_before = render::merge_policies(orch, &before).merge_error;
        if let Some(error) = render::merge_policies(orch, &after).merge_error {
            let message = format!(
                "with AccessPolicy {name}, the merged policy of Orchestrator {orch_name} is invalid \
                 (its examples are checked against the merge of all its policies):\n{error}"
            );
            if merged_before.is_none() {
                return Verdict::deny(message);
            }
            warnings.push(format!(
                "the merged policy of Orchestrator {orch_name} is already invalid; the last good one stays in force"
            ));
        }
        if let Some(clash) = api_key_clash(&after, &name)
            && api_key_clash(&before, &name).is_none()
        {
            return Verdict::deny(format!("Orchestrator {orch_name}: {clash}"));
        }
    }
    if bound.is_empty() {
        warnings.push(format!(
            "no Orchestrator in namespace {} selects this policy yet; it takes effect once a policySelector matches its labels",
            policy.namespace().unwrap_or_default()
        ));
    }
    Verdict {
        denied: None,
        warnings,
    }
}

/// A key name declared twice among the set's keys, involving `policy`, as
/// the server's `api-keys.json` parser reports it.
fn api_key_clash(set: &PolicySet, policy: &str) -> Option<String> {
    // The key values live in Secrets the webhook does not read: stand-in
    // hashes, unique per declaration, leave only the name rule to check.
    let mut entries: Vec<(&str, ApiKeyEntry)> = set
        .api_keys
        .iter()
        .map(|(owner, key)| {
            (
                owner.as_str(),
                ApiKeyEntry {
                    name: key.name.clone(),
                    sha256: api_key_sha256(format!("{owner}\0{}", key.name).as_bytes()),
                    scopes: key.scopes.clone(),
                    expires_at: None,
                },
            )
        })
        .collect();
    entries.sort_by(|a, b| a.1.name.cmp(&b.1.name));
    let list: Vec<ApiKeyEntry> = entries.iter().map(|(_, e)| e.clone()).collect();
    let error = parse_api_keys(render_api_keys(&list).as_bytes()).err()?;
    let Problem::Duplicate(key) = &error.problem else {
        return None;
    };
    let owners: BTreeSet<&str> = entries
        .iter()
        .filter(|(_, e)| &e.name == key)
        .map(|(owner, _)| *owner)
        .collect();
    owners.contains(policy).then(|| {
        format!(
            "API key name {key:?} is declared by AccessPolicies {}; names must be unique per server",
            owners.into_iter().collect::<Vec<_>>().join(", ")
        )
    })
}

/// What is legal but deserves a second look.
fn risky_rules(policy: &AccessPolicy) -> Vec<String> {
    let spec = &policy.spec;
    let mut warnings = Vec::new();
    for (i, root) in spec.paths.write.iter().enumerate() {
        let trimmed = root.trim_end_matches('/');
        let dir = if trimmed.is_empty() { "/" } else { trimmed };
        if SYSTEM_DIRS.contains(&dir) {
            warnings.push(format!(
                "paths.write[{i}]: {root:?} is a system directory; the agent could change the system itself"
            ));
        }
        for (j, read) in spec.paths.read.iter().enumerate() {
            if read != root && within(read, dir) {
                warnings.push(format!(
                    "paths.write[{i}]: {root:?} contains read root paths.read[{j}] {read:?}, which is then writable too"
                ));
            }
        }
    }
    if spec.commands.allow_pipelines == Some(true) {
        warnings.push(
            "commands.allowPipelines: pipelines let one allowed program feed another; each stage is still checked"
                .to_string(),
        );
    }
    for (i, key) in spec.api_keys.iter().enumerate() {
        if key.scopes.contains(&Scope::Admin) && key.expires_at.is_none() {
            warnings.push(format!(
                "apiKeys[{i}]: {:?} has the admin scope and no expiresAt",
                key.name
            ));
        }
    }
    warnings
}

fn within(path: &str, dir: &str) -> bool {
    dir == "/" || path == dir || path.starts_with(&format!("{dir}/"))
}

/// The decision on a created or updated Orchestrator: refuse what would
/// never reconcile.
pub fn review_orchestrator(orch: &Orchestrator, ns: &Namespace) -> Verdict {
    if let Err(error) = render::check_spec(orch) {
        return Verdict::deny(format!("Orchestrator {}: {error}", orch.name_any()));
    }
    let mut warnings = Vec::new();
    if let Some(selector) = &orch.spec.policy_selector {
        if let Some(why) = never_matches(selector) {
            return Verdict::deny(format!(
                "Orchestrator {}: spec.policySelector can never match: {why}",
                orch.name_any()
            ));
        }
        let set = render::policy_set(orch, ns.policies.iter());
        if set.verdicts.is_empty() {
            warnings.push(format!(
                "spec.policySelector selects no AccessPolicy in namespace {} yet; the server runs with the base rules",
                orch.namespace().unwrap_or_default()
            ));
        }
        for verdict in &set.verdicts {
            if verdict.result.is_err() {
                warnings.push(format!(
                    "selected AccessPolicy {} is invalid and left out",
                    verdict.name
                ));
            }
        }
        if let Some(error) = render::merge_policies(orch, &set).merge_error {
            warnings.push(format!(
                "the merged policy of the selected AccessPolicies is invalid, so none is applied: {}",
                error.lines().next().unwrap_or_default()
            ));
        }
    }
    Verdict {
        denied: None,
        warnings,
    }
}

/// The decision on `kubectl scale` (the scale subresource) of `orch`.
pub fn review_scale(orch: &Orchestrator, replicas: i32) -> Verdict {
    let mut scaled = orch.clone();
    scaled.spec.replicas = replicas;
    match render::check_spec(&scaled) {
        Ok(()) => Verdict::default(),
        Err(error) => Verdict::deny(format!("Orchestrator {}: {error}", orch.name_any())),
    }
}

/// Why no set of labels can satisfy `selector`, if so.
pub fn never_matches(selector: &LabelSelector) -> Option<String> {
    // Per key: the values allowed (None = any), whether it must exist or must not.
    #[derive(Default)]
    struct Key {
        allowed: Option<BTreeSet<String>>,
        excluded: BTreeSet<String>,
        exists: bool,
        absent: bool,
    }
    fn allow(keys: &mut BTreeMap<String, Key>, key: &str, values: BTreeSet<String>) {
        let entry = keys.entry(key.to_string()).or_default();
        entry.exists = true;
        entry.allowed = Some(match entry.allowed.take() {
            Some(before) => before.intersection(&values).cloned().collect(),
            None => values,
        });
    }
    let mut keys: BTreeMap<String, Key> = BTreeMap::new();
    for (key, value) in selector.match_labels.iter().flatten() {
        allow(&mut keys, key, BTreeSet::from([value.clone()]));
    }
    for expression in selector.match_expressions.iter().flatten() {
        let values: BTreeSet<String> = expression.values.iter().flatten().cloned().collect();
        match expression.operator.as_str() {
            "In" => allow(&mut keys, &expression.key, values),
            "NotIn" => keys
                .entry(expression.key.clone())
                .or_default()
                .excluded
                .extend(values),
            "Exists" => keys.entry(expression.key.clone()).or_default().exists = true,
            "DoesNotExist" => keys.entry(expression.key.clone()).or_default().absent = true,
            _ => {}
        }
    }
    for (key, k) in &keys {
        if k.exists && k.absent {
            return Some(format!("label {key} must both exist and not exist"));
        }
        if let Some(allowed) = &k.allowed
            && allowed.iter().all(|v| k.excluded.contains(v))
        {
            return Some(format!(
                "no value of label {key} satisfies every requirement"
            ));
        }
    }
    None
}
