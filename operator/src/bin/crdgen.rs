//! Writes the CRDs and the operator's ClusterRole to `crds/` and into the
//! Helm chart (`charts/ai-orchestrator/crds/`, `files/`), or prints the CRDs
//! and the ClusterRole with `--stdout`. The output is deterministic; a test
//! fails when a file on disk is stale.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ai_orchestrator_operator::generated;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut to_stdout = false;
    let mut root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--stdout" => to_stdout = true,
            "--root" => match iter.next() {
                Some(d) => root = PathBuf::from(d),
                None => {
                    eprintln!("crdgen: --root needs a directory");
                    return ExitCode::from(2);
                }
            },
            "-h" | "--help" => {
                println!(
                    "usage: crdgen [--stdout] [--root DIR]\nwrites crds/{{orchestrators,accesspolicies,operator-rbac}}.yaml and their copies in {}/ under DIR (default: the repository)",
                    generated::CHART_DIR
                );
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("crdgen: unknown argument {other:?} (try --help)");
                return ExitCode::from(2);
            }
        }
    }
    let files = match generated::files() {
        Ok(files) => files,
        Err(e) => {
            eprintln!("crdgen: {e}");
            return ExitCode::FAILURE;
        }
    };
    if to_stdout {
        let texts: Vec<&str> = files
            .iter()
            .filter(|(path, _)| path.starts_with("crds/"))
            .map(|(_, text)| text.as_str())
            .collect();
        print!("{}", texts.join("---\n"));
        return ExitCode::SUCCESS;
    }
    for (relative, text) in &files {
        if let Err(e) = write(&root.join(relative), text) {
            eprintln!("crdgen: cannot write {relative}: {e}");
            return ExitCode::FAILURE;
        }
        eprintln!("wrote {relative}");
    }
    ExitCode::SUCCESS
}

/// Writes through a temporary file and a rename, so a reader never sees half a file.
fn write(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}
