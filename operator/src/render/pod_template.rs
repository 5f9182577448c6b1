//! `spec.podTemplate`: the user's partial pod template merged over the
//! rendered one.

use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::Value;

use super::RenderError;

/// Merges the user's partial pod template over the rendered one.
pub fn merge_pod_template(
    base: &PodTemplateSpec,
    overlay: &Value,
) -> Result<PodTemplateSpec, RenderError> {
    if !overlay.is_object() {
        return Err(RenderError::InvalidSpec(
            "spec.podTemplate must be an object".into(),
        ));
    }
    let mut value = serde_json::to_value(base).map_err(RenderError::PodTemplate)?;
    merge_value(&mut value, overlay);
    serde_json::from_value(value).map_err(RenderError::PodTemplate)
}

/// Maps merge key by key (`null` removes), lists whose items all have a
/// `name` merge by name, other lists are appended, scalars are replaced.
pub fn merge_value(base: &mut Value, overlay: &Value) {
    match (base, overlay) {
        (Value::Object(b), Value::Object(o)) => {
            for (key, value) in o {
                if value.is_null() {
                    b.remove(key);
                } else if let Some(existing) = b.get_mut(key) {
                    merge_value(existing, value);
                } else {
                    b.insert(key.clone(), value.clone());
                }
            }
        }
        (Value::Array(b), Value::Array(o)) => {
            let named = |items: &[Value]| {
                items
                    .iter()
                    .all(|i| i.get("name").is_some_and(Value::is_string))
            };
            if named(b) && named(o) {
                for item in o {
                    match b.iter_mut().find(|x| x.get("name") == item.get("name")) {
                        Some(existing) => merge_value(existing, item),
                        None => b.push(item.clone()),
                    }
                }
            } else {
                b.extend(o.iter().cloned());
            }
        }
        (b, o) => *b = o.clone(),
    }
}
