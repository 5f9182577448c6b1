//! Names of the environment variables the operator sets on the server
//! container and the server reads (`docs/configuration.md` lists them all).

pub const HOST: &str = "AI_HOST";
pub const PORT: &str = "AI_PORT";
pub const CONFIG_DIR: &str = "AI_CONFIG_DIR";
pub const SECRETS_DIR: &str = "AI_SECRETS_DIR";
pub const DATA_DIR: &str = "AI_DATA_DIR";
pub const DATABASE_URL: &str = "AI_DATABASE_URL";
pub const DB_PATH: &str = "AI_DB_PATH";
pub const OLLAMA_URL: &str = "AI_OLLAMA_URL";
pub const LLM_PROVIDER: &str = "AI_LLM_PROVIDER";
pub const DEFAULT_MODEL: &str = "AI_DEFAULT_MODEL";
pub const MODELS: &str = "AI_MODELS";
/// Seconds one model call may take.
pub const LLM_TIMEOUT: &str = "AI_LLM_TIMEOUT";
/// Seconds a whole chat turn (every model and tool call of it) may take.
pub const TURN_TIMEOUT: &str = "AI_TURN_TIMEOUT";
/// Sent as `Authorization: Bearer <key>` to the model server.
pub const LLM_API_KEY: &str = "AI_LLM_API_KEY";
/// Sampling temperature sent with every model call.
pub const LLM_TEMPERATURE: &str = "AI_LLM_TEMPERATURE";
/// The longest answer, in tokens (`0`: the model server's default).
pub const LLM_MAX_TOKENS: &str = "AI_LLM_MAX_TOKENS";
/// The context window, in tokens (`0`: the model server's default).
pub const LLM_CONTEXT_LENGTH: &str = "AI_LLM_CONTEXT_LENGTH";
pub const AUTH_ENABLED: &str = "AI_AUTH_ENABLED";
pub const JWT_SECRET_KEY: &str = "AI_JWT_SECRET_KEY";
pub const JWT_EXPIRE_MINUTES: &str = "AI_JWT_EXPIRE_MINUTES";
pub const REFRESH_TOKEN_EXPIRE_DAYS: &str = "AI_REFRESH_TOKEN_EXPIRE_DAYS";
/// The OpenAI-compatible `/v1` door (`true`/`false`).
pub const OPENAI_API_ENABLED: &str = "AI_OPENAI_API_ENABLED";
/// The MCP door at `/mcp` (`true`/`false`).
pub const MCP_ENABLED: &str = "AI_MCP_ENABLED";
/// `file`, `kubernetes` or `auto`.
pub const CONFIG_SOURCE: &str = "AI_CONFIG_SOURCE";
/// The value of [`CONFIG_SOURCE`] that makes the server follow the ConfigMap
/// and Secret through the Kubernetes API.
pub const CONFIG_SOURCE_KUBERNETES: &str = "kubernetes";
pub const POD_NAMESPACE: &str = "AI_POD_NAMESPACE";
/// The ConfigMap holding [`super::POLICY_FILE`].
pub const POLICY_CONFIGMAP: &str = "AI_POLICY_CONFIGMAP";
/// The Secret holding [`super::JWT_KEYS_FILE`] and [`super::API_KEYS_FILE`].
pub const AUTH_SECRET: &str = "AI_AUTH_SECRET";
