//! Settings: command-line flags > environment (`AI_*`) > files > defaults.
//!
//! The environment variables of the Python v3.0 server keep their names and
//! meaning. Files (the policy and the secrets directory) are read by
//! [`crate::config::reload`], because they change while the server runs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::bail;

use super::parse;
use jsonwebtoken::Algorithm;
use policy::contract::{self, env};

/// Flags of `ai-orchestrator serve`; each one beats its environment variable.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ServeArgs {
    /// Address to listen on [env: AI_HOST] [default: 0.0.0.0]
    #[arg(long)]
    pub host: Option<String>,
    /// Port to listen on; 0 picks a free one [env: AI_PORT] [default: 8001]
    #[arg(long)]
    pub port: Option<u16>,
    /// Directory holding policy.yaml [env: AI_CONFIG_DIR] [default: /etc/ai-orchestrator]
    #[arg(long)]
    pub config_dir: Option<PathBuf>,
    /// Directory holding JWT keys, admin password, declared API keys
    /// [env: AI_SECRETS_DIR] [default: /var/run/secrets/ai-orchestrator]
    #[arg(long)]
    pub secrets_dir: Option<PathBuf>,
    /// Directory for the SQLite database and generated keys [env: AI_DATA_DIR] [default: ./data]
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Database URL (sqlite://... or postgres://...) [env: AI_DATABASE_URL]
    #[arg(long)]
    pub database_url: Option<String>,
    /// `file`, `kubernetes` (also follow the ConfigMap and Secret through the API),
    /// or `auto` (kubernetes when in a cluster and the names are set) [env: AI_CONFIG_SOURCE] [default: auto]
    #[arg(long)]
    pub config_source: Option<String>,
    /// Namespace of the ConfigMap and Secret [env: AI_POD_NAMESPACE] [default: the service account's]
    #[arg(long)]
    pub pod_namespace: Option<String>,
    /// ConfigMap holding policy.yaml [env: AI_POLICY_CONFIGMAP]
    #[arg(long)]
    pub policy_configmap: Option<String>,
    /// Secret holding jwt-keys.json and api-keys.json [env: AI_AUTH_SECRET]
    #[arg(long)]
    pub auth_secret: Option<String>,
    /// A `.env` file to read (the environment wins over it) [env: AI_ENV_FILE]
    /// [default: ./.env when present]
    #[arg(long)]
    pub env_file: Option<PathBuf>,
}

/// The ConfigMap and Secret followed through the Kubernetes API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubernetesSource {
    /// `None`: the namespace of the client's configuration.
    pub namespace: Option<String>,
    pub configmap: String,
    pub secret: String,
}

/// A secret string whose `Debug` never shows the value.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LlmProvider {
    Ollama,
    OpenAi,
}

/// What the language-model client needs.
#[derive(Clone, Debug)]
pub struct LlmSettings {
    pub provider: LlmProvider,
    /// Base URL of the model server (`AI_OLLAMA_URL`, also plain `OLLAMA_URL`).
    pub base_url: String,
    pub default_model: String,
    /// Models offered to clients (`AI_MODELS`, JSON list or comma separated); empty = ask the server.
    pub models: Vec<String>,
    /// One model call's limit (`AI_LLM_TIMEOUT`).
    pub timeout: Duration,
    /// `AI_LLM_API_KEY`, sent as `Authorization: Bearer <key>`.
    pub api_key: Option<Secret>,
    /// `AI_LLM_TEMPERATURE`, `AI_LLM_MAX_TOKENS`, `AI_LLM_CONTEXT_LENGTH`.
    pub params: crate::llm::GenerationParams,
}

/// What the agent loop and its tools need.
#[derive(Clone, Debug)]
pub struct AgentSettings {
    pub max_iterations: u32,
    /// A whole turn's limit (`AI_TURN_TIMEOUT`), over all its model and tool calls.
    pub turn_timeout: Duration,
    pub upload_dir: PathBuf,
    pub max_upload_size: u64,
}

/// The bound on concurrent password hashing (see `auth::hash_pool`).
#[derive(Clone, Debug)]
pub struct PasswordHashSettings {
    /// Hashes computed at once, each with its own ~19 MiB of working memory.
    pub concurrency: usize,
    /// How long a login waits for a free slot before a 503.
    pub queue_timeout: Duration,
}

/// JWT issuing and checking.
#[derive(Clone, Debug)]
pub struct JwtSettings {
    pub algorithm: Algorithm,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// `AI_JWT_SECRET_KEY`, used when the secrets dir has no `jwt-keys.json`.
    pub env_secret: Option<Secret>,
    pub issuer: String,
    pub audience: String,
    pub leeway_seconds: u64,
}

/// Limits on the HTTP connections themselves, so idle or slow clients cannot use up the
/// server's sockets and file descriptors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionSettings {
    /// `AI_MAX_CONNECTIONS`: connections served at once; more are answered 503.
    pub max_connections: usize,
    /// `AI_HEADER_READ_TIMEOUT_SECS`: a request head must arrive whole within this time of
    /// the connection opening (or of its first byte on a kept-alive connection).
    pub header_read_timeout: Duration,
    /// `AI_IDLE_TIMEOUT_SECS`: a kept-alive connection with no request in flight is closed
    /// after this long.
    pub idle_timeout: Duration,
    /// `AI_MAX_HEADER_BYTES`: request line plus headers; longer heads are refused (431).
    pub max_header_bytes: usize,
}

