//! Writes the CRDs and the operator's ClusterRole to `crds/` (or stdout with
//! `--stdout`). The output is deterministic; a test fails when it is stale.

use std::path::PathBuf;
use std::process::ExitCode;

use ai_orchestrator_operator::generated;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut to_stdout = false;
    let mut dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../crds"));
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--stdout" => to_stdout = true,
            "--out-dir" => match iter.next() {
                Some(d) => dir = PathBuf::from(d),
                None => {
                    eprintln!("crdgen: --out-dir needs a directory");
                    return ExitCode::from(2);
                }
            },
            "-h" | "--help" => {
                println!(
                    "usage: crdgen [--stdout] [--out-dir DIR]\nwrites orchestrators.yaml, accesspolicies.yaml and operator-rbac.yaml"
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
        for (i, (_, text)) in files.iter().enumerate() {
            if i > 0 {
                println!("---");
            }
            print!("{text}");
        }
        return ExitCode::SUCCESS;
    }
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("crdgen: cannot create {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    for (name, text) in &files {
        let path = dir.join(name);
        let tmp = dir.join(format!(".{name}.tmp"));
        if let Err(e) = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &path)) {
            eprintln!("crdgen: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        eprintln!("wrote {}", path.display());
    }
    ExitCode::SUCCESS
}
