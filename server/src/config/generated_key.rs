//! The JWT key of last resort, for a server with no key configured.

use std::path::Path;

use base64::Engine;

use crate::config::files::GENERATED_JWT_FILE;

/// The key used when neither the secrets dir nor the environment has one:
/// generated once, stored 0600 in the data dir, reused after a restart.
pub fn generated_jwt_secret(data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = data_dir.join(GENERATED_JWT_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let secret = base64::engine::general_purpose::STANDARD
                .decode(String::from_utf8_lossy(&bytes).trim())
                .map_err(|_| {
                    anyhow::anyhow!(
                        "{} is not valid base64; delete it to generate a new key",
                        path.display()
                    )
                })?;
            if secret.len() < policy::contract::MIN_JWT_SECRET_BYTES {
                anyhow::bail!(
                    "{} holds fewer than {} bytes; delete it to generate a new key",
                    path.display(),
                    policy::contract::MIN_JWT_SECRET_BYTES
                );
            }
            Ok(secret)
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            crate::store::private::dir(data_dir)?;
            let mut secret = vec![0u8; 48];
            rand::fill(&mut secret[..]);
            let tmp = data_dir.join(format!(".{GENERATED_JWT_FILE}.tmp"));
            let _ = std::fs::remove_file(&tmp);
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            file.write_all(
                base64::engine::general_purpose::STANDARD
                    .encode(&secret)
                    .as_bytes(),
            )?;
            file.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            tracing::warn!(path = %path.display(), "no JWT key configured: generated one and stored it with mode 0600");
            Ok(secret)
        }
        Err(err) => Err(anyhow::anyhow!("cannot read {}: {err}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secret_is_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let first = generated_jwt_secret(dir.path()).unwrap();
        let second = generated_jwt_secret(dir.path()).unwrap();
        assert_eq!(first, second);
        let mode = std::fs::metadata(dir.path().join(GENERATED_JWT_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