/// Connections served at once unless `AI_MAX_CONNECTIONS` says otherwise; lowered to half the
/// open-file limit when that is smaller, so the database, logs and tools keep descriptors.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;

/// Half the soft `RLIMIT_NOFILE`, capped at [`DEFAULT_MAX_CONNECTIONS`].
pub fn default_max_connections(nofile_soft: Option<u64>) -> usize {
    let half = nofile_soft
        .map(|n| usize::try_from(n / 2).unwrap_or(usize::MAX))
        .unwrap_or(DEFAULT_MAX_CONNECTIONS);
    half.clamp(1, DEFAULT_MAX_CONNECTIONS)
}

/// The login brute-force guard's thresholds (see [`crate::auth::guard`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockoutSettings {
    /// `AI_LOGIN_MAX_FAILURES`: failures of one username from one client IP.
    pub per_user_and_ip: usize,
    /// `AI_LOGIN_MAX_FAILURES_PER_IP`: failures from one client IP, any usernames.
    pub per_ip: usize,
    /// `AI_LOGIN_MAX_FAILURES_PER_USER`: failures of one username from all IPs together.
    pub per_user: usize,
    /// `AI_LOGIN_LOCKOUT_SECS`: how long a failure counts.
    pub window: Duration,
}

impl Default for LockoutSettings {
    fn default() -> Self {
        LockoutSettings {
            per_user_and_ip: 5,
            per_ip: 20,
            per_user: 100,
            window: Duration::from_secs(15 * 60),
        }
    }
}

/// Environment values that override the policy file's CORS and rate-limit sections.
#[derive(Clone, Debug, Default)]
pub struct PolicyOverrides {
    pub cors_origins: Option<Vec<String>>,
    pub cors_allow_credentials: Option<bool>,
    pub cors_methods: Option<Vec<String>>,
    pub cors_headers: Option<Vec<String>>,
    pub rate_limit_enabled: Option<bool>,
    /// Requests and period (`1m`, `1h`, …) for routes without their own budget.
    pub rate_limit_default: Option<(u32, &'static str)>,
    /// `AI_TRUSTED_PROXIES`: CIDRs added to the policy's `rateLimits.trustedProxies`.
    pub trusted_proxies: Option<Vec<String>>,
}

impl PolicyOverrides {
    pub fn is_empty(&self) -> bool {
        self.cors_origins.is_none()
            && self.cors_allow_credentials.is_none()
            && self.cors_methods.is_none()
            && self.cors_headers.is_none()
            && self.rate_limit_enabled.is_none()
            && self.rate_limit_default.is_none()
            && self.trusted_proxies.is_none()
    }
}

/// One of the server's own files or directories, by what it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnPath {
    pub what: &'static str,
    /// Absolute, normalised, symlinks resolved where it exists.
    pub path: PathBuf,
}

impl OwnPath {
    pub fn new(what: &'static str, path: &Path) -> OwnPath {
        let absolute = std::path::absolute(path)
            .map(|a| policy::normalize(&a))
            .unwrap_or_else(|_| path.to_path_buf());
        let path = policy::resolve(&absolute).unwrap_or(absolute);
        OwnPath { what, path }
    }

    pub fn is_binary(&self) -> bool {
        self.what == "binary"
    }
}

/// Layer names `AI_SANDBOX_SIMULATE_MISSING` accepts.
const SIMULABLE_LAYERS: &[&str] = &["landlock", "namespaces"];

fn simulate_missing(value: Option<String>) -> anyhow::Result<Vec<String>> {
    let mut layers = Vec::new();
    for name in value.iter().flat_map(|v| v.split(',')).map(str::trim) {
        if name.is_empty() {
            continue;
        }
        if !SIMULABLE_LAYERS.contains(&name) {
            bail!("AI_SANDBOX_SIMULATE_MISSING: unknown layer `{name}` (use landlock, namespaces)");
        }
        layers.push(name.to_string());
    }
    Ok(layers)
}

#[derive(Clone, Debug)]
pub struct Settings {
    /// `AI_APP_NAME`: the service name `GET /` reports.
    pub app_name: String,
    pub host: String,
    pub port: u16,
    pub config_dir: PathBuf,
    pub secrets_dir: PathBuf,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub auth_enabled: bool,
    pub admin_password: Option<Secret>,
    pub jwt: JwtSettings,
    pub password_hashing: PasswordHashSettings,
    pub overrides: PolicyOverrides,
    pub debug: bool,
    /// A tracing level name (`error` … `trace`); audit records are never filtered by it.
    pub log_level: String,
    /// Where audit records are appended as JSON lines (`<data-dir>/audit.log` by default, as v3's `/data/audit.log`).
    pub audit_log_path: Option<PathBuf>,
    /// Where the admin password came from (`AI_ADMIN_PASSWORD` or `ADMIN_PASSWORD`), for messages.
    pub admin_password_variable: &'static str,
    pub llm: LlmSettings,
    pub agent: AgentSettings,
    /// Set when the API source is on; the directories are always read too.
    pub kubernetes: Option<KubernetesSource>,
    /// `AI_CONSOLE_ENABLED`: serve the web console under `/` (default on).
    pub console_enabled: bool,
    pub doors: FrontDoors,
    /// The `.env` file that was read, and the numbers of its lines that were skipped.
    pub env_file: Option<(PathBuf, Vec<usize>)>,
    pub connections: ConnectionSettings,
    pub login_lockout: LockoutSettings,
    /// Confinement layers to treat as missing (`AI_SANDBOX_SIMULATE_MISSING=landlock,namespaces`).
    pub sandbox_simulate_missing: Vec<String>,
    /// The launcher binary (`AI_SANDBOX_LAUNCHER`); default: `ai-orchestrator-sandbox`
    /// next to this server's binary, else this binary's own `sandbox-exec`.
    pub sandbox_launcher: Option<PathBuf>,
}

