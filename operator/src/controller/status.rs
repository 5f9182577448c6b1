//! The status of Orchestrators (conditions `Ready`, `PolicyValid`,
//! `Progressing`, `Degraded`) and AccessPolicies (valid, message, bound).
//! Computing a status is pure; only `write_degraded` and
//! `update_policy_statuses` write.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::runtime::events::EventType;
use kube::{Client, Resource, ResourceExt};

use super::{Context, Error, apply, events};
use crate::crd::{AccessPolicy, AccessPolicyStatus, Orchestrator, OrchestratorStatus};
use crate::render;

/// Writes the Degraded status for `error`, unless the object already shows it.
pub async fn write_degraded(
    client: &Client,
    ns: &str,
    name: &str,
    orch: &Orchestrator,
    error: &Error,
    now: Timestamp,
) -> Result<(), Error> {
    let status = failed_status(orch, error, now);
    if orch.status.as_ref() != Some(&status) {
        apply::patch_status(client, ns, name, &status).await?;
    }
    Ok(())
}

/// A condition, keeping the previous transition time when the status is unchanged.
fn condition(
    previous: &[Condition],
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: Timestamp,
) -> Condition {
    let status = if status { "True" } else { "False" };
    let since = previous
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or(Time(now));
    Condition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: reason.to_string(),
        message: message.to_string(),
        observed_generation: generation,
        last_transition_time: since,
    }
}

fn previous_conditions(orch: &Orchestrator) -> Vec<Condition> {
    orch.status
        .as_ref()
        .map(|s| s.conditions.clone())
        .unwrap_or_default()
}

fn policy_condition(
    orch: &Orchestrator,
    outcome: &render::PolicyOutcome,
    now: Timestamp,
) -> Condition {
    let prev = previous_conditions(orch);
    let generation = orch.metadata.generation;
    let mut problems: Vec<String> = outcome
        .invalid
        .iter()
        .map(|(name, message)| format!("AccessPolicy {name} left out: {message}"))
        .collect();
    if let Some(e) = &outcome.merge_error {
        problems.push(format!("merged policy invalid, last good policy kept: {e}"));
    }
    if problems.is_empty() {
        condition(
            &prev,
            "PolicyValid",
            true,
            "Valid",
            "every selected AccessPolicy is valid",
            generation,
            now,
        )
    } else {
        let reason = if outcome.merge_error.is_some() {
            "MergedPolicyInvalid"
        } else {
            "AccessPolicyInvalid"
        };
        condition(
            &prev,
            "PolicyValid",
            false,
            reason,
            &problems.join("; "),
            generation,
            now,
        )
    }
}

/// Status after a successful apply.
pub fn success_status(
    orch: &Orchestrator,
    rendered: &render::Rendered,
    deployment: &Deployment,
    now: Timestamp,
) -> OrchestratorStatus {
    let prev = previous_conditions(orch);
    let generation = orch.metadata.generation;
    let desired = orch.spec.replicas;
    let ds = deployment.status.clone().unwrap_or_default();
    let ready = ds.ready_replicas.unwrap_or(0);
    let updated = ds.updated_replicas.unwrap_or(0);
    let caught_up = ds.observed_generation.is_some()
        && ds.observed_generation >= deployment.metadata.generation;
    let is_ready = ready >= desired;
    let progressing = !(is_ready && updated >= desired && caught_up);
    let mut conditions = vec![
        condition(
            &prev,
            "Ready",
            is_ready,
            if is_ready {
                "ServerReady"
            } else {
                "ServerNotReady"
            },
            &format!("{ready}/{desired} server pods ready"),
            generation,
            now,
        ),
        policy_condition(orch, &rendered.policy, now),
        condition(
            &prev,
            "Progressing",
            progressing,
            if progressing {
                "RollingOut"
            } else {
                "Complete"
            },
            if progressing {
                "waiting for the server pods to be updated and ready"
            } else {
                "all server pods are up to date"
            },
            generation,
            now,
        ),
        condition(
            &prev,
            "Degraded",
            false,
            "Reconciled",
            "all objects applied",
            generation,
            now,
        ),
    ];
    conditions.sort_by(|a, b| a.type_.cmp(&b.type_));
    // Keep the previous policy hash when the merged policy was refused (the last good one is in force).
    let policy_hash = rendered
        .policy
        .hash
        .clone()
        .or_else(|| orch.status.as_ref().and_then(|s| s.policy_hash.clone()));
    OrchestratorStatus {
        observed_generation: generation,
        conditions,
        ready_replicas: Some(ready),
        replicas: Some(ds.replicas.unwrap_or(0)),
        selector: Some(render::pod_selector(&orch.name_any())),
        policy_hash,
        applied_policies: rendered.policy.applied.clone(),
        url: Some(rendered.url.clone()),
        openai_url: rendered.openai_url.clone(),
        mcp_url: rendered.mcp_url.clone(),
    }
}

