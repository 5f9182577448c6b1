//! Events on Orchestrators and AccessPolicies, their notes cut to what the
//! API server accepts.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Resource;
use kube::runtime::events::{Event, EventType};
use tracing::warn;

use super::{Context, Error};
use crate::crd::Orchestrator;

/// Longest note the API server accepts, in bytes.
const MAX_NOTE: usize = 1000;

/// A Warning event for a failed step, carrying the error's reason and text.
pub async fn publish_failure(ctx: &Context, orch: &Orchestrator, error: &Error, action: &str) {
    publish(
        ctx,
        &orch.object_ref(&()),
        EventType::Warning,
        error.reason(),
        &error.to_string(),
        action,
    )
    .await;
}

pub async fn publish(
    ctx: &Context,
    reference: &ObjectReference,
    type_: EventType,
    reason: &str,
    note: &str,
    action: &str,
) {
    let mut note = note.to_string();
    if note.len() > MAX_NOTE {
        let mut cut = MAX_NOTE;
        while !note.is_char_boundary(cut) {
            cut -= 1;
        }
        note.truncate(cut);
    }
    let event = Event {
        type_,
        reason: reason.to_string(),
        note: Some(note),
        action: action.to_string(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, reference).await {
        warn!(error = %e, "could not publish event");
    }
}
