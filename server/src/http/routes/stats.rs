//! `GET /api/stats`: CPU, memory, disk and uptime for a dashboard, as v3.0
//! offered. Read from `/proc` and `statvfs` (no program is run) and cached for
//! about a second, so a dashboard polling it costs nothing.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::Json;
use crate::http::routes::rfc3339;
use crate::state::AppState;
use crate::store::db::now_ms;

/// How long one reading is served.
const CACHE_FOR: Duration = Duration::from_secs(1);

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Cpu {
    /// Busy share of all cores since the previous reading, 0-100.
    pub percent: f64,
    pub cores: usize,
    /// 1, 5 and 15 minutes.
    pub load_average: [f64; 3],
}

#[derive(Clone, Debug, Serialize, ToSchema, PartialEq)]
pub struct Memory {
    pub total_bytes: u64,
    pub available_bytes: u64,
    pub used_bytes: u64,
    pub percent: f64,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Disk {
    /// The filesystem of the data directory.
    pub path: String,
    pub total_bytes: u64,
    pub free_bytes: u64,
    pub used_bytes: u64,
    pub percent: f64,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Stats {
    pub cpu: Cpu,
    pub memory: Memory,
    pub disk: Disk,
    /// Seconds since the machine (or container host) booted.
    pub uptime_seconds: f64,
    /// Seconds since this server started.
    pub server_uptime_seconds: f64,
    /// When this reading was taken.
    pub measured_at: String,
}

/// Busy and total jiffies of the aggregate `cpu` line of `/proc/stat`.
pub fn parse_cpu(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal (guest times are inside user/nice).
    let total: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    Some((total.saturating_sub(idle), total))
}

/// `MemTotal` and `MemAvailable` of `/proc/meminfo` (kB there), in bytes.
pub fn parse_meminfo(meminfo: &str) -> Option<Memory> {
    let field = |name: &str| -> Option<u64> {
        let line = meminfo.lines().find(|l| l.starts_with(name))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    };
    let total = field("MemTotal:")?;
    let available = field("MemAvailable:").or_else(|| field("MemFree:"))?;
    let used = total.saturating_sub(available);
    Some(Memory {
        total_bytes: total,
        available_bytes: available,
        used_bytes: used,
        percent: percent(used, total),
    })
}

/// The first three numbers of `/proc/loadavg`.
pub fn parse_loadavg(text: &str) -> [f64; 3] {
    let mut out = [0.0; 3];
    for (slot, field) in out.iter_mut().zip(text.split_whitespace()) {
        *slot = field.parse().unwrap_or(0.0);
    }
    out
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        ((part as f64 / whole as f64) * 1000.0).round() / 10.0
    }
}

fn read(path: &str) -> ApiResult<String> {
    std::fs::read_to_string(path)
        .map_err(|e| ApiError::Unavailable(format!("cannot read {path}: {e}")))
}

fn disk(path: &Path) -> ApiResult<Disk> {
    let vfs = rustix::fs::statvfs(path).map_err(|e| {
        ApiError::Unavailable(format!(
            "cannot read the filesystem of {}: {e}",
            path.display()
        ))
    })?;
    let total = vfs.f_blocks * vfs.f_frsize;
    let free = vfs.f_bavail * vfs.f_frsize;
    let used = total.saturating_sub(vfs.f_bfree * vfs.f_frsize);
    Ok(Disk {
        path: path.display().to_string(),
        total_bytes: total,
        free_bytes: free,
        used_bytes: used,
        percent: percent(used, used + free),
    })
}

struct Cached {
    at: Instant,
    stats: Stats,
    /// The `/proc/stat` counters the CPU share was measured against.
    cpu: (u64, u64),
}

static CACHE: Mutex<Option<Cached>> = Mutex::new(None);

fn cached() -> Option<(Stats, (u64, u64), Instant)> {
    let guard = CACHE.lock().ok()?;
    guard.as_ref().map(|c| (c.stats.clone(), c.cpu, c.at))
}

async fn measure(state: &AppState) -> ApiResult<Stats> {
    let previous = cached();
    if let Some((stats, _, at)) = &previous
        && at.elapsed() < CACHE_FOR
    {
        return Ok(stats.clone());
    }
    let parse_stat = || -> ApiResult<(u64, u64)> {
        parse_cpu(&read("/proc/stat")?)
            .ok_or_else(|| ApiError::Unavailable("cannot parse /proc/stat".into()))
    };
    // The CPU share needs two readings; without a recent one, take one now and wait briefly.
    let before = match &previous {
        Some((_, cpu, at)) if at.elapsed() < Duration::from_secs(60) => *cpu,
        _ => {
            let first = parse_stat()?;
            tokio::time::sleep(Duration::from_millis(200)).await;
            first
        }
    };
    let now = parse_stat()?;
    let busy = now.0.saturating_sub(before.0);
    let total = now.1.saturating_sub(before.1);
    let memory = parse_meminfo(&read("/proc/meminfo")?)
        .ok_or_else(|| ApiError::Unavailable("cannot parse /proc/meminfo".into()))?;
    let uptime: f64 = read("/proc/uptime")?
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0);
    let now_ms = now_ms();
    let stats = Stats {
        cpu: Cpu {
            percent: percent(busy, total),
            cores: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            load_average: parse_loadavg(&read("/proc/loadavg").unwrap_or_default()),
        },
        memory,
        disk: disk(&state.settings.data_dir)?,
        uptime_seconds: uptime,
        server_uptime_seconds: (now_ms - state.started_at).max(0) as f64 / 1000.0,
        measured_at: rfc3339(now_ms),
    };
    if let Ok(mut guard) = CACHE.lock() {
        *guard = Some(Cached {
            at: Instant::now(),
            stats: stats.clone(),
            cpu: now,
        });
    }
    Ok(stats)
}

#[utoipa::path(get, path = "/api/stats", tag = "health",
    responses((status = 200, body = Stats), (status = 503, description = "the system figures cannot be read")),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn stats(State(state): State<AppState>) -> ApiResult<Json<Stats>> {
    Ok(Json(measure(&state).await?))
}

pub fn router() -> Router<AppState> {
    Router::new().route("/api/stats", get(stats))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_are_read_as_the_kernel_writes_them() {
        let stat = "cpu  100 5 50 800 20 0 25 0 0 0\ncpu0 50 2 25 400 10 0 12 0 0 0\nintr 1 2\n";
        assert_eq!(parse_cpu(stat), Some((180, 1000)));
        assert_eq!(parse_cpu("intr 1"), None);
        let meminfo = "MemTotal:        2048000 kB\nMemFree:          100000 kB\nMemAvailable:     512000 kB\n";
        assert_eq!(
            parse_meminfo(meminfo),
            Some(Memory {
                total_bytes: 2_048_000 * 1024,
                available_bytes: 512_000 * 1024,
                used_bytes: 1_536_000 * 1024,
                percent: 75.0,
            })
        );
        assert_eq!(parse_loadavg("0.50 0.25 0.10 1/123 4567"), [0.5, 0.25, 0.1]);
        assert_eq!(percent(1, 3), 33.3);
        assert_eq!(percent(1, 0), 0.0);
    }
}
