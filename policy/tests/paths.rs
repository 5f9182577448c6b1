//! Path decisions over a real temporary tree: traversal, symlink escapes,
//! prefix confusion, deny globs, read versus write.

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use common::fixture;
use policy::Access::{self, Read, Write};

/// `(path, access, allowed, rule fragment)`.
const CASES: &[(&str, Access, bool, &str)] = &[
    ("{data}/a.txt", Read, true, "paths.read[0]"),
    ("{data}/a.txt", Write, false, "paths.write"),
    ("{data}", Read, true, "paths.read[0]"),
    ("{data}/", Read, true, "paths.read[0]"),
    ("{data}/sub/notes.txt", Read, true, "paths.read[0]"),
    ("{data}/missing/deeper.txt", Read, true, "paths.read[0]"),
    ("{work}/existing.txt", Read, true, "paths.write[0]"),
    ("{work}/existing.txt", Write, true, "paths.write[0]"),
    ("{work}/new/dir/file.txt", Write, true, "paths.write[0]"),
    ("{work}/./x/../y.txt", Write, true, "paths.write[0]"),
    // Traversal.
    ("{data}/../outside/secret.txt", Read, false, "paths.read"),
    ("{data}/./../outside", Read, false, "paths.read"),
    (
        "{data}/sub/../../outside/secret.txt",
        Read,
        false,
        "paths.read",
    ),
    ("/data/../etc/shadow", Read, false, "paths.deny[3]"),
    ("/data/./../etc", Read, false, "paths.read"),
    ("{work}/../data/a.txt", Write, false, "paths.write"),
    // Symlink escapes: judged where they land.
    ("{data}/link-etc", Read, false, "paths.read"),
    ("{data}/link-etc/passwd", Read, false, "paths.read"),
    ("{data}/link-secret", Read, false, "paths.read"),
    ("{data}/link-inside", Read, true, "paths.read[0]"),
    ("{data}/link-etc/../a.txt", Read, false, "paths.read"),
    ("{work}/link-out/new.txt", Write, false, "paths.write"),
    ("{work}/dangling", Write, false, "paths"),
    ("{work}/dangling/x", Write, false, "paths"),
    // Prefix confusion.
    ("{root}/database/x.txt", Read, false, "paths.read"),
    ("{root}/data-evil", Read, false, "paths.read"),
    ("{root}/workshop/x", Write, false, "paths.write"),
    // Deny globs.
    ("{data}/.env", Read, false, "paths.deny[0] (**/.env)"),
    ("{work}/.env", Write, false, "paths.deny[0]"),
    (
        "{data}/sub/.ssh/authorized_keys",
        Read,
        false,
        "paths.deny[1]",
    ),
    ("{data}/id_rsa.pub", Read, false, "paths.deny[2]"),
    ("{data}/sub/id_rsa", Read, false, "paths.deny[2]"),
    ("/etc/shadow", Read, false, "paths.deny[3]"),
    ("/root/.bashrc", Read, false, "paths.deny[4]"),
    ("{data}/.envrc", Read, true, "paths.read[0]"),
    ("{data}/not.env", Read, true, "paths.read[0]"),
    // Outside every root.
    ("/etc/passwd", Read, false, "paths.read"),
    ("/", Read, false, "paths.read"),
    ("/tmp", Write, false, "paths.write"),
    // Malformed requests.
    ("", Read, false, "paths"),
    ("data/a.txt", Read, false, "paths"),
    ("~/x", Read, false, "paths"),
];

#[test]
fn path_decisions_table() {
    let f = fixture();
    let mut failures = Vec::new();
    for (path, access, allowed, rule) in CASES {
        let p = f.path(path);
        let d = f.policy.check_path(&p, *access);
        if d.allowed != *allowed || !d.rule.contains(rule) {
            failures.push(format!(
                "{} {access:?}: want allowed={allowed} rule~{rule:?}, got allowed={} rule={:?} reason={:?} resolved={}",
                p.display(),
                d.allowed,
                d.rule,
                d.reason,
                d.resolved.display()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn nul_byte_is_refused() {
    let f = fixture();
    let mut bytes = f.data.as_os_str().as_bytes().to_vec();
    bytes.extend_from_slice(b"/a\0b");
    let d = f
        .policy
        .check_path(Path::new(OsStr::from_bytes(&bytes)), Read);
    assert!(!d.allowed);
    assert!(d.reason.contains("NUL"), "{}", d.reason);
}

#[test]
fn resolved_path_is_where_a_symlink_lands() {
    let f = fixture();
    let d = f.policy.check_path(&f.data.join("link-inside"), Read);
    assert!(d.allowed);
    assert_eq!(d.resolved, f.data.join("a.txt"));
    assert_eq!(d.requested, f.data.join("link-inside"));
    let d = f.policy.check_path(&f.work.join("new/./a/../b.txt"), Write);
    assert_eq!(d.resolved, f.work.join("new/b.txt"));
    let d = f.policy.check_path(&f.data.join("link-secret"), Read);
    assert_eq!(d.resolved, f.outside.join("secret.txt"));
    assert!(d.reason.contains("resolves to"), "{}", d.reason);
}

#[test]
fn a_denied_directory_denies_its_contents() {
    let root =
        std::fs::canonicalize(tempfile::tempdir().expect("tempdir").keep()).expect("canonical");
    let yaml = format!(
        "version: 1\npaths:\n  read: [\"{r}\"]\n  deny: [\"{r}/private\", \"{r}/*.key\"]\n",
        r = root.display()
    );
    let p = policy::Policy::from_yaml(&yaml).unwrap_or_else(|e| panic!("{e}"));
    assert!(!p.check_path(&root.join("private/deep/file"), Read).allowed);
    assert!(!p.check_path(&root.join("a.key"), Read).allowed);
    // `*` does not cross a separator.
    assert!(p.check_path(&root.join("sub/a.key"), Read).allowed);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn roots_that_are_symlinks_still_match() {
    let dir = tempfile::tempdir().expect("tempdir");
    let real = std::fs::canonicalize(dir.path()).expect("canonical");
    std::fs::create_dir(real.join("target")).expect("mkdir");
    std::os::unix::fs::symlink(real.join("target"), real.join("alias")).expect("symlink");
    let yaml = format!(
        "version: 1\npaths:\n  read: [\"{}/alias\"]\n",
        real.display()
    );
    let p = policy::Policy::from_yaml(&yaml).unwrap_or_else(|e| panic!("{e}"));
    assert!(p.check_path(&real.join("alias/x"), Read).allowed);
    assert!(p.check_path(&real.join("target/x"), Read).allowed);
    assert!(!p.check_path(&real.join("other"), Read).allowed);
}
