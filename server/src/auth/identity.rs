//! The in-memory view of users and API keys consulted on every request, so
//! that disabling a user or revoking a key takes effect at once without a
//! database read per request. Every write through the API updates it in the
//! same handler, after the database write succeeded.
//!
//! Reads never lock: each map is an immutable snapshot behind an `ArcSwap`,
//! replaced as a whole by a write (writes are rare and serialised among
//! themselves). An API key's last use is an atomic in its entry, so
//! key-authenticated requests do not contend on a shared lock either.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use sqlx::Row;

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
    /// The password is the old v3 default, flagged at login, and unchanged since.
    pub must_change_password: bool,
}

impl UserState {
    /// The state of a stored user; the must-change flag is not in the row and starts unset.
    pub fn of(user: &UserRow) -> UserState {
        UserState {
            uid: user.uid.clone(),
            token_generation: user.token_generation,
            scopes: user.scopes,
            disabled: user.disabled,
            must_change_password: false,
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
    /// The last use (unix ms) not yet written to the database; 0 when none.
    pending_last_used: Arc<AtomicI64>,
}

impl KeyState {
    /// Records a use; written to the database by the next flush.
    pub fn touch(&self, now: i64) {
        self.pending_last_used.fetch_max(now, Ordering::Relaxed);
    }
}

type Users = HashMap<String, UserState>;
/// Active stored keys by the hex SHA-256 of the key.
type Keys = HashMap<String, KeyState>;

#[derive(Default)]
pub struct Identities {
    users: ArcSwap<Users>,
    keys: ArcSwap<Keys>,
    /// Serialises writers, so that a copy-and-replace never loses another's change.
    write: Mutex<()>,
    /// Last uses of keys removed from the view before their flush.
    orphaned_last_used: Mutex<HashMap<String, i64>>,
    /// Bumped by every local change, so a periodic re-read never undoes a newer one.
    changes: AtomicU64,
}

fn key_state(key: &ApiKeyRow) -> KeyState {
    KeyState {
        id: key.id.clone(),
        owner: key.owner.clone(),
        scopes: key.scopes,
        expires_at: key.expires_at,
        pending_last_used: Arc::default(),
    }
}

/// Users whose password is still the flagged old default.
async fn weak_password_users(db: &Db) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query(
        "SELECT username FROM users WHERE weak_password_hash IS NOT NULL AND weak_password_hash = password_hash",
    )
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(|row| row.try_get("username"))
    .collect()
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
        let weak: std::collections::HashSet<String> =
            weak_password_users(db).await?.into_iter().collect();
        let users: Users = db
            .list_users()
            .await?
            .into_iter()
            .map(|u| {
                let state = UserState {
                    must_change_password: weak.contains(&u.username),
                    ..UserState::of(&u)
                };
                (u.username, state)
            })
            .collect();
        let mut keys: Keys = db
            .list_api_keys(None)
            .await?
            .into_iter()
            .filter(|k| !k.revoked)
            .map(|k| (k.key_hash.clone(), key_state(&k)))
            .collect();
        let _write = self.write.lock().unwrap_or_else(|p| p.into_inner());
        if self.changes.load(Ordering::SeqCst) != seen {
            return Ok(());
        }
        // Uses recorded in the entries being replaced carry over to the new ones.
        let old = self.keys.load();
        for (hash, key) in &mut keys {
            if let Some(previous) = old.get(hash).filter(|p| p.id == key.id) {
                key.pending_last_used = Arc::clone(&previous.pending_last_used);
            }
        }
        for (hash, previous) in old.iter() {
            if !keys.contains_key(hash) {
                self.orphan(previous);
            }
        }
        self.users.store(Arc::new(users));
        self.keys.store(Arc::new(keys));
        Ok(())
    }

    /// Applies `change` to a copy of the users and publishes it.
    fn update_users(&self, change: impl FnOnce(&mut Users)) {
        let _write = self.write.lock().unwrap_or_else(|p| p.into_inner());
        self.changes.fetch_add(1, Ordering::SeqCst);
        let mut users = Users::clone(&self.users.load());
        change(&mut users);
        self.users.store(Arc::new(users));
    }

    /// Applies `change` to a copy of the keys and publishes it; pending uses
    /// of keys it removes are kept for the next flush.
    fn update_keys(&self, change: impl FnOnce(&mut Keys)) {
        let _write = self.write.lock().unwrap_or_else(|p| p.into_inner());
        self.changes.fetch_add(1, Ordering::SeqCst);
        let mut keys = Keys::clone(&self.keys.load());
        let before: Vec<KeyState> = keys.values().cloned().collect();
        change(&mut keys);
        for key in before {
            if !keys.values().any(|k| k.id == key.id) {
                self.orphan(&key);
            }
        }
        self.keys.store(Arc::new(keys));
    }

    fn orphan(&self, key: &KeyState) {
        let ts = key.pending_last_used.swap(0, Ordering::Relaxed);
        if ts > 0 {
            let mut map = self
                .orphaned_last_used
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let entry = map.entry(key.id.clone()).or_insert(ts);
            *entry = (*entry).max(ts);
        }
    }

    pub fn user(&self, username: &str) -> Option<UserState> {
        self.users.load().get(username).cloned()
    }

    /// Adds or replaces a user; its must-change flag is kept (see
    /// [`Identities::set_must_change_password`]).
    pub fn put_user(&self, user: &UserRow) {
        self.update_users(|users| {
            let must_change_password = users
                .get(&user.username)
                .is_some_and(|u| u.must_change_password);
            users.insert(
                user.username.clone(),
                UserState {
                    must_change_password,
                    ..UserState::of(user)
                },
            );
        });
    }

