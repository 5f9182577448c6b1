//! The console's files, compiled into the binary from `server/console/`.
//! Adding a file there means adding it to [`ASSETS`]; a test fails otherwise.

use std::sync::OnceLock;

use crate::http::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::http::error::ApiError;

/// One file: its path under `server/console/`, and its bytes.
pub struct Asset {
    pub path: &'static str,
    pub bytes: &'static [u8],
}

macro_rules! assets {
    ($($path:literal),* $(,)?) => {
        &[$(Asset {
            path: $path,
            bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/console/", $path)),
        }),*]
    };
}

/// Every file of the console.
pub const ASSETS: &[Asset] = assets![
    "index.html",
    "assets/app.css",
    "assets/favicon.svg",
    "assets/app.js",
    "assets/api.js",
    "assets/dom.js",
    "assets/markdown.js",
    "assets/pages/login.js",
    "assets/pages/account.js",
    "assets/pages/keys.js",
    "assets/pages/chat.js",
    "assets/pages/policy.js",
    "assets/pages/audit.js",
    "assets/pages/users.js",
    "assets/pages/status.js",
];

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

/// Strong validators, computed once: the console changes only with the binary.
fn etags() -> &'static [String] {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| format!("\"{}\"", &hex::encode(Sha256::digest(a.bytes))[..16]))
            .collect()
    })
}

fn respond(index: usize, request: Option<&HeaderMap>) -> Response {
    let asset = &ASSETS[index];
    let etag = &etags()[index];
    let not_modified = request
        .and_then(|h| h.get(header::IF_NONE_MATCH))
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static(content_type(asset.path)),
        ),
        // Revalidate every time: cheap with the ETag, and never a stale console.
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            header::ETAG,
            HeaderValue::from_str(etag).unwrap_or(HeaderValue::from_static("\"0\"")),
        ),
    ];
    if not_modified {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (headers, asset.bytes).into_response()
}

/// The console page.
pub fn index() -> Response {
    match ASSETS.iter().position(|a| a.path == "index.html") {
        Some(i) => respond(i, None),
        None => ApiError::NotFound("the console has no index page".into()).into_response(),
    }
}

/// `GET /assets/{*path}`.
pub async fn serve(Path(path): Path<String>, headers: HeaderMap) -> Response {
    let wanted = format!("assets/{path}");
    match ASSETS.iter().position(|a| a.path == wanted) {
        Some(i) => respond(i, Some(&headers)),
        None => ApiError::NotFound(format!("no console file {wanted:?}")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files_under(dir: &std::path::Path, base: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("read console dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                files_under(&path, base, out);
            } else {
                let rel = path.strip_prefix(base).expect("prefix");
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }

    #[test]
    fn every_console_file_is_compiled_in() {
        let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("console");
        let mut files = Vec::new();
        files_under(&base, &base, &mut files);
        files.retain(|f| !f.ends_with(".md"));
        for file in &files {
            assert!(
                ASSETS.iter().any(|a| a.path == file),
                "{file} is not listed in ASSETS"
            );
        }
        assert_eq!(files.len(), ASSETS.len());
    }

    #[test]
    fn the_console_stays_small() {
        let total: usize = ASSETS.iter().map(|a| a.bytes.len()).sum();
        assert!(total < 300 * 1024, "the console is {total} bytes");
    }
}
