//! Every policy the project ships or documents loads, validates and passes
//! its own examples: `config/`, `examples/`, the YAML blocks of `docs/`, and
//! the policy in the chart's install notes.

use std::fs;
use std::path::{Path, PathBuf};

use policy::{Policy, PolicyDocument};
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// One YAML document as a policy: a `policy.yaml`, or an `AccessPolicy`
/// whose spec (without the API keys the operator handles) is one.
fn as_policy(yaml: &str) -> Result<Option<PolicyDocument>, String> {
    let value: Value = serde_saphyr::from_str(yaml).map_err(|e| e.to_string())?;
    if value.get("version").is_some() {
        return serde_json::from_value(value)
            .map(Some)
            .map_err(|e| e.to_string());
    }
    if value.get("kind").and_then(Value::as_str) != Some("AccessPolicy") {
        return Ok(None);
    }
    let mut spec = value.get("spec").cloned().unwrap_or(Value::Null);
    if let Some(map) = spec.as_object_mut() {
        map.remove("apiKeys");
        map.insert("version".into(), Value::from(1));
    }
    serde_json::from_value(spec)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// The fenced ```yaml blocks of a Markdown file.
fn yaml_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_start()) {
            (None, l) if l.starts_with("```yaml") => current = Some(String::new()),
            (Some(_), l) if l.starts_with("```") => blocks.extend(current.take()),
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            _ => {}
        }
    }
    blocks
}

/// The here-document of the chart's NOTES.txt, dedented.
fn heredoc(text: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in text.lines() {
        if line.contains("<<'EOF'") {
            inside = true;
        } else if inside && line.trim() == "EOF" {
            inside = false;
        } else if inside {
            out.push_str(line.strip_prefix("  ").unwrap_or(line));
            out.push('\n');
        }
    }
    out
}

fn documents(text: &str) -> Vec<String> {
    text.split("\n---\n").map(str::to_owned).collect()
}

#[test]
fn every_shipped_and_documented_policy_validates_and_passes_its_examples() {
    let root = repo();
    let mut sources: Vec<(String, String)> = Vec::new();
    for dir in ["config", "examples"] {
        let mut entries: Vec<PathBuf> = fs::read_dir(root.join(dir))
            .map(|r| r.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        entries.sort();
        for path in entries
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        {
            let text = fs::read_to_string(&path).unwrap_or_default();
            for doc in documents(&text) {
                sources.push((path.display().to_string(), doc));
            }
        }
    }
    let mut docs: Vec<PathBuf> = fs::read_dir(root.join("docs"))
        .map(|r| r.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    docs.sort();
    for path in docs
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
    {
        let text = fs::read_to_string(&path).unwrap_or_default();
        for block in yaml_blocks(&text) {
            for doc in documents(&block) {
                sources.push((path.display().to_string(), doc));
            }
        }
    }
    let notes = root.join("charts/ai-orchestrator/templates/NOTES.txt");
    for doc in documents(&heredoc(&fs::read_to_string(&notes).unwrap_or_default())) {
        sources.push((notes.display().to_string(), doc));
    }

    let mut checked = Vec::new();
    let mut failures = Vec::new();
    for (file, yaml) in &sources {
        match as_policy(yaml) {
            Ok(None) => {}
            Ok(Some(doc)) => {
                let examples = doc.examples.allow.len() + doc.examples.deny.len();
                match Policy::compile(doc) {
                    Ok(_) => checked.push((file.clone(), examples)),
                    Err(e) => failures.push(format!("{file}:\n{e}")),
                }
            }
            // Fragments (a `rateLimits:` snippet) are not documents.
            Err(e) if !yaml.contains("version:") && !yaml.contains("kind: AccessPolicy") => {
                let _ = e;
            }
            Err(e) => failures.push(format!("{file}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    let files = |suffix: &str| checked.iter().filter(|(f, _)| f.ends_with(suffix)).count();
    assert_eq!(files("config/policy.yaml"), 1, "{checked:?}");
    assert_eq!(
        files("examples/accesspolicy-read-only.yaml"),
        1,
        "{checked:?}"
    );
    assert_eq!(files("examples/accesspolicy-ci-cd.yaml"), 1, "{checked:?}");
    assert_eq!(files("docs/policy.md"), 1, "{checked:?}");
    assert_eq!(files("docs/custom-resources.md"), 1, "{checked:?}");
    assert_eq!(files("NOTES.txt"), 1, "{checked:?}");
    // The documented example runs examples of its own.
    assert!(
        checked
            .iter()
            .any(|(f, n)| f.ends_with("docs/policy.md") && *n > 0),
        "{checked:?}"
    );
}
