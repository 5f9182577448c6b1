//! Refresh tokens: opaque random strings, stored hashed, single use, grouped
//! in families. Redeeming one rotates it; presenting a spent one again is
//! taken as theft and revokes the whole family ([`redeem`]).

use base64::Engine;

use crate::auth::api_keys::hash_key;
use crate::auth::identity::{Identities, UserState};
use crate::http::scopes::Scopes;
use crate::store::db::{Db, NewRefresh};

pub const PREFIX: &str = "rt_";

/// A new token and its stored hash.
pub fn generate() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    let token = format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let hash = hash_key(&token);
    (token, hash)
}

pub fn new_family() -> String {
    let mut bytes = [0u8; 16];
    rand::fill(&mut bytes);
    hex::encode(bytes)
}

/// What presenting a refresh token leads to.
#[derive(Debug)]
pub enum RefreshOutcome {
    /// The token was valid and is now spent; `refresh_token` is its stored successor in
    /// `family_id`, and an access token for `user` with `scopes` is to be issued.
    Rotated {
        username: String,
        user: UserState,
        scopes: Scopes,
        family_id: String,
        refresh_token: String,
    },
    /// A spent token came back: the family (`revoked` tokens) is revoked.
    Reused {
        username: String,
        family_id: String,
        revoked: u64,
    },
    /// Refused for `reason`; `actor` is the owner when the token is known, else `-`.
    Refused { actor: String, reason: &'static str },
}

/// Decides on `token` at `now_ms`, spending it when valid and storing its successor (valid for
/// `ttl_ms`) in the same transaction. A token spent concurrently counts as reuse too: the loser
/// revokes the family after the winner's successor is stored, so the successor dies with it.
/// The successor keeps the family's scopes (never widened, narrowed to the user's current ones)
/// and is refused when the name now belongs to another user.
pub async fn redeem(
    db: &Db,
    identities: &Identities,
    token: &str,
    now_ms: i64,
    ttl_ms: i64,
) -> Result<RefreshOutcome, sqlx::Error> {
    let refused = |actor: String, reason| Ok(RefreshOutcome::Refused { actor, reason });
    let Some(row) = db.get_refresh(&hash_key(token.trim())).await? else {
        return refused("-".into(), "unknown refresh token");
    };
    if row.used {
        let revoked = db.revoke_refresh_family(&row.family_id).await?;
        return Ok(RefreshOutcome::Reused {
            username: row.username,
            family_id: row.family_id,
            revoked,
        });
    }
    if row.revoked {
        return refused(row.username, "revoked refresh token");
    }
    if row.expires_at <= now_ms {
        return refused(row.username, "expired refresh token");
    }
    let Some(user) = identities.user(&row.username).filter(|u| !u.disabled) else {
        return refused(row.username, "user disabled or deleted");
    };
    if row.uid.as_deref().is_some_and(|uid| uid != user.uid) {
        return refused(row.username, "the user was deleted and created again");
    }
    let scopes = row.scopes.unwrap_or(user.scopes).intersect(user.scopes);
    let (next_token, next_hash) = generate();
    let next = NewRefresh {
        token_hash: &next_hash,
        family_id: &row.family_id,
        username: &row.username,
        uid: &user.uid,
        scopes,
        expires_at: now_ms.saturating_add(ttl_ms),
    };
    if !db.rotate_refresh(&row.token_hash, &next).await? {
        let revoked = db.revoke_refresh_family(&row.family_id).await?;
        return Ok(RefreshOutcome::Reused {
            username: row.username,
            family_id: row.family_id,
            revoked,
        });
    }
    Ok(RefreshOutcome::Rotated {
        username: row.username,
        user,
        scopes,
        family_id: row.family_id,
        refresh_token: next_token,
    })
}
