//! `ai-orchestrator users …` and `ai-orchestrator keys …`: administering
//! accounts on the database `serve` uses (SQLite or PostgreSQL), with or
//! without a running server. Passwords come from stdin or a prompt, never from
//! the command line (which other users can read in `ps`). Every change is
//! audited with the actor `system`. A running server sees the changes within
//! ten seconds (it re-reads users and keys).

use std::io::{IsTerminal, Read};
use std::path::PathBuf;

use crate::auth::{api_keys, passwords};
use crate::cli::exit::{Failure, refuse};
use crate::http::routes::rfc3339;
use crate::http::scopes::{Scope, Scopes};
use crate::store::audit::{Audit, AuditEvent, Outcome};
use crate::store::db::{ApiKeyRow, Db, OwnedData, UserRow, now_ms};

/// A line on stdout; a closed pipe (`| head`) counts as written (see [`crate::cli::output`]).
macro_rules! say {
    ($($arg:tt)*) => {
        crate::cli::output::line(format_args!($($arg)*))?
    };
}

/// Which database: the same flags and variables as `serve`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct DbArgs {
    /// Database URL (sqlite://... or postgres://...) [env: AI_DATABASE_URL]
    #[arg(long)]
    pub database_url: Option<String>,
    /// Data directory of the SQLite database [env: AI_DATA_DIR] [default: ./data]
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The `.env` file whose AI_* settings apply [env: AI_ENV_FILE] [default: ./.env when present]
    #[arg(long)]
    pub env_file: Option<PathBuf>,
}

