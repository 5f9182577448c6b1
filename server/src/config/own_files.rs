//! The server's own files are never reachable by a tool: a policy whose
//! roots contain one of them is refused when it loads, from a file or from
//! the Kubernetes API alike.

use std::path::Path;

use crate::config::OwnPath;

/// Refuses a policy under which a command or file tool could reach the
/// server's own files: a read or write root (or a runtime path the sandbox
/// grants) that contains one of them. A root inside the data directory
/// (`/data/workspace`) is fine as long as it holds none. The binary may lie
/// under a runtime read path (`/usr`); the namespace masks it there.
pub fn reaches_own_files(policy: &policy::Policy, own: &[OwnPath]) -> Result<(), String> {
    let doc = policy.document();
    let sandbox = &doc.sandbox;
    let lists: [(&str, Vec<String>, bool); 4] = [
        ("paths.read", doc.paths.read.clone(), true),
        ("paths.write", doc.paths.write.clone(), true),
        ("sandbox.runtimeRead", sandbox.runtime_read_paths(), false),
        ("sandbox.runtimeWrite", sandbox.runtime_write_paths(), true),
    ];
    let mut problems = Vec::new();
    for (field, roots, binary_too) in &lists {
        for (i, root) in roots.iter().enumerate() {
            let resolved = policy::resolve(Path::new(root)).unwrap_or_else(|_| root.into());
            for o in own.iter().filter(|o| *binary_too || !o.is_binary()) {
                if o.path.starts_with(&resolved) {
                    problems.push(format!(
                        "{field}[{i}] ({root}) contains the server's {} ({})",
                        o.what,
                        o.path.display()
                    ));
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}; the server's own files are never reachable by a tool: move them or narrow the roots",
            problems.join("; ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_root_containing_a_server_file_is_refused_naming_both() {
        use crate::config::OwnPath;
        let own = [
            OwnPath::new("data directory", Path::new("/srv/ai/data")),
            OwnPath::new("binary", Path::new("/usr/local/bin/ai-orchestrator")),
        ];
        let refused = policy::Policy::from_yaml("version: 1\npaths:\n  read: [/var/log, /srv]\n")
            .expect("policy");
        let err = reaches_own_files(&refused, &own).expect_err("refused");
        assert!(
            err.contains("paths.read[1] (/srv)") && err.contains("/srv/ai/data"),
            "{err}"
        );
        // A workspace inside the data directory holds none of its files; the
        // binary under a runtime path is masked, not refused.
        let inside =
            policy::Policy::from_yaml("version: 1\npaths:\n  write: [/srv/ai/data/workspace]\n")
                .expect("policy");
        assert_eq!(reaches_own_files(&inside, &own), Ok(()));
        let write_usr = policy::Policy::from_yaml("version: 1\npaths:\n  write: [/usr/local]\n")
            .expect("policy");
        let err = reaches_own_files(&write_usr, &own).expect_err("binary writable");
        assert!(err.contains("binary"), "{err}");
    }
}
