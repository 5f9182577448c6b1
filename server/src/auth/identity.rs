//! The in-memory view of users and API keys consulted on every request, so
//! that disabling a user or revoking a key takes effect at once without a
//! database read per request. Every write through the API updates it in the
//! same handler, after the database write succeeded.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

use crate::http::scopes::Scopes;
use crate::store::db::{ApiKeyRow, Db, UserRow};

#[derive(Clone, Debug)]
pub struct UserState {
    /// The stable user id tokens name.
    pub uid: String,
    /// Access tokens carry the generation they were issued in; older ones are refused.
    pub token_generation: i64,
    pub scopes: Scopes,
    pub disabled: bool,
}

impl UserState {
    pub fn of(user: &UserRow) -> UserState {
        UserState {
            uid: user.uid.clone(),
            token_generation: user.token_generation,
            scopes: user.scopes,
            disabled: user.disabled,
        }
    }

    /// Whether a token naming `uid` in `generation` still speaks for this user. A generation
    /// newer than this view's comes from a replica that saw the change first (the view catches
    /// up within its re-read interval); an older one predates a password change or disable.
    pub fn accepts(&self, uid: &str, generation: i64) -> bool {
        !self.disabled
            && !self.uid.is_empty()
            && self.uid == uid
            && generation >= self.token_generation
    }
}

#[derive(Clone, Debug)]
pub struct KeyState {
    pub id: String,
    pub owner: String,
    pub scopes: Scopes,
    pub expires_at: Option<i64>,
}

#[derive(Default)]
pub struct Identities {
    users: RwLock<HashMap<String, UserState>>,
    /// Active stored keys by the hex SHA-256 of the key.
    keys: RwLock<HashMap<String, KeyState>>,
    /// Key id → last use (unix ms), written to the database in batches.
    last_used: Mutex<HashMap<String, i64>>,
    /// Bumped by every local change, so a periodic re-read never undoes a newer one.
    changes: AtomicU64,
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}
fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

impl Identities {
    pub async fn load(db: &Db) -> Result<Identities, sqlx::Error> {
        let ids = Identities::default();
        ids.refresh(db).await?;
        Ok(ids)
    }

    /// Re-reads users and keys from the database, so that changes made by
    /// another replica sharing it apply here too. Skipped when a local change
    /// happened meanwhile (the next round picks it up).
    pub async fn refresh(&self, db: &Db) -> Result<(), sqlx::Error> {
        let seen = self.changes.load(Ordering::SeqCst);
        db.assign_missing_user_ids().await?;
        let users: HashMap<String, UserState> = db
            .list_users()
            .await?
            .into_iter()
            .map(|u| (u.username.clone(), UserState::of(&u)))
            .collect();
        let keys: HashMap<String, KeyState> = db
            .list_api_keys(None)
            .await?
            .into_iter()
            .filter(|k| !k.revoked)
            .map(|k| {
                let state = KeyState {
                    id: k.id,
                    owner: k.owner,
                    scopes: k.scopes,
                    expires_at: k.expires_at,
                };
                (k.key_hash, state)
            })
            .collect();
        let mut user_map = write(&self.users);
        let mut key_map = write(&self.keys);
        if self.changes.load(Ordering::SeqCst) == seen {
            *user_map = users;
            *key_map = keys;
        }
        Ok(())
    }

    fn changed(&self) {
        self.changes.fetch_add(1, Ordering::SeqCst);
    }

    pub fn user(&self, username: &str) -> Option<UserState> {
        read(&self.users).get(username).cloned()
    }

    pub fn put_user(&self, user: &UserRow) {
        self.changed();
        write(&self.users).insert(user.username.clone(), UserState::of(user));
    }

    pub fn remove_user(&self, username: &str) {
        self.changed();
        write(&self.users).remove(username);
        write(&self.keys).retain(|_, k| k.owner != username);
    }

    pub fn key(&self, hash: &str) -> Option<KeyState> {
        read(&self.keys).get(hash).cloned()
    }

    pub fn put_key(&self, key: &ApiKeyRow) {
        self.changed();
        if key.revoked {
            self.remove_key(&key.id);
            return;
        }
        write(&self.keys).insert(
            key.key_hash.clone(),
            KeyState {
                id: key.id.clone(),
                owner: key.owner.clone(),
                scopes: key.scopes,
                expires_at: key.expires_at,
            },
        );
    }

    pub fn remove_key(&self, id: &str) {
        self.changed();
        write(&self.keys).retain(|_, k| k.id != id);
    }

    pub fn touch_key(&self, id: &str, now: i64) {
        self.last_used
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_string(), now);
    }

    /// Writes pending `last_used_at` values; on failure they are kept for the next flush.
    pub async fn flush_last_used(&self, db: &Db) {
        let pending: Vec<(String, i64)> = {
            let mut map = self.last_used.lock().unwrap_or_else(|p| p.into_inner());
            map.drain().collect()
        };
        if let Err(err) = db.flush_last_used(&pending).await {
            tracing::warn!(error = %err, "cannot store API key last-use times; will retry");
            let mut map = self.last_used.lock().unwrap_or_else(|p| p.into_inner());
            for (id, ts) in pending {
                let entry = map.entry(id).or_insert(ts);
                *entry = (*entry).max(ts);
            }
        }
    }

    /// The pending (not yet flushed) last use of a key, newer than the stored one.
    pub fn pending_last_used(&self, id: &str) -> Option<i64> {
        self.last_used
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .copied()
    }
}