/// The standard protocols served beside the v3 routes (`AI_OPENAI_API_ENABLED`,
/// `AI_MCP_ENABLED`; both on by default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrontDoors {
    /// `/v1/chat/completions` and `/v1/models`.
    pub openai: bool,
    /// `/mcp`.
    pub mcp: bool,
}

impl Settings {
    /// Settings from flags, the process environment and the `.env` file, in that order.
    pub fn load(args: &ServeArgs) -> anyhow::Result<Settings> {
        let process = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let located = crate::config::dotenv::locate(
            args.env_file.as_deref(),
            process("AI_ENV_FILE").as_deref(),
        )?;
        let file = located
            .map(|path| crate::config::dotenv::read(&path, process))
            .transpose()?;
        let mut settings = Settings::from_sources(args, |name| {
            process(name).or_else(|| file.as_ref().and_then(|f| f.get(name).map(str::to_string)))
        })?;
        settings.env_file = file.map(|f| (f.path, f.parsed.bad_lines));
        Ok(settings)
    }

    /// Settings from flags and an environment lookup (testable without touching the process).
    pub fn from_sources(
        args: &ServeArgs,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Settings> {
        let get = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        refuse_replaced(&get)?;
        let host = args
            .host
            .clone()
            .or_else(|| get(env::HOST))
            .unwrap_or_else(|| "0.0.0.0".into());
        let port = match args.port {
            Some(p) => p,
            None => parse_or(get(env::PORT), env::PORT, contract::DEFAULT_PORT)?,
        };
        let config_dir = args
            .config_dir
            .clone()
            .or_else(|| get(env::CONFIG_DIR).map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(contract::DEFAULT_CONFIG_DIR));
        let secrets_dir = args
            .secrets_dir
            .clone()
            .or_else(|| get(env::SECRETS_DIR).map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(contract::DEFAULT_SECRETS_DIR));
        let data_dir = args
            .data_dir
            .clone()
            .or_else(|| get(env::DATA_DIR).map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("./data"));
        let database_url = match args.database_url.clone().or_else(|| get(env::DATABASE_URL)) {
            Some(url) => url,
            None => {
                let file = get(env::DB_PATH)
                    .map(PathBuf::from)
                    .unwrap_or_else(|| data_dir.join("orchestrator.db"));
                format!("sqlite://{}", file.display())
            }
        };

        let algorithm = match get("AI_JWT_ALGORITHM").as_deref() {
            None | Some("HS256") => Algorithm::HS256,
            Some("HS384") => Algorithm::HS384,
            Some("HS512") => Algorithm::HS512,
            Some(other) => bail!(
                "AI_JWT_ALGORITHM={other} is not supported: use HS256, HS384 or HS512 (shared-secret keys)"
            ),
        };
        // v3's first start also read the unprefixed names.
        let (secret_variable, env_secret) = match get(env::JWT_SECRET_KEY) {
            Some(v) => (env::JWT_SECRET_KEY, Some(Secret::new(v))),
            None => ("JWT_SECRET_KEY", get("JWT_SECRET_KEY").map(Secret::new)),
        };
        if let Some(secret) = &env_secret
            && secret.expose().len() < contract::MIN_JWT_SECRET_BYTES
        {
            bail!(
                "{secret_variable} is {} bytes long; at least {} bytes are required (generate one with: openssl rand -base64 48)",
                secret.expose().len(),
                contract::MIN_JWT_SECRET_BYTES
            );
        }
        let access_minutes: u64 =
            parse_or(get(env::JWT_EXPIRE_MINUTES), env::JWT_EXPIRE_MINUTES, 60)?;
        let refresh_days: u64 = parse_or(
            get(env::REFRESH_TOKEN_EXPIRE_DAYS),
            "AI_REFRESH_TOKEN_EXPIRE_DAYS",
            7,
        )?;
        if access_minutes == 0 || refresh_days == 0 {
            bail!("AI_JWT_EXPIRE_MINUTES and AI_REFRESH_TOKEN_EXPIRE_DAYS must be at least 1");
        }

        let password_hashing = PasswordHashSettings {
            concurrency: parse_or(
                get("AI_PASSWORD_HASH_CONCURRENCY"),
                "AI_PASSWORD_HASH_CONCURRENCY",
                crate::auth::hash_pool::default_concurrency(),
            )?,
            queue_timeout: Duration::from_millis(parse_or(
                get("AI_PASSWORD_HASH_QUEUE_TIMEOUT_MS"),
                "AI_PASSWORD_HASH_QUEUE_TIMEOUT_MS",
                u64::try_from(crate::auth::hash_pool::DEFAULT_QUEUE_TIMEOUT.as_millis())
                    .unwrap_or(u64::MAX),
            )?),
        };
        if password_hashing.concurrency == 0 {
            bail!("AI_PASSWORD_HASH_CONCURRENCY must be at least 1");
        }

        let cors_origins = get("AI_CORS_ORIGINS")
            .map(|v| parse::origins(&v))
            .transpose()?;
        let cors_allow_credentials = match get("AI_CORS_ALLOW_CREDENTIALS") {
            Some(v) => Some(parse_bool(&v, "AI_CORS_ALLOW_CREDENTIALS")?),
            // v3's default (credentials on) when its variables configure CORS; never with `*`.
            None => cors_origins
                .as_ref()
                .map(|o| !o.iter().any(|origin| origin == "*")),
        };
        let overrides = PolicyOverrides {
            cors_origins,
            cors_allow_credentials,
            cors_methods: get("AI_CORS_ALLOW_METHODS")
                .map(|v| parse_list(&v, "AI_CORS_ALLOW_METHODS"))
                .transpose()?,
            cors_headers: get("AI_CORS_ALLOW_HEADERS")
                .map(|v| parse_list(&v, "AI_CORS_ALLOW_HEADERS"))
                .transpose()?,
            rate_limit_enabled: get("AI_RATE_LIMIT_ENABLED")
                .map(|v| parse_bool(&v, "AI_RATE_LIMIT_ENABLED"))
                .transpose()?,
            rate_limit_default: get("AI_RATE_LIMIT_DEFAULT")
                .map(|v| parse::rate(&v))
                .transpose()?,
            trusted_proxies: get("AI_TRUSTED_PROXIES")
                .map(|v| parse::cidrs(&v))
                .transpose()?,
        };

        let provider = match get(env::LLM_PROVIDER)
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("ollama") => LlmProvider::Ollama,
            Some("openai") => LlmProvider::OpenAi,
            Some(other) => bail!("AI_LLM_PROVIDER={other} is not supported: use ollama or openai"),
        };
        let llm = LlmSettings {
            provider,
            base_url: get(env::OLLAMA_URL)
                .or_else(|| get("OLLAMA_URL"))
                .unwrap_or_else(|| "http://localhost:11434".into()),
            default_model: get(env::DEFAULT_MODEL).unwrap_or_else(|| "llama3.1:8b".into()),
            models: get(env::MODELS)
                .map(|v| parse_list(&v, env::MODELS))
                .transpose()?
                .unwrap_or_default(),
            timeout: Duration::from_secs_f64(
                parse_or(get(env::LLM_TIMEOUT), env::LLM_TIMEOUT, 120.0f64)?.max(0.001),
            ),
            api_key: get(env::LLM_API_KEY).map(|k| Secret::new(k.trim())),
            params: generation_params(&get)?,
        };
        let agent = AgentSettings {
            max_iterations: parse_or(get("AI_MAX_ITERATIONS"), "AI_MAX_ITERATIONS", 12)?,
            turn_timeout: Duration::from_secs_f64(
                parse_or(get(env::TURN_TIMEOUT), env::TURN_TIMEOUT, 300.0f64)?.max(0.001),
            ),
            upload_dir: get("AI_UPLOAD_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| data_dir.join("uploads")),
            max_upload_size: parse_or(
                get("AI_MAX_UPLOAD_SIZE"),
                "AI_MAX_UPLOAD_SIZE",
                50 * 1024 * 1024,
            )?,
        };

        let kubernetes = kubernetes_source(args, &get)?;
        let connections = connection_settings(&get)?;
        let login_lockout = lockout_settings(&get)?;
        let debug = get("AI_DEBUG")
            .map(|v| parse_bool(&v, "AI_DEBUG"))
            .transpose()?
            .unwrap_or(false);
        let switch = |name: &str| -> anyhow::Result<bool> {
            Ok(get(name)
                .map(|v| parse_bool(&v, name))
                .transpose()?
                .unwrap_or(true))
        };
        let doors = FrontDoors {
            openai: switch("AI_OPENAI_API_ENABLED")?,
            mcp: switch("AI_MCP_ENABLED")?,
        };
        let (admin_password_variable, admin_password) = match get("AI_ADMIN_PASSWORD") {
            Some(v) => ("AI_ADMIN_PASSWORD", Some(Secret::new(v))),
            None => ("ADMIN_PASSWORD", get("ADMIN_PASSWORD").map(Secret::new)),
        };
        let log_level = match get("AI_LOG_LEVEL") {
            Some(v) => parse::log_level(&v)?,
            None if debug => "debug",
            None => "info",
        };
        let audit_log_path = get("AI_AUDIT_LOG_PATH")
            .map(PathBuf::from)
            .unwrap_or_else(|| data_dir.join("audit.log"));
        Ok(Settings {
            app_name: get("AI_APP_NAME").unwrap_or_else(|| "AI Orchestrator".into()),
            host,
            port,
            config_dir,
            secrets_dir,
            data_dir,
            database_url,
            auth_enabled: get(env::AUTH_ENABLED)
                .map(|v| parse_bool(&v, env::AUTH_ENABLED))
                .transpose()?
                .unwrap_or(true),
            admin_password,
            admin_password_variable,
            jwt: JwtSettings {
                algorithm,
                access_ttl: Duration::from_secs(access_minutes * 60),
                refresh_ttl: Duration::from_secs(refresh_days * 86_400),
                env_secret,
                issuer: "ai-orchestrator".into(),
                audience: "ai-orchestrator".into(),
                leeway_seconds: 5,
            },
            password_hashing,
            overrides,
            debug,
            log_level: log_level.to_string(),
            audit_log_path: Some(audit_log_path),
            llm,
            agent,
            kubernetes,
            console_enabled: get("AI_CONSOLE_ENABLED")
                .map(|v| parse_bool(&v, "AI_CONSOLE_ENABLED"))
                .transpose()?
                .unwrap_or(true),
            doors,
            env_file: None,
            connections,
            login_lockout,
            sandbox_simulate_missing: simulate_missing(get("AI_SANDBOX_SIMULATE_MISSING"))?,
            sandbox_launcher: get("AI_SANDBOX_LAUNCHER").map(PathBuf::from),
        })
    }

    /// The server's own files, which no policy root may contain: the data
    /// directory (database, JWT secret, lock, scratch), the database file
    /// wherever it is, the secrets and config directories, the audit log and
    /// the binary. Uploads are not among them: they are the users' files,
    /// reachable exactly where the policy's roots say (uploads are on only
    /// when the upload directory is a write root).
    pub fn own_paths(&self) -> Vec<OwnPath> {
        let mut paths = vec![
            OwnPath::new("data directory", &self.data_dir),
            OwnPath::new("secrets directory", &self.secrets_dir),
            OwnPath::new("config directory", &self.config_dir),
            OwnPath::new("sandbox scratch directory", &self.sandbox_scratch_dir()),
        ];
        if let Some(file) = self.database_url.strip_prefix("sqlite://") {
            let file = file.split('?').next().unwrap_or(file);
            paths.push(OwnPath::new("database", Path::new(file)));
        }
        if let Some(log) = &self.audit_log_path {
            paths.push(OwnPath::new("audit log", log));
        }
        if let Ok(exe) = std::env::current_exe() {
            paths.push(OwnPath::new("binary", &exe));
        }
        if let Ok(exe) = crate::tools::sandbox::default_launcher() {
            paths.push(OwnPath::new("binary", &exe));
        }
        if let Some(exe) = &self.sandbox_launcher {
            paths.push(OwnPath::new("binary", exe));
        }
        paths
    }

    /// Where commands get their scratch `HOME`s: inside the data directory,
    /// so outside every root.
    pub fn sandbox_scratch_dir(&self) -> PathBuf {
        self.data_dir.join("sandbox")
    }

    pub fn policy_path(&self) -> PathBuf {
        self.config_dir.join(contract::POLICY_FILE)
    }
}

/// `file`, `kubernetes`, or `auto`: on when `KUBERNETES_SERVICE_HOST` is set
/// (in a pod) and both names are configured.
fn kubernetes_source(
    args: &ServeArgs,
    get: &impl Fn(&str) -> Option<String>,
) -> anyhow::Result<Option<KubernetesSource>> {
    let mode = args
        .config_source
        .clone()
        .or_else(|| get(env::CONFIG_SOURCE))
        .unwrap_or_else(|| "auto".into());
    let namespace = args
        .pod_namespace
        .clone()
        .or_else(|| get(env::POD_NAMESPACE));
    let configmap = args
        .policy_configmap
        .clone()
        .or_else(|| get(env::POLICY_CONFIGMAP));
    let secret = args.auth_secret.clone().or_else(|| get(env::AUTH_SECRET));
    let wanted = match mode.trim().to_ascii_lowercase().as_str() {
        "file" => return Ok(None),
        env::CONFIG_SOURCE_KUBERNETES => true,
        "auto" => false,
        other => bail!("AI_CONFIG_SOURCE={other:?} is not supported: use file, kubernetes or auto"),
    };
    match (configmap, secret) {
        (Some(configmap), Some(secret)) if wanted || get("KUBERNETES_SERVICE_HOST").is_some() => {
            Ok(Some(KubernetesSource {
                namespace,
                configmap,
                secret,
            }))
        }
        _ if wanted => bail!(
            "AI_CONFIG_SOURCE=kubernetes needs the ConfigMap and Secret names: \
             set AI_POLICY_CONFIGMAP and AI_AUTH_SECRET (or --policy-configmap and --auth-secret)"
        ),
        _ => Ok(None),
    }
}

fn connection_settings(
    get: &impl Fn(&str) -> Option<String>,
) -> anyhow::Result<ConnectionSettings> {
    let nofile = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    let max_connections = parse_or(
        get("AI_MAX_CONNECTIONS"),
        "AI_MAX_CONNECTIONS",
        default_max_connections(nofile),
    )?;
    let header_read: u64 = parse_or(
        get("AI_HEADER_READ_TIMEOUT_SECS"),
        "AI_HEADER_READ_TIMEOUT_SECS",
        10,
    )?;
    let idle: u64 = parse_or(get("AI_IDLE_TIMEOUT_SECS"), "AI_IDLE_TIMEOUT_SECS", 60)?;
    let max_header_bytes = parse_or(get("AI_MAX_HEADER_BYTES"), "AI_MAX_HEADER_BYTES", 16_384)?;
    if !(1..=1_000_000).contains(&max_connections) {
        bail!("AI_MAX_CONNECTIONS must be between 1 and 1000000");
    }
    if !(1..=3600).contains(&header_read) || !(1..=86_400).contains(&idle) {
        bail!(
            "AI_HEADER_READ_TIMEOUT_SECS must be between 1 and 3600, AI_IDLE_TIMEOUT_SECS between 1 and 86400"
        );
    }
    // hyper's read buffer cannot be smaller than 8 KiB.
    if !(8_192..=1_048_576).contains(&max_header_bytes) {
        bail!("AI_MAX_HEADER_BYTES must be between 8192 and 1048576");
    }
    Ok(ConnectionSettings {
        max_connections,
        header_read_timeout: Duration::from_secs(header_read),
        idle_timeout: Duration::from_secs(idle),
        max_header_bytes,
    })
}

fn lockout_settings(get: &impl Fn(&str) -> Option<String>) -> anyhow::Result<LockoutSettings> {
    let defaults = LockoutSettings::default();
    let count = |name: &str, default: usize| -> anyhow::Result<usize> {
        let n = parse_or(get(name), name, default)?;
        if !(1..=10_000).contains(&n) {
            bail!("{name} must be between 1 and 10000");
        }
        Ok(n)
    };
    let window: u64 = parse_or(
        get("AI_LOGIN_LOCKOUT_SECS"),
        "AI_LOGIN_LOCKOUT_SECS",
        defaults.window.as_secs(),
    )?;
    if !(1..=86_400).contains(&window) {
        bail!("AI_LOGIN_LOCKOUT_SECS must be between 1 and 86400");
    }
    Ok(LockoutSettings {
        per_user_and_ip: count("AI_LOGIN_MAX_FAILURES", defaults.per_user_and_ip)?,
        per_ip: count("AI_LOGIN_MAX_FAILURES_PER_IP", defaults.per_ip)?,
        per_user: count("AI_LOGIN_MAX_FAILURES_PER_USER", defaults.per_user)?,
        window: Duration::from_secs(window),
    })
}

/// `AI_LLM_TEMPERATURE` (0–2, default 0.2), `AI_LLM_MAX_TOKENS` (default
/// 2048) and `AI_LLM_CONTEXT_LENGTH` (default 8192); a token count of `0`
/// leaves it to the model server.
fn generation_params(
    get: &impl Fn(&str) -> Option<String>,
) -> anyhow::Result<crate::llm::GenerationParams> {
    let defaults = crate::llm::GenerationParams::default();
    let temperature: f64 = parse_or(
        get(env::LLM_TEMPERATURE),
        env::LLM_TEMPERATURE,
        defaults.temperature,
    )?;
    if !(0.0..=2.0).contains(&temperature) {
        bail!(
            "{}={temperature} is out of range: use a value from 0 to 2 (low values such as 0.2 suit tool use)",
            env::LLM_TEMPERATURE
        );
    }
    let tokens = |name: &str, default: Option<u32>| -> anyhow::Result<Option<u32>> {
        Ok(match get(name) {
            None => default,
            Some(v) => Some(parse_or(Some(v), name, 0u32)?).filter(|n| *n > 0),
        })
    };
    Ok(crate::llm::GenerationParams {
        temperature,
        max_tokens: tokens(env::LLM_MAX_TOKENS, defaults.max_tokens)?,
        context_length: tokens(env::LLM_CONTEXT_LENGTH, defaults.context_length)?,
    })
}

fn parse_or<T: std::str::FromStr>(
    value: Option<String>,
    name: &str,
    default: T,
) -> anyhow::Result<T> {
    match value {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("{name}={v:?} is not a valid value")),
    }
}

