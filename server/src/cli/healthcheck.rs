//! `ai-orchestrator healthcheck`: exit 0 when `/health` answers 2xx (for a
//! container HEALTHCHECK, where no curl is installed).

use std::time::Duration;

#[derive(clap::Args, Debug, Clone)]
pub struct HealthcheckArgs {
    /// The health URL.
    #[arg(long, default_value = "http://127.0.0.1:8001/health")]
    pub url: String,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 5)]
    pub timeout: u64,
}

pub async fn run(args: HealthcheckArgs) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(args.timeout.max(1)))
        .build()?;
    let response = client.get(&args.url).send().await?;
    let status = response.status();
    if status.is_success() {
        crate::cli::output::line(format_args!("healthy ({status})"))?;
        Ok(())
    } else {
        anyhow::bail!("unhealthy: {} answered {status}", args.url)
    }
}
