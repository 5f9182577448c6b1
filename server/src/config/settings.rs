//! Settings: command-line flags > environment (`AI_*`) > files > defaults.
//!
//! The environment variables of the Python v3.0 server keep their names and
//! meaning. Files (the policy and the secrets directory) are read by
//! [`crate::config::reload`], because they change while the server runs.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
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
    pub timeout: Duration,
}

/// What the agent loop and its tools need.
#[derive(Clone, Debug)]
pub struct AgentSettings {
    pub max_iterations: u32,
    pub upload_dir: PathBuf,
    pub max_upload_size: u64,
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

/// Environment values that override the policy file's CORS and rate-limit sections.
#[derive(Clone, Debug, Default)]
pub struct PolicyOverrides {
    pub cors_origins: Option<Vec<String>>,
    pub cors_allow_credentials: Option<bool>,
    pub cors_methods: Option<Vec<String>>,
    pub cors_headers: Option<Vec<String>>,
    pub rate_limit_enabled: Option<bool>,
    /// Requests per minute for routes without their own budget.
    pub rate_limit_default: Option<u32>,
}

impl PolicyOverrides {
    pub fn is_empty(&self) -> bool {
        self.cors_origins.is_none()
            && self.cors_allow_credentials.is_none()
            && self.cors_methods.is_none()
            && self.cors_headers.is_none()
            && self.rate_limit_enabled.is_none()
            && self.rate_limit_default.is_none()
    }
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub host: String,
    pub port: u16,
    pub config_dir: PathBuf,
    pub secrets_dir: PathBuf,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub auth_enabled: bool,
    pub admin_password: Option<Secret>,
    pub jwt: JwtSettings,
    pub overrides: PolicyOverrides,
    pub debug: bool,
    pub log_level: String,
    pub audit_log_path: Option<PathBuf>,
    pub llm: LlmSettings,
    pub agent: AgentSettings,
    /// Set when the API source is on; the directories are always read too.
    pub kubernetes: Option<KubernetesSource>,
}

impl Settings {
    /// Settings from flags and the process environment.
    pub fn load(args: &ServeArgs) -> anyhow::Result<Settings> {
        Settings::from_sources(args, |name| std::env::var(name).ok())
    }

    /// Settings from flags and an environment lookup (testable without touching the process).
    pub fn from_sources(
        args: &ServeArgs,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Settings> {
        let get = |name: &str| env(name).filter(|v| !v.trim().is_empty());
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
        let env_secret = get(env::JWT_SECRET_KEY).map(Secret::new);
        if let Some(secret) = &env_secret
            && secret.expose().len() < contract::MIN_JWT_SECRET_BYTES
        {
            bail!(
                "{} is {} bytes long; at least {} bytes are required",
                env::JWT_SECRET_KEY,
                secret.expose().len(),
                contract::MIN_JWT_SECRET_BYTES
            );
        }
        let access_minutes: u64 =
            parse_or(get(env::JWT_EXPIRE_MINUTES), env::JWT_EXPIRE_MINUTES, 30)?;
        let refresh_days: u64 = parse_or(
            get(env::REFRESH_TOKEN_EXPIRE_DAYS),
            "AI_REFRESH_TOKEN_EXPIRE_DAYS",
            7,
        )?;
        if access_minutes == 0 || refresh_days == 0 {
            bail!("AI_JWT_EXPIRE_MINUTES and AI_REFRESH_TOKEN_EXPIRE_DAYS must be at least 1");
        }

        let overrides = PolicyOverrides {
            cors_origins: get("AI_CORS_ORIGINS")
                .map(|v| parse_list(&v, "AI_CORS_ORIGINS"))
                .transpose()?,
            cors_allow_credentials: get("AI_CORS_ALLOW_CREDENTIALS")
                .map(|v| parse_bool(&v, "AI_CORS_ALLOW_CREDENTIALS"))
                .transpose()?,
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
                .map(|v| parse_rate(&v))
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
        };
        let agent = AgentSettings {
            max_iterations: parse_or(get("AI_MAX_ITERATIONS"), "AI_MAX_ITERATIONS", 12)?,
            upload_dir: get("AI_UPLOAD_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| data_dir.join("uploads")),
            max_upload_size: parse_or(
                get("AI_MAX_UPLOAD_SIZE"),
                "AI_MAX_UPLOAD_SIZE",
                10 * 1024 * 1024,
            )?,
        };

        let kubernetes = kubernetes_source(args, &get)?;
        let debug = get("AI_DEBUG")
            .map(|v| parse_bool(&v, "AI_DEBUG"))
            .transpose()?
            .unwrap_or(false);
        Ok(Settings {
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
            admin_password: get("AI_ADMIN_PASSWORD").map(Secret::new),
            jwt: JwtSettings {
                algorithm,
                access_ttl: Duration::from_secs(access_minutes * 60),
                refresh_ttl: Duration::from_secs(refresh_days * 86_400),
                env_secret,
                issuer: "ai-orchestrator".into(),
                audience: "ai-orchestrator".into(),
                leeway_seconds: 5,
            },
            overrides,
            debug,
            log_level: get("AI_LOG_LEVEL")
                .unwrap_or_else(|| if debug { "debug".into() } else { "info".into() }),
            audit_log_path: get("AI_AUDIT_LOG_PATH").map(PathBuf::from),
            llm,
            agent,
            kubernetes,
        })
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

/// A JSON list (`["a","b"]`, as pydantic reads it) or a comma-separated list.
fn parse_list(value: &str, name: &str) -> anyhow::Result<Vec<String>> {
    let trimmed = value.trim();
    if trimmed.starts_with('[') {
        return serde_json::from_str(trimmed)
            .with_context(|| format!("{name} is not a JSON list of strings"));
    }
    Ok(trimmed
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect())
}

/// `60`, or the v3 form `60/minute`.
fn parse_rate(value: &str) -> anyhow::Result<u32> {
    let number = value.trim().split('/').next().unwrap_or_default().trim();
    let rate: u32 = number.parse().map_err(|_| {
        anyhow::anyhow!("AI_RATE_LIMIT_DEFAULT={value:?} is not a number of requests per minute")
    })?;
    if rate == 0 {
        bail!("AI_RATE_LIMIT_DEFAULT must be at least 1");
    }
    Ok(rate)
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
        assert_eq!(s.overrides.rate_limit_default, Some(30));
        assert_eq!(s.llm.base_url, "http://ollama:11434");
        assert!(settings(&ServeArgs::default(), &[("AI_AUTH_ENABLED", "maybe")]).is_err());
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
}
