//! Writes and reads re-checked at the moment they happen.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::PathBuf;

use policy::{Access, Policy};

use super::{SafeWriteError, open_read, write_atomic};

/// A policy over a temporary tree: `data/` readable, `work/` writable,
/// `outside/` neither, with symlinks between them.
struct Fixture {
    _dir: tempfile::TempDir,
    data: PathBuf,
    work: PathBuf,
    outside: PathBuf,
    policy: Policy,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = fs::canonicalize(dir.path()).expect("canonical tempdir");
    let (data, work, outside) = (root.join("data"), root.join("work"), root.join("outside"));
    for d in [&data, &work, &outside, &data.join("sub")] {
        fs::create_dir_all(d).expect("mkdir");
    }
    fs::write(data.join("a.txt"), "alpha\n").expect("write");
    fs::write(data.join(".env"), "SECRET=1\n").expect("write");
    fs::write(data.join("sub/notes.txt"), "notes\n").expect("write");
    fs::write(work.join("existing.txt"), "old\n").expect("write");
    fs::write(outside.join("secret.txt"), "secret\n").expect("write");
    symlink("/etc", data.join("link-etc")).expect("symlink");
    symlink(outside.join("secret.txt"), data.join("link-secret")).expect("symlink");
    symlink(data.join("a.txt"), data.join("link-inside")).expect("symlink");
    symlink(&outside, work.join("link-out")).expect("symlink");
    symlink(root.join("nowhere"), work.join("dangling")).expect("symlink");
    let yaml = format!(
        "version: 1\npaths:\n  read: [\"{}\"]\n  write: [\"{}\"]\n  deny: [\"**/.env\", \"**/.ssh/**\", \"**/id_rsa*\", \"/etc/shadow\", \"/root/**\"]\n",
        data.display(),
        work.display()
    );
    let policy = Policy::from_yaml(&yaml).expect("fixture policy");
    Fixture {
        _dir: dir,
        data,
        work,
        outside,
        policy,
    }
}

#[test]
fn writes_atomically_inside_a_write_root() {
    let f = fixture();
    let target = f.work.join("report.txt");
    let written = write_atomic(&f.policy, &target, b"hello");
    assert_eq!(written.ok(), Some(target.clone()));
    assert_eq!(fs::read(&target).ok(), Some(b"hello".to_vec()));
    // Overwrite keeps the mode and leaves no temporary file behind.
    fs::set_permissions(&target, fs::Permissions::from_mode(0o640)).expect("chmod");
    assert!(write_atomic(&f.policy, &target, b"again").is_ok());
    assert_eq!(fs::read(&target).ok(), Some(b"again".to_vec()));
    let mode = fs::metadata(&target)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0);
    assert_eq!(mode, 0o640);
    let leftovers: Vec<_> = fs::read_dir(&f.work)
        .expect("read_dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn creates_missing_parents_only_under_write_roots() {
    let f = fixture();
    let nested = f.work.join("a/b/c.txt");
    assert!(write_atomic(&f.policy, &nested, b"x").is_ok());
    assert_eq!(fs::read(&nested).ok(), Some(b"x".to_vec()));
    let outside = f.data.join("newdir/c.txt");
    assert!(matches!(
        write_atomic(&f.policy, &outside, b"x"),
        Err(SafeWriteError::Denied { .. })
    ));
    assert!(!f.data.join("newdir").exists());
}

#[test]
fn refuses_writes_the_policy_denies() {
    let f = fixture();
    for path in [
        f.data.join("a.txt"),
        f.outside.join("x"),
        f.work.join(".env"),
        f.work.join("link-out/x"),
    ] {
        let r = write_atomic(&f.policy, &path, b"x");
        assert!(
            matches!(r, Err(SafeWriteError::Denied { .. })),
            "{}: {r:?}",
            path.display()
        );
    }
    assert_eq!(
        fs::read_to_string(f.data.join("a.txt")).ok().as_deref(),
        Some("alpha\n")
    );
}

#[test]
fn refuses_content_over_the_limit() {
    let root = fs::canonicalize(tempfile::tempdir().expect("tempdir").path()).ok();
    let dir = tempfile::tempdir().expect("tempdir");
    let root = root
        .map(|_| fs::canonicalize(dir.path()).expect("canonical"))
        .expect("root");
    let yaml = format!(
        "version: 1\npaths:\n  write: [\"{}\"]\n  maxWriteBytes: 4\n",
        root.display()
    );
    let p = policy::Policy::from_yaml(&yaml).unwrap_or_else(|e| panic!("{e}"));
    assert!(write_atomic(&p, &root.join("ok"), b"1234").is_ok());
    assert!(matches!(
        write_atomic(&p, &root.join("big"), b"12345"),
        Err(SafeWriteError::TooLarge { size: 5, limit: 4 })
    ));
    assert!(!root.join("big").exists());
}

#[test]
fn a_symlink_swapped_in_after_the_decision_is_not_followed() {
    let f = fixture();
    let target = f.work.join("late.txt");
    let victim = f.outside.join("secret.txt");
    let decision = f.policy.check_path(&target, Access::Write);
    assert!(decision.allowed);
    // The race: after the decision, the target becomes a link to a file outside.
    symlink(&victim, &target).expect("symlink");
    let r = write_atomic(&f.policy, &target, b"pwned");
    assert!(r.is_err(), "{r:?}");
    assert_eq!(
        fs::read_to_string(&victim).ok().as_deref(),
        Some("secret\n")
    );
    assert!(
        fs::symlink_metadata(&target)
            .map(|m| m.file_type().is_symlink())
            .unwrap_or(false)
    );
}

#[test]
fn a_symlink_at_the_target_is_refused_even_inside_the_root() {
    let f = fixture();
    let target = f.work.join("alias.txt");
    symlink(f.work.join("existing.txt"), &target).expect("symlink");
    let r = write_atomic(&f.policy, &target, b"x");
    assert!(matches!(r, Err(SafeWriteError::Symlink(_))), "{r:?}");
    assert_eq!(
        fs::read_to_string(f.work.join("existing.txt"))
            .ok()
            .as_deref(),
        Some("old\n")
    );
}

#[test]
fn open_read_returns_the_file_and_refuses_what_the_policy_denies() {
    let f = fixture();
    let (file, resolved) = open_read(&f.policy, &f.data.join("link-inside")).expect("readable");
    assert_eq!(resolved, f.data.join("a.txt"));
    assert_eq!(
        std::io::read_to_string(file).ok().as_deref(),
        Some("alpha\n")
    );
    for path in [
        f.data.join(".env"),
        f.data.join("link-secret"),
        f.outside.join("secret.txt"),
    ] {
        let r = open_read(&f.policy, &path);
        assert!(
            matches!(r, Err(SafeWriteError::Denied { .. })),
            "{}",
            path.display()
        );
    }
    assert!(matches!(
        open_read(&f.policy, &f.data.join("sub")),
        Err(SafeWriteError::NotRegularFile(_))
    ));
}

#[test]
fn open_read_refuses_a_fifo_without_blocking() {
    let f = fixture();
    let fifo = f.data.join("pipe");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .expect("mkfifo");
    assert!(matches!(
        open_read(&f.policy, &fifo),
        Err(SafeWriteError::NotRegularFile(_))
    ));
}