    /// Sets whether the user must change the password, after the database says so.
    pub fn set_must_change_password(&self, username: &str, must_change: bool) {
        if self
            .user(username)
            .is_none_or(|u| u.must_change_password == must_change)
        {
            return;
        }
        self.update_users(|users| {
            if let Some(user) = users.get_mut(username) {
                user.must_change_password = must_change;
            }
        });
    }

    pub fn remove_user(&self, username: &str) {
        self.update_users(|users| {
            users.remove(username);
        });
        self.update_keys(|keys| keys.retain(|_, k| k.owner != username));
    }

    pub fn key(&self, hash: &str) -> Option<KeyState> {
        self.keys.load().get(hash).cloned()
    }

    pub fn put_key(&self, key: &ApiKeyRow) {
        if key.revoked {
            self.remove_key(&key.id);
            return;
        }
        self.update_keys(|keys| {
            let mut state = key_state(key);
            if let Some(previous) = keys.get(&key.key_hash).filter(|p| p.id == key.id) {
                state.pending_last_used = Arc::clone(&previous.pending_last_used);
            }
            keys.insert(key.key_hash.clone(), state);
        });
    }

    pub fn remove_key(&self, id: &str) {
        self.update_keys(|keys| keys.retain(|_, k| k.id != id));
    }

    /// Writes pending `last_used_at` values; on failure they are kept for the next flush.
    pub async fn flush_last_used(&self, db: &Db) {
        let mut pending: HashMap<String, i64> = {
            let mut map = self
                .orphaned_last_used
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            map.drain().collect()
        };
        for key in self.keys.load().values() {
            let ts = key.pending_last_used.swap(0, Ordering::Relaxed);
            if ts > 0 {
                let entry = pending.entry(key.id.clone()).or_insert(ts);
                *entry = (*entry).max(ts);
            }
        }
        let pending: Vec<(String, i64)> = pending.into_iter().collect();
        if let Err(err) = db.flush_last_used(&pending).await {
            tracing::warn!(error = %err, "cannot store API key last-use times; will retry");
            let keys = self.keys.load();
            let mut orphans = self
                .orphaned_last_used
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            for (id, ts) in pending {
                match keys.values().find(|k| k.id == id) {
                    Some(key) => key.touch(ts),
                    None => {
                        let entry = orphans.entry(id).or_insert(ts);
                        *entry = (*entry).max(ts);
                    }
                }
            }
        }
    }

    /// The pending (not yet flushed) last use of a key, newer than the stored one.
    pub fn pending_last_used(&self, id: &str) -> Option<i64> {
        let live = self
            .keys
            .load()
            .values()
            .find(|k| k.id == id)
            .map(|k| k.pending_last_used.load(Ordering::Relaxed))
            .filter(|ts| *ts > 0);
        let orphaned = self
            .orphaned_last_used
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .copied();
        live.max(orphaned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::scopes::Scope;

    fn key_row(id: &str, hash: &str, owner: &str) -> ApiKeyRow {
        ApiKeyRow {
            id: id.into(),
            name: id.into(),
            owner: owner.into(),
            key_hash: hash.into(),
            prefix: "ak_x".into(),
            scopes: Scopes::of([Scope::Read]),
            created_at: 0,
            expires_at: None,
            last_used_at: None,
            revoked: false,
        }
    }

    fn user_row(name: &str) -> UserRow {
        UserRow {
            uid: format!("uid-{name}"),
            token_generation: 0,
            username: name.into(),
            password_hash: "h".into(),
            scopes: Scopes::of([Scope::Read]),
            disabled: false,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn the_must_change_flag_survives_other_updates_until_cleared() {
        let ids = Identities::default();
        ids.put_user(&user_row("alice"));
        assert!(!ids.user("alice").unwrap().must_change_password);
        ids.set_must_change_password("alice", true);
        let mut disabled = user_row("alice");
        disabled.disabled = true;
        ids.put_user(&disabled);
        let alice = ids.user("alice").unwrap();
        assert!(alice.must_change_password && alice.disabled);
        ids.set_must_change_password("alice", false);
        assert!(!ids.user("alice").unwrap().must_change_password);
        ids.set_must_change_password("nobody", true);
        assert!(ids.user("nobody").is_none());
    }

    #[test]
    fn key_uses_are_pending_until_taken_even_after_removal() {
        let ids = Identities::default();
        ids.put_user(&user_row("alice"));
        ids.put_key(&key_row("k1", "h1", "alice"));
        ids.put_key(&key_row("k2", "h2", "alice"));
        ids.key("h1").unwrap().touch(100);
        ids.key("h1").unwrap().touch(50);
        assert_eq!(ids.pending_last_used("k1"), Some(100));
        assert_eq!(ids.pending_last_used("k2"), None);
        // Replacing the entry (a scope change) keeps the pending use.
        ids.put_key(&key_row("k1", "h1", "alice"));
        assert_eq!(ids.pending_last_used("k1"), Some(100));
        ids.remove_key("k1");
        assert!(ids.key("h1").is_none());
        assert_eq!(ids.pending_last_used("k1"), Some(100), "kept for the flush");
        ids.key("h2").unwrap().touch(7);
        ids.remove_user("alice");
        assert!(ids.key("h2").is_none());
        assert_eq!(ids.pending_last_used("k2"), Some(7));
    }
}