fn parse_bool(value: &str, name: &str) -> anyhow::Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => bail!("{name}={value:?} is not a boolean (use true or false)"),
    }
}

/// A JSON list (`["a","b"]`, as pydantic reads it), a comma-separated list, or the
/// JSON list with the quotes bash strips.
fn parse_list(value: &str, name: &str) -> anyhow::Result<Vec<String>> {
    parse::list(value, name)
}

/// v3.0 variables that have no meaning here, and what replaces each.
const REPLACED: &[(&str, &str)] = &[(
    "AI_AUTH_DB_PATH",
    "users and API keys live in the one database (AI_DB_PATH or AI_DATABASE_URL); bring a v3 auth.db over \
     with `ai-orchestrator import-v3 --auth-db PATH --orchestrator-db PATH`, then remove AI_AUTH_DB_PATH",
)];

/// Refuses a start with a v3.0 variable that would otherwise be silently ignored.
fn refuse_replaced(get: &impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
    for (name, replacement) in REPLACED {
        if get(name).is_some() {
            bail!("{name} is set but not used by this server: {replacement}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(args: &ServeArgs, vars: &[(&str, &str)]) -> anyhow::Result<Settings> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_sources(args, |k| map.get(k).cloned())
    }

    #[test]
    fn flags_beat_environment_which_beats_defaults() {
        let s = settings(&ServeArgs::default(), &[]).unwrap();
        assert_eq!((s.host.as_str(), s.port), ("0.0.0.0", 8001));
        assert_eq!(s.database_url, "sqlite://./data/orchestrator.db");
        let s = settings(
            &ServeArgs::default(),
            &[("AI_PORT", "9000"), ("AI_DB_PATH", "/x/y.db")],
        )
        .unwrap();
        assert_eq!(s.port, 9000);
        assert_eq!(s.database_url, "sqlite:///x/y.db");
        let args = ServeArgs {
            port: Some(7000),
            ..Default::default()
        };
        assert_eq!(settings(&args, &[("AI_PORT", "9000")]).unwrap().port, 7000);
    }

    #[test]
    fn the_front_doors_are_on_unless_switched_off() {
        let on = settings(&ServeArgs::default(), &[]).unwrap().doors;
        assert!(on.openai && on.mcp);
        let off = settings(
            &ServeArgs::default(),
            &[("AI_OPENAI_API_ENABLED", "false"), ("AI_MCP_ENABLED", "0")],
        )
        .unwrap()
        .doors;
        assert!(!off.openai && !off.mcp);
        let err = settings(&ServeArgs::default(), &[("AI_MCP_ENABLED", "maybe")]).unwrap_err();
        assert!(err.to_string().contains("AI_MCP_ENABLED"), "{err}");
    }

    #[test]
    fn short_jwt_secret_and_unknown_algorithm_are_refused() {
        let err = settings(&ServeArgs::default(), &[("AI_JWT_SECRET_KEY", "short")]).unwrap_err();
        assert!(err.to_string().contains("at least 32 bytes"), "{err}");
        assert!(
            !err.to_string().contains("short\""),
            "the secret must not be echoed"
        );
        assert!(settings(&ServeArgs::default(), &[("AI_JWT_ALGORITHM", "none")]).is_err());
        assert!(settings(&ServeArgs::default(), &[("AI_JWT_ALGORITHM", "RS256")]).is_err());
    }

    #[test]
    fn v3_list_and_rate_formats_are_understood() {
        let s = settings(
            &ServeArgs::default(),
            &[
                (
                    "AI_CORS_ORIGINS",
                    r#"["https://a.example","https://b.example"]"#,
                ),
                ("AI_RATE_LIMIT_DEFAULT", "30/minute"),
                ("OLLAMA_URL", "http://ollama:11434"),
            ],
        )
        .unwrap();
        assert_eq!(s.overrides.cors_origins.unwrap().len(), 2);
        assert_eq!(s.overrides.rate_limit_default, Some((30, "1m")));
        assert_eq!(s.llm.base_url, "http://ollama:11434");
        assert!(settings(&ServeArgs::default(), &[("AI_AUTH_ENABLED", "maybe")]).is_err());
    }

    #[test]
    fn generation_parameters_timeouts_and_the_api_key() {
        let s = settings(&ServeArgs::default(), &[]).unwrap();
        assert_eq!(s.llm.params, crate::llm::GenerationParams::default());
        assert_eq!(s.llm.params.temperature, 0.2);
        assert_eq!(s.agent.turn_timeout, Duration::from_secs(300));
        assert_eq!(s.llm.timeout, Duration::from_secs(120));
        assert!(s.llm.api_key.is_none());
        let s = settings(
            &ServeArgs::default(),
            &[
                ("AI_LLM_TEMPERATURE", "0"),
                ("AI_LLM_MAX_TOKENS", "0"),
                ("AI_LLM_CONTEXT_LENGTH", "32768"),
                ("AI_TURN_TIMEOUT", "45"),
                ("AI_LLM_API_KEY", "sk-test-0123456789"),
            ],
        )
        .unwrap();
        assert_eq!(s.llm.params.temperature, 0.0);
        assert_eq!(s.llm.params.max_tokens, None);
        assert_eq!(s.llm.params.context_length, Some(32768));
        assert_eq!(s.agent.turn_timeout, Duration::from_secs(45));
        assert_eq!(
            s.llm.api_key.as_ref().map(Secret::expose),
            Some("sk-test-0123456789")
        );
        assert!(!format!("{s:?}").contains("sk-test-0123456789"));
        let err = settings(&ServeArgs::default(), &[("AI_LLM_TEMPERATURE", "3")]).unwrap_err();
        assert!(err.to_string().contains("AI_LLM_TEMPERATURE"), "{err}");
        let err = settings(&ServeArgs::default(), &[("AI_LLM_MAX_TOKENS", "-1")]).unwrap_err();
        assert!(err.to_string().contains("AI_LLM_MAX_TOKENS"), "{err}");
    }

    #[test]
    fn connection_limits_and_lockout_have_defaults_and_bounds() {
        assert_eq!(default_max_connections(Some(1024)), 512);
        assert_eq!(default_max_connections(Some(256)), 128);
        assert_eq!(default_max_connections(Some(1 << 20)), 512);
        assert_eq!(default_max_connections(None), 512);
        let s = settings(&ServeArgs::default(), &[]).unwrap();
        assert_eq!(s.connections.header_read_timeout, Duration::from_secs(10));
        assert_eq!(s.connections.idle_timeout, Duration::from_secs(60));
        assert_eq!(s.login_lockout, LockoutSettings::default());
        let s = settings(
            &ServeArgs::default(),
            &[
                ("AI_MAX_CONNECTIONS", "40"),
                ("AI_HEADER_READ_TIMEOUT_SECS", "2"),
                ("AI_LOGIN_MAX_FAILURES_PER_USER", "50"),
            ],
        )
        .unwrap();
        assert_eq!(s.connections.max_connections, 40);
        assert_eq!(s.connections.header_read_timeout, Duration::from_secs(2));
        assert_eq!(s.login_lockout.per_user, 50);
        for bad in [
            ("AI_MAX_CONNECTIONS", "0"),
            ("AI_IDLE_TIMEOUT_SECS", "0"),
            ("AI_MAX_HEADER_BYTES", "100"),
            ("AI_LOGIN_MAX_FAILURES", "0"),
            ("AI_LOGIN_LOCKOUT_SECS", "-1"),
        ] {
            assert!(settings(&ServeArgs::default(), &[bad]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn kubernetes_source_is_chosen_by_mode_and_names() {
        let names = [
            ("AI_POLICY_CONFIGMAP", "o-policy"),
            ("AI_AUTH_SECRET", "o-auth"),
            ("AI_POD_NAMESPACE", "ns"),
        ];
        let expected = KubernetesSource {
            namespace: Some("ns".into()),
            configmap: "o-policy".into(),
            secret: "o-auth".into(),
        };
        // auto: only inside a cluster.
        assert_eq!(
            settings(&ServeArgs::default(), &names).unwrap().kubernetes,
            None
        );
        let in_pod = [names.as_slice(), &[("KUBERNETES_SERVICE_HOST", "10.0.0.1")]].concat();
        assert_eq!(
            settings(&ServeArgs::default(), &in_pod).unwrap().kubernetes,
            Some(expected.clone())
        );
        // file beats the cluster; the flag beats the environment.
        let args = ServeArgs {
            config_source: Some("file".into()),
            ..Default::default()
        };
        assert_eq!(settings(&args, &in_pod).unwrap().kubernetes, None);
        let forced = [names.as_slice(), &[("AI_CONFIG_SOURCE", "kubernetes")]].concat();
        assert_eq!(
            settings(&ServeArgs::default(), &forced).unwrap().kubernetes,
            Some(expected)
        );
        // kubernetes without names, or an unknown mode, stops the start.
        let err =
            settings(&ServeArgs::default(), &[("AI_CONFIG_SOURCE", "kubernetes")]).unwrap_err();
        assert!(err.to_string().contains("AI_POLICY_CONFIGMAP"), "{err}");
        assert!(settings(&ServeArgs::default(), &[("AI_CONFIG_SOURCE", "etcd")]).is_err());
    }

    #[test]
    fn every_v3_variable_is_honoured_with_v3_defaults() {
        let s = settings(&ServeArgs::default(), &[]).unwrap();
        assert_eq!(s.jwt.access_ttl, Duration::from_secs(3600));
        assert_eq!(s.agent.max_upload_size, 50 * 1024 * 1024);
        assert_eq!(
            s.audit_log_path.as_deref(),
            Some(std::path::Path::new("./data/audit.log"))
        );
        assert_eq!(s.app_name, "AI Orchestrator");
        assert!(s.overrides.is_empty());
        let s = settings(
            &ServeArgs::default(),
            &[
                ("AI_APP_NAME", "Ops Assistant"),
                ("ADMIN_PASSWORD", "from-the-unprefixed-name"),
                (
                    "JWT_SECRET_KEY",
                    "an-unprefixed-secret-of-at-least-32-bytes",
                ),
                ("AI_LOG_LEVEL", "WARNING"),
                ("AI_CORS_ORIGINS", "[https://ai.example.org]"),
                ("AI_TRUSTED_PROXIES", "172.18.0.0/16,10.0.0.1"),
                ("AI_RATE_LIMIT_DEFAULT", "1000/hour"),
            ],
        )
        .unwrap();
        assert_eq!(s.app_name, "Ops Assistant");
        assert_eq!(
            s.admin_password.as_ref().map(Secret::expose),
            Some("from-the-unprefixed-name")
        );
        assert_eq!(s.admin_password_variable, "ADMIN_PASSWORD");
        assert!(s.jwt.env_secret.is_some());
        assert_eq!(s.log_level, "warn");
        assert_eq!(
            s.overrides.cors_origins.as_deref(),
            Some(&["https://ai.example.org".to_string()][..])
        );
        assert_eq!(s.overrides.cors_allow_credentials, Some(true));
        assert_eq!(
            s.overrides.trusted_proxies.as_deref(),
            Some(&["172.18.0.0/16".to_string(), "10.0.0.1/32".into()][..])
        );
        assert_eq!(s.overrides.rate_limit_default, Some((1000, "1h")));
        // The prefixed name wins over the alias; a wildcard origin gets no credentials by default.
        let s = settings(
            &ServeArgs::default(),
            &[
                ("AI_ADMIN_PASSWORD", "prefixed-wins-here"),
                ("ADMIN_PASSWORD", "alias-loses"),
                ("AI_CORS_ORIGINS", "*"),
            ],
        )
        .unwrap();
        assert_eq!(
            s.admin_password.as_ref().map(Secret::expose),
            Some("prefixed-wins-here")
        );
        assert_eq!(s.overrides.cors_allow_credentials, Some(false));
    }

    #[test]
    fn bad_values_are_refused_with_the_value_but_never_a_secret() {
        let err = |vars: &[(&str, &str)]| {
            settings(&ServeArgs::default(), vars)
                .unwrap_err()
                .to_string()
        };
        let e = err(&[("AI_LOG_LEVEL", "verbose")]);
        assert!(e.contains("\"verbose\""), "{e}");
        let e = err(&[("AI_CORS_ORIGINS", "[https://ai.example.org")]);
        assert!(e.contains("[https://ai.example.org"), "{e}");
        let e = err(&[("AI_TRUSTED_PROXIES", "traefik")]);
        assert!(e.contains("traefik"), "{e}");
        let e = err(&[("AI_PORT", "eighty")]);
        assert!(e.contains("eighty"), "{e}");
        let e = err(&[("JWT_SECRET_KEY", "tooshort-secret-value")]);
        assert!(
            e.contains("JWT_SECRET_KEY") && !e.contains("tooshort-secret-value"),
            "{e}"
        );
        let e = err(&[("AI_AUTH_DB_PATH", "/data/auth.db")]);
        assert!(
            e.contains("import-v3") && e.contains("AI_AUTH_DB_PATH"),
            "{e}"
        );
    }
}
