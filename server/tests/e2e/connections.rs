//! Connection starvation end to end: the real binary under a low open-file limit
//! (util-linux `prlimit`), attacked with sockets that never send a request.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{ServerBuilder, TestServer};

fn addr(server: &TestServer) -> String {
    server.url.trim_start_matches("http://").to_string()
}

/// Opens `n` connections that never send anything.
async fn idle_sockets(server: &TestServer, n: usize) -> Vec<TcpStream> {
    let mut sockets = Vec::with_capacity(n);
    for _ in 0..n {
        sockets.push(TcpStream::connect(addr(server)).await.unwrap());
    }
    // Let the server accept them all before the test goes on.
    tokio::time::sleep(Duration::from_millis(300)).await;
    sockets
}

/// A client of its own: a fresh connection for every request.
fn fresh_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// The soft open-file limit the server process runs with.
fn server_nofile(server: &TestServer) -> u64 {
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.pid())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    line.split_whitespace().nth(3).unwrap().parse().unwrap()
}

fn alive(server: &TestServer) -> bool {
    std::path::Path::new(&format!("/proc/{}", server.pid())).exists()
}

/// Waits until the server closes `socket` (EOF or reset); returns how long that took.
async fn closed_within(socket: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 256];
    match tokio::time::timeout(limit, socket.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => Some(started.elapsed()),
        Ok(Ok(_)) | Err(_) => None,
    }
}

/// Polls `/health` on fresh connections until it answers 200 or `limit` passes.
async fn health_recovers(server: &TestServer, limit: Duration) -> bool {
    let client = fresh_client(Duration::from_secs(5));
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(r) = client.get(server.url("/health")).send().await
            && r.status() == 200
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

#[tokio::test]
async fn idle_sockets_cannot_starve_the_server() {
    let server = ServerBuilder::default()
        .nofile(1024)
        .env("AI_HEADER_READ_TIMEOUT_SECS", "2")
        .start()
        .await;
    assert_eq!(server_nofile(&server), 1024);
    let mut sockets = idle_sockets(&server, 300).await;

    // While 300 sockets sit idle, /health answers at once.
    let client = fresh_client(Duration::from_secs(5));
    let r = client.get(server.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    // Each idle socket is closed by the server after the header-read timeout.
    for socket in &mut sockets {
        let took = closed_within(socket, Duration::from_secs(10)).await;
        assert!(took.is_some(), "an idle socket was left open");
    }

    // A slow head (one header line every 300 ms) is cut at the same deadline.
    let mut slow = TcpStream::connect(addr(&server)).await.unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut cut = false;
    while started.elapsed() < Duration::from_secs(8) {
        if slow.write_all(b"X-Slow: 1\r\n").await.is_err() {
            cut = true;
            break;
        }
        let mut buf = [0u8; 64];
        match tokio::time::timeout(Duration::from_millis(300), slow.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                cut = true;
                break;
            }
            Ok(Ok(_)) => panic!("a request that never ended was answered"),
            Err(_) => {}
        }
    }
    assert!(cut, "a head dribbled for 8 s was not cut");
    assert!(started.elapsed() >= Duration::from_millis(1500));

    assert!(alive(&server));
    assert_eq!(
        client
            .get(server.url("/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn kept_alive_connections_close_after_the_idle_timeout() {
    let server = ServerBuilder::default()
        .env("AI_HEADER_READ_TIMEOUT_SECS", "1")
        .env("AI_IDLE_TIMEOUT_SECS", "3")
        .start()
        .await;
    let mut socket = TcpStream::connect(addr(&server)).await.unwrap();
    socket
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 8192];
    let n = socket.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // Longer than the header-read timeout: the idle time between requests is its own.
    tokio::time::sleep(Duration::from_millis(1800)).await;
    socket
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let n = socket.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let took = closed_within(&mut socket, Duration::from_secs(10))
        .await
        .expect("the idle connection was closed");
    assert!(
        took >= Duration::from_millis(2500),
        "closed after {took:?}, before the idle timeout"
    );
}

#[tokio::test]
async fn past_the_cap_connections_get_503_and_the_server_recovers() {
    // No AI_MAX_CONNECTIONS: the cap is half the open-file limit, 128.
    let server = ServerBuilder::default()
        .nofile(256)
        .env("AI_HEADER_READ_TIMEOUT_SECS", "2")
        .start()
        .await;
    let sockets = idle_sockets(&server, 128).await;

    let client = fresh_client(Duration::from_secs(5));
    let r = client.get(server.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    let body: Value = r.json().await.unwrap();
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("connection limit"),
        "{body}"
    );

    // The idle sockets time out, their slots come back, and /health answers again.
    assert!(health_recovers(&server, Duration::from_secs(15)).await);
    assert!(alive(&server));
    drop(sockets);
}

#[tokio::test]
async fn the_accept_loop_survives_running_out_of_descriptors() {
    // A cap above the open-file limit, so accept itself fails with EMFILE.
    let server = ServerBuilder::default()
        .nofile(128)
        .env("AI_MAX_CONNECTIONS", "1000")
        .env("AI_HEADER_READ_TIMEOUT_SECS", "2")
        .start()
        .await;
    let sockets = idle_sockets(&server, 200).await;
    assert!(
        server.logs().contains("Too many open files"),
        "the server never ran out of descriptors, so this test tests nothing"
    );
    // The idle sockets are closed as they time out; the backlog drains and the server serves.
    assert!(health_recovers(&server, Duration::from_secs(30)).await);
    assert!(alive(&server));
    drop(sockets);
}

#[tokio::test]
async fn oversized_request_heads_are_refused() {
    let server = ServerBuilder::default()
        .env("AI_MAX_HEADER_BYTES", "8192")
        .start()
        .await;
    let client = fresh_client(Duration::from_secs(5));
    let r = client
        .get(server.url("/health"))
        .header("X-Filler", "a".repeat(10_000))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 431);
    let r = client
        .get(server.url("/health"))
        .header("X-Filler", "a".repeat(4_000))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn shutdown_finishes_promptly_with_idle_connections_open() {
    let mut server = ServerBuilder::default().start().await;
    let _sockets = idle_sockets(&server, 20).await;
    let mut kept = TcpStream::connect(addr(&server)).await.unwrap();
    kept.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 8192];
    assert!(kept.read(&mut buf).await.unwrap() > 0);
    let started = Instant::now();
    server.stop();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "SIGTERM took {:?} with idle connections open",
        started.elapsed()
    );
    assert!(server.logs().contains("\"stopped\""), "{}", server.logs());
}