#[derive(clap::Subcommand, Debug, Clone)]
pub enum UsersCommand {
    /// List the users.
    List {
        #[command(flatten)]
        db: DbArgs,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Create a user; the password is read from stdin or prompted for.
    Create {
        username: String,
        /// Comma-separated scopes: read, write, execute, admin
        #[arg(long, default_value = "read")]
        scopes: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Set a user's password (read from stdin or prompted for); signs the user out everywhere.
    SetPassword {
        username: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Disable a user: logins, tokens and API keys stop working.
    Disable {
        username: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Enable a disabled user.
    Enable {
        username: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Delete a user with its API keys and sessions; its conversations are deleted too
    /// unless handed to another user.
    Delete {
        username: String,
        /// Give the user's conversations to this user instead of deleting them
        #[arg(long, value_name = "USER")]
        reassign_to: Option<String>,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(clap::Subcommand, Debug, Clone)]
pub enum KeysCommand {
    /// List API keys (never the keys themselves).
    List {
        /// Only this user's keys
        #[arg(long)]
        user: Option<String>,
        #[command(flatten)]
        db: DbArgs,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Create an API key for a user; the key is printed once on stdout.
    Create {
        /// The key's owner
        #[arg(long)]
        user: String,
        /// A label to recognise the key by
        #[arg(long)]
        name: String,
        /// Comma-separated scopes, within the owner's [default: the owner's]
        #[arg(long)]
        scopes: Option<String>,
        /// Lifetime in days [default: no expiry]
        #[arg(long)]
        expires_in_days: Option<u32>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Revoke an API key by its id (see `keys list`).
    Revoke {
        id: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

/// The database and audit trail `serve` would use with these flags.
async fn open(args: &DbArgs) -> Result<(Db, Audit), Failure> {
    let settings = crate::cli::import_v3::target_settings_with(
        args.database_url.clone(),
        args.data_dir.clone(),
        args.env_file.clone(),
    )
    .map_err(|e| refuse(format!("{e:#}")))?;
    let db = Db::connect(&settings.database_url).await?;
    let audit = Audit::new(db.clone(), settings.audit_log_path.clone()).await?;
    Ok((db, audit))
}

fn parse_scopes(text: &str) -> Result<Scopes, Failure> {
    let names: Vec<&str> = text
        .split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let scopes = Scopes::parse_names(&names).map_err(refuse)?;
    if scopes.is_empty() {
        return Err(refuse("--scopes must name at least one scope"));
    }
    Ok(scopes)
}

/// One line of stdin without its line ending, or a prompt (twice) on a terminal.
fn read_password(username: &str) -> Result<String, Failure> {
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("New password for {username}: "))?;
        let again = rpassword::prompt_password("Repeat it: ")?;
        if first != again {
            return Err(refuse("the two passwords differ; nothing was changed"));
        }
        first
    } else {
        let mut text = String::new();
        std::io::stdin()
            .take(passwords::MAX_LEN as u64 + 3)
            .read_to_string(&mut text)?;
        let line = text
            .strip_suffix('\n')
            .map(|t| t.strip_suffix('\r').unwrap_or(t))
            .unwrap_or(&text);
        if line.contains('\n') {
            return Err(refuse(
                "stdin must hold the password on a single line; nothing was changed",
            ));
        }
        line.to_string()
    };
    passwords::validate_new(&password).map_err(|e| refuse(e.to_string()))?;
    Ok(password)
}

async fn hash(password: String) -> Result<String, Failure> {
    let pool = crate::auth::hash_pool::HashPool::new(1, std::time::Duration::from_secs(60));
    passwords::hash(&pool, password)
        .await
        .map_err(|e| refuse(format!("cannot hash the password: {e}")))
}

async fn user(db: &Db, username: &str) -> Result<UserRow, Failure> {
    db.get_user(username)
        .await?
        .ok_or_else(|| refuse(format!("there is no user {username:?}")))
}

/// Refuses to leave the database without an enabled admin.
async fn keep_an_admin(db: &Db, username: &str, what: &str) -> Result<(), Failure> {
    let others = db
        .list_users()
        .await?
        .into_iter()
        .filter(|u| u.username != username && !u.disabled && u.scopes.has(Scope::Admin))
        .count();
    let target = db.get_user(username).await?;
    let is_admin = target.is_some_and(|u| !u.disabled && u.scopes.has(Scope::Admin));
    if is_admin && others == 0 {
        return Err(refuse(format!(
            "{username:?} is the only enabled admin; {what} it would leave nobody to administer the server \
             (create another admin first: ai-orchestrator users create NAME --scopes admin)"
        )));
    }
    Ok(())
}

async fn record(audit: &Audit, action: &str, target: &str, reason: impl Into<String>) {
    audit
        .record(
            AuditEvent::new(action, Outcome::Success)
                .actor("system")
                .target(target)
                .reason(reason),
        )
        .await;
}

fn print_users(users: &[UserRow], json: bool) -> anyhow::Result<()> {
    if json {
        let list: Vec<serde_json::Value> = users
            .iter()
            .map(|u| {
                serde_json::json!({
                    "username": u.username,
                    "scopes": u.scopes.names(),
                    "disabled": u.disabled,
                    "created_at": rfc3339(u.created_at),
                    "updated_at": rfc3339(u.updated_at),
                })
            })
            .collect();
        say!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    say!(
        "{:<24} {:<28} {:<9} CREATED",
        "USERNAME",
        "SCOPES",
        "DISABLED"
    );
    for u in users {
        say!(
            "{:<24} {:<28} {:<9} {}",
            u.username,
            u.scopes.names().join(","),
            if u.disabled { "yes" } else { "no" },
            rfc3339(u.created_at)
        );
    }
    Ok(())
}

fn print_keys(keys: &[ApiKeyRow], json: bool) -> anyhow::Result<()> {
    if json {
        let list: Vec<serde_json::Value> = keys
            .iter()
            .map(|k| {
                serde_json::json!({
                    "id": k.id,
                    "name": k.name,
                    "owner": k.owner,
                    "prefix": k.prefix,
                    "scopes": k.scopes.names(),
                    "created_at": rfc3339(k.created_at),
                    "expires_at": k.expires_at.map(rfc3339),
                    "last_used_at": k.last_used_at.map(rfc3339),
                    "revoked": k.revoked,
                })
            })
            .collect();
        say!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    say!(
        "{:<18} {:<20} {:<16} {:<10} {:<22} {:<26} REVOKED",
        "ID",
        "NAME",
        "OWNER",
        "PREFIX",
        "SCOPES",
        "EXPIRES"
    );
    for k in keys {
        say!(
            "{:<18} {:<20} {:<16} {:<10} {:<22} {:<26} {}",
            k.id,
            k.name,
            k.owner,
            k.prefix,
            k.scopes.names().join(","),
            k.expires_at.map(rfc3339).unwrap_or_else(|| "never".into()),
            if k.revoked { "yes" } else { "no" }
        );
    }
    Ok(())
}

pub async fn users(command: UsersCommand) -> Result<(), Failure> {
    match command {
        UsersCommand::List { db, json } => {
            let (db, _) = open(&db).await?;
            print_users(&db.list_users().await?, json)?;
        }
        UsersCommand::Create {
            username,
            scopes,
            db,
        } => {
            crate::http::routes::users::validate_username(&username)
                .map_err(|e| refuse(e.to_string()))?;
            let scopes = parse_scopes(&scopes)?;
            let (db, audit) = open(&db).await?;
            if db.get_user(&username).await?.is_some() {
                return Err(refuse(format!("user {username:?} already exists")));
            }
            let password = read_password(&username)?;
            let now = now_ms();
            let row = UserRow {
                username: username.clone(),
                password_hash: hash(password).await?,
                scopes,
                disabled: false,
                created_at: now,
                updated_at: now,
                uid: crate::store::db::new_user_id(),
                token_generation: 0,
            };
            if !db.insert_user(&row).await? {
                return Err(refuse(format!("user {username:?} already exists")));
            }
            record(
                &audit,
                "user.create",
                &username,
                format!("cli; scopes {}", scopes.to_db()),
            )
            .await;
            say!(
                "created user {username} with scopes {}",
                scopes.names().join(",")
            );
        }
        UsersCommand::SetPassword { username, db } => {
            let (db, audit) = open(&db).await?;
            let mut row = user(&db, &username).await?;
            let password = read_password(&username)?;
            row.password_hash = hash(password).await?;
            row.updated_at = now_ms();
            // Access tokens issued before stop working at once.
            row.token_generation += 1;
            db.update_user(&row).await?;
            let revoked = db.revoke_refresh_for_user(&username).await?;
            record(&audit, "user.update", &username, "cli; password reset").await;
            say!("password of {username} set; {revoked} sessions signed out");
        }
        UsersCommand::Disable { username, db } => set_disabled(&username, &db, true).await?,
        UsersCommand::Enable { username, db } => set_disabled(&username, &db, false).await?,
        UsersCommand::Delete {
            username,
            reassign_to,
            db,
        } => {
            let (db, audit) = open(&db).await?;
            user(&db, &username).await?;
            keep_an_admin(&db, &username, "deleting").await?;
            let owned = match reassign_to {
                Some(heir) if heir == username => {
                    return Err(refuse("--reassign-to must name another user"));
                }
                Some(heir) => {
                    user(&db, &heir).await?;
                    OwnedData::ReassignTo(heir)
                }
                None => OwnedData::Delete,
            };
            db.delete_user(&username, &owned).await?;
            let what = match &owned {
                OwnedData::Delete => "conversations deleted".to_string(),
                OwnedData::ReassignTo(heir) => format!("conversations handed to {heir}"),
            };
            record(&audit, "user.delete", &username, format!("cli; {what}")).await;
            say!("deleted user {username} with its API keys and sessions; {what}");
        }
    }
    Ok(())
}

async fn set_disabled(username: &str, args: &DbArgs, disabled: bool) -> Result<(), Failure> {
    let (db, audit) = open(args).await?;
    let mut row = user(&db, username).await?;
    let word = if disabled { "disabled" } else { "enabled" };
    if row.disabled == disabled {
        say!("{username} is already {word}");
        return Ok(());
    }
    if disabled {
        keep_an_admin(&db, username, "disabling").await?;
    }
    row.disabled = disabled;
    row.updated_at = now_ms();
    if disabled {
        row.token_generation += 1;
    }
    db.update_user(&row).await?;
    if disabled {
        db.revoke_refresh_for_user(username).await?;
    }
    record(&audit, "user.update", username, format!("cli; {word}")).await;
    say!("{username} {word}");
    Ok(())
}

pub async fn keys(command: KeysCommand) -> Result<(), Failure> {
    match command {
        KeysCommand::List { user, db, json } => {
            let (db, _) = open(&db).await?;
            print_keys(&db.list_api_keys(user.as_deref()).await?, json)?;
        }
        KeysCommand::Create {
            user: owner,
            name,
            scopes,
            expires_in_days,
            db,
        } => {
            let name = name.trim().to_string();
            if name.is_empty() || name.len() > 100 {
                return Err(refuse("--name must be 1-100 characters"));
            }
            let (db, audit) = open(&db).await?;
            let row = user(&db, &owner).await?;
            if row.disabled {
                return Err(refuse(format!(
                    "{owner:?} is disabled; enable it first (ai-orchestrator users enable {owner})"
                )));
            }
            let scopes = match scopes {
                Some(text) => parse_scopes(&text)?,
                None => row.scopes,
            };
            if !scopes.within(row.scopes) {
                return Err(refuse(format!(
                    "scopes [{}] exceed {owner}'s own [{}]",
                    scopes.names().join(","),
                    row.scopes.names().join(",")
                )));
            }
            let now = now_ms();
            let expires_at = match expires_in_days {
                Some(0) => return Err(refuse("--expires-in-days must be at least 1")),
                Some(days) => Some(now + i64::from(days) * 86_400_000),
                None => None,
            };
            let (key, key_hash, prefix) = api_keys::generate();
            let key_row = ApiKeyRow {
                id: api_keys::new_id(),
                name: name.clone(),
                owner: owner.clone(),
                key_hash,
                prefix,
                scopes,
                created_at: now,
                expires_at,
                last_used_at: None,
                revoked: false,
            };
            db.insert_api_key(&key_row).await?;
            record(
                &audit,
                "apikey.create",
                &key_row.id,
                format!("cli; owner {owner}; scopes {}", scopes.to_db()),
            )
            .await;
            eprintln!(
                "created API key {} ({name}) for {owner}; it is shown only now:",
                key_row.id
            );
            say!("{key}");
        }
        KeysCommand::Revoke { id, db } => {
            let (db, audit) = open(&db).await?;
            let Some(key) = db.get_api_key(&id).await? else {
                return Err(refuse(format!("there is no API key with id {id:?}")));
            };
            if !db.revoke_api_key(&id).await? {
                say!("API key {id} ({}) was already revoked", key.name);
                return Ok(());
            }
            record(
                &audit,
                "apikey.revoke",
                &id,
                format!("cli; owner {}", key.owner),
            )
            .await;
            say!("revoked API key {id} ({}) of {}", key.name, key.owner);
        }
    }
    Ok(())
}