/// Status after a reconcile that could not render: Degraded with the reason,
/// everything else as it was.
pub fn failed_status(orch: &Orchestrator, error: &Error, now: Timestamp) -> OrchestratorStatus {
    let prev = previous_conditions(orch);
    let generation = orch.metadata.generation;
    let mut status = orch.status.clone().unwrap_or_default();
    let message = error.to_string();
    let mut conditions: BTreeMap<String, Condition> =
        prev.iter().map(|c| (c.type_.clone(), c.clone())).collect();
    conditions.insert(
        "Degraded".into(),
        condition(
            &prev,
            "Degraded",
            true,
            error.reason(),
            &message,
            generation,
            now,
        ),
    );
    conditions.entry("Ready".into()).or_insert_with(|| {
        condition(
            &prev,
            "Ready",
            false,
            error.reason(),
            &message,
            generation,
            now,
        )
    });
    status.conditions = conditions.into_values().collect();
    status.observed_generation = generation;
    status
}

/// The status of `policy`: its own validity and the Orchestrators of its
/// namespace that select it, as fields and as the `Valid` and `Bound`
/// conditions.
pub fn policy_status(
    policy: &AccessPolicy,
    verdict: &Result<(), String>,
    orchestrators: &[Arc<Orchestrator>],
    now: Timestamp,
) -> AccessPolicyStatus {
    let mut bound_to: Vec<String> = orchestrators
        .iter()
        .filter(|o| render::selects(o, policy))
        .map(|o| o.name_any())
        .collect();
    bound_to.sort();
    let previous = policy
        .status
        .as_ref()
        .map(|s| s.conditions.clone())
        .unwrap_or_default();
    let generation = policy.metadata.generation;
    let valid = match verdict {
        Ok(()) => condition(
            &previous,
            "Valid",
            true,
            "Valid",
            "the rules pass the server's validation",
            generation,
            now,
        ),
        Err(errors) => condition(
            &previous, "Valid", false, "Invalid", errors, generation, now,
        ),
    };
    let bound = if bound_to.is_empty() {
        condition(
            &previous,
            "Bound",
            false,
            "NotSelected",
            "no Orchestrator of this namespace selects this policy",
            generation,
            now,
        )
    } else {
        condition(
            &previous,
            "Bound",
            true,
            "Selected",
            &format!("merged into {}", bound_to.join(", ")),
            generation,
            now,
        )
    };
    AccessPolicyStatus {
        observed_generation: generation,
        valid: Some(verdict.is_ok()),
        message: verdict.as_ref().err().cloned(),
        bound_count: i32::try_from(bound_to.len()).unwrap_or(i32::MAX),
        bound: (!bound_to.is_empty()).then(|| bound_to.join(", ")),
        bound_to,
        conditions: vec![bound, valid],
    }
}

/// Writes the status of every AccessPolicy of the namespace whose status
/// changed, with an Event when a policy becomes invalid.
pub async fn update_policy_statuses(
    ctx: &Context,
    orch: &Orchestrator,
    policies: &[Arc<AccessPolicy>],
    set: &render::PolicySet,
    now: Timestamp,
) -> Result<(), Error> {
    let Some(ns) = orch.namespace() else {
        return Ok(());
    };
    let mut orchestrators: Vec<Arc<Orchestrator>> = ctx
        .orchestrators
        .state()
        .into_iter()
        .filter(|o| o.namespace() == orch.namespace() && o.name_any() != orch.name_any())
        .collect();
    orchestrators.push(Arc::new(orch.clone()));
    for policy in policies {
        let verdict = match set.verdicts.iter().find(|v| v.name == policy.name_any()) {
            Some(v) => v.result.clone().map(|_| ()),
            None => render::validate_policy(policy).map(|_| ()),
        };
        let status = policy_status(policy, &verdict, &orchestrators, now);
        if policy.status.as_ref() == Some(&status) {
            continue;
        }
        apply::patch_policy_status(&ctx.client, &ns, &policy.name_any(), &status).await?;
        let was_invalid_same_generation = policy.status.as_ref().is_some_and(|s| {
            s.valid == Some(false) && s.observed_generation == policy.metadata.generation
        });
        if let Err(message) = &verdict
            && !was_invalid_same_generation
        {
            events::publish(
                ctx,
                &policy.object_ref(&()),
                EventType::Warning,
                "InvalidPolicy",
                message,
                "Validate",
            )
            .await;
        }
    }
    Ok(())
}
