//! Authentication end to end: logins, refresh rotation, logout, users, API
//! keys, JWT attacks, brute force, scopes on every route, restart, and logs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;
use std::time::Duration;

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use support::{ADMIN_PASSWORD, JWT_SECRET, ServerBuilder, TestServer, sha256_hex};

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims(sub: &str) -> Value {
    json!({
        "sub": sub, "iss": "ai-orchestrator", "aud": "ai-orchestrator",
        "exp": now() + 600, "iat": now(), "jti": "j1", "scopes": ["read", "write", "execute", "admin"],
        "type": "access"
    })
}

/// The claims of a token the server issued (its subject's name, id and token generation), with
/// a fresh lifetime: forging from them gives tokens that fail only for the attack they carry.
fn claims_for(issued: &str) -> Value {
    let payload = issued.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    let real: Value = serde_json::from_slice(&bytes).unwrap();
    let mut c = claims(real["sub"].as_str().unwrap());
    c["uid"] = real["uid"].clone();
    c["generation"] = real["generation"].clone();
    c
}

fn forge(alg: Algorithm, kid: &str, secret: &[u8], claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret)).unwrap()
}

async fn status_with(server: &TestServer, path: &str, token: &str) -> u16 {
    server
        .get(path)
        .bearer(token)
        .send()
        .await
        .status()
        .as_u16()
}

#[tokio::test]
async fn login_by_form_and_json_refresh_rotation_reuse_and_logout() {
    let server = TestServer::start().await;
    // Form (OAuth2 password flow).
    let response = server
        .post("/api/auth/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=password&username=admin&password={ADMIN_PASSWORD}"
        ))
        .send()
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 3600, "v3's default: 60 minutes");
    assert!(body["refresh_token"].as_str().unwrap().starts_with("rt_"));
    let me = server
        .get_json("/api/auth/me", body["access_token"].as_str().unwrap())
        .await;
    assert_eq!(me["username"], "admin");
    assert_eq!(me["scopes"], json!(["read", "write", "execute", "admin"]));

    // JSON, wrong password, unknown user, wrong content type.
    let tokens = server.login("admin", ADMIN_PASSWORD).await;
    for (user, pass) in [("admin", "wrong-password"), ("nobody", "whatever-pass")] {
        let r = server
            .post("/api/auth/login")
            .json(&json!({"username": user, "password": pass}))
            .send()
            .await;
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        assert_eq!(
            r.json::<Value>().await.unwrap()["detail"],
            "Incorrect username or password"
        );
    }
    let r = server.post("/api/auth/login").body("x").send().await;
    assert_eq!(r.status(), 400);

    // Rotation: each refresh gives a new pair; the old refresh token is spent.
    let refresh = |token: String| {
        let server = &server;
        async move {
            server
                .post("/api/auth/refresh")
                .json(&json!({"refresh_token": token}))
                .send()
                .await
        }
    };
    let r = refresh(tokens.refresh.clone()).await;
    assert_eq!(r.status(), 200);
    let second: Value = r.json().await.unwrap();
    let second_refresh = second["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(second_refresh, tokens.refresh);
    assert_eq!(
        status_with(
            &server,
            "/api/auth/me",
            second["access_token"].as_str().unwrap()
        )
        .await,
        200
    );

    // Reuse of the spent token: 401 and the whole family (incl. the new token) is revoked.
    let r = refresh(tokens.refresh.clone()).await;
    assert_eq!(r.status(), 401);
    assert_eq!(refresh(second_refresh).await.status(), 401);
    let admin = server.admin().await;
    let reuse = server.audit(&admin, "action=auth.refresh_reuse").await;
    assert_eq!(reuse.len(), 1, "{reuse:?}");
    assert_eq!(reuse[0]["actor"], "admin");

    // Logout revokes the refresh token.
    let tokens = server.login("admin", ADMIN_PASSWORD).await;
    let r = server
        .post("/api/auth/logout")
        .json(&json!({"refresh_token": tokens.refresh}))
        .send()
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(refresh(tokens.refresh.clone()).await.status(), 401);
    assert_eq!(
        server
            .audit(&admin, "action=auth.logout&outcome=success")
            .await
            .len(),
        1
    );
    assert_eq!(
        server
            .audit(&admin, "action=auth.login&outcome=failure")
            .await
            .len(),
        2
    );
}

#[tokio::test]
async fn users_scopes_and_disabling_take_effect_at_once() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let bob = server
        .create_user(&admin, "bob", "bob-password-1", &["read"])
        .await;
    assert_eq!(status_with(&server, "/api/auth/me", &bob).await, 200);
    let r = server.get("/api/auth/users").bearer(&bob).send().await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.json::<Value>().await.unwrap()["detail"],
        "Missing required scope: admin"
    );

    // Duplicate, bad names and short passwords are clear 4xx errors.
    for (body, status) in [
        (json!({"username": "bob", "password": "long-enough-1"}), 409),
        (json!({"username": "b b", "password": "long-enough-1"}), 400),
        (json!({"username": "carl", "password": "short"}), 400),
        (
            json!({"username": "carl", "password": "long-enough-1", "scopes": ["root"]}),
            422,
        ),
    ] {
        let r = server
            .post("/api/auth/users")
            .bearer(&admin)
            .json(&body)
            .send()
            .await;
        assert_eq!(r.status().as_u16(), status, "{body}");
        assert!(
            r.json::<Value>().await.unwrap()["detail"].is_string(),
            "{body}"
        );
    }

    // Bob gets a key while enabled.
    let bob_key = server.create_api_key(&bob, json!({"name": "bob-ci"})).await;
    let with_key = |k: String| {
        let server = &server;
        async move { server.me_with_key(&k).await.status() }
    };
    assert_eq!(with_key(bob_key.clone()).await, 200);

    // Disable: the token and key stop at once; login refused.
    let patch = |body: Value| {
        let server = &server;
        let admin = admin.clone();
        async move {
            server
                .patch("/api/auth/users/bob")
                .bearer(admin)
                .json(&body)
                .send()
                .await
        }
    };
    assert_eq!(patch(json!({"disabled": true})).await.status(), 200);
    assert_eq!(status_with(&server, "/api/auth/me", &bob).await, 401);
    assert_eq!(with_key(bob_key.clone()).await, 401);
    let r = server
        .post("/api/auth/login")
        .json(&json!({"username": "bob", "password": "bob-password-1"}))
        .send()
        .await;
    assert_eq!(r.status(), 401);

    // Re-enable and raise scopes: a token issued before the disable stays dead (the disable
    // moved the user's token generation on); a new login carries the new scopes.
    assert_eq!(
        patch(json!({"disabled": false, "scopes": ["read", "write"]}))
            .await
            .status(),
        200
    );
    assert_eq!(status_with(&server, "/api/auth/me", &bob).await, 401);
    // Lower scopes: the token loses them at once.
    let bob_rw = server.login("bob", "bob-password-1").await.access;
    let me = server.get_json("/api/auth/me", &bob_rw).await;
    assert_eq!(me["scopes"], json!(["read", "write"]));
    assert_eq!(patch(json!({"scopes": ["read"]})).await.status(), 200);
    let me = server.get_json("/api/auth/me", &bob_rw).await;
    assert_eq!(me["scopes"], json!(["read"]));

    // Password reset.
    assert_eq!(
        patch(json!({"password": "bob-new-password"}))
            .await
            .status(),
        200
    );
    server.login("bob", "bob-new-password").await;

    // Admin cannot lock itself out; unknown user 404.
    let r = server
        .patch("/api/auth/users/admin")
        .bearer(&admin)
        .json(&json!({"disabled": true}))
        .send()
        .await;
    assert_eq!(r.status(), 400);
    let r = server
        .delete("/api/auth/users/nobody")
        .bearer(&admin)
        .send()
        .await;
    assert_eq!(r.status(), 404);

    // Delete: token and key stop.
    let r = server
        .delete("/api/auth/users/bob")
        .bearer(&admin)
        .send()
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(status_with(&server, "/api/auth/me", &bob_rw).await, 401);
    assert_eq!(with_key(bob_key).await, 401);
    let users = server.get_json("/api/auth/users", &admin).await;
    assert_eq!(users.as_array().unwrap().len(), 1);
    let changes = server.audit(&admin, "action=user.update").await;
    assert!(changes.len() >= 4);
}

#[tokio::test]
async fn api_keys_create_use_ceiling_expire_revoke() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let reader = server
        .create_user(&admin, "reader", "reader-password", &["read"])
        .await;

    let create = |token: String, body: Value| {
        let server = &server;
        async move {
            server
                .post("/api/auth/apikeys")
                .bearer(token)
                .json(&body)
                .send()
                .await
        }
    };
    // Scope ceiling.
    let r = create(
        reader.clone(),
        json!({"name": "too-much", "scopes": ["read", "write"]}),
    )
    .await;
    assert_eq!(r.status(), 403);
    assert!(
        r.json::<Value>().await.unwrap()["detail"]
            .as_str()
            .unwrap()
            .contains("exceed")
    );

    let r = create(reader.clone(), json!({"name": "ci", "scopes": ["read"]})).await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let key = created["key"].as_str().unwrap().to_string();
    let id = created["id"].as_str().unwrap().to_string();
    assert!(key.starts_with("ak_"));
    assert!(key.starts_with(created["prefix"].as_str().unwrap()));

    // Both header forms work; the key is never listed.
    let r = server.me_with_key(&key).await;
    assert_eq!(r.status(), 200);
    let me: Value = r.json().await.unwrap();
    assert_eq!(
        (me["username"].as_str(), me["auth_method"].as_str()),
        (Some("reader"), Some("api_key"))
    );
    assert_eq!(status_with(&server, "/api/auth/me", &key).await, 200);
    let listed = server.get_json("/api/auth/apikeys", &reader).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(!listed.to_string().contains(&key));
    assert!(
        listed[0]["last_used_at"].is_string(),
        "last use is visible: {listed}"
    );

    // A key cannot mint keys; a read key is refused admin routes.
    let r = server
        .post("/api/auth/apikeys")
        .api_key(&key)
        .json(&json!({"name": "child"}))
        .send()
        .await;
    assert_eq!(r.status(), 403);
    assert_eq!(status_with(&server, "/api/audit", &key).await, 403);

    // Expiry.
    let soon = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(2);
    let r = create(
        reader.clone(),
        json!({"name": "short", "expires_at": soon.to_string()}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let short = r.json::<Value>().await.unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(status_with(&server, "/api/auth/me", &short).await, 200);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(status_with(&server, "/api/auth/me", &short).await, 401);
    let r = create(
        reader.clone(),
        json!({"name": "past", "expires_at": "2001-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(r.status(), 400);

    // Another user cannot revoke it; the owner can, and it stops at once.
    let r = server
        .delete(&format!("/api/auth/apikeys/{id}"))
        .bearer(
            server
                .create_user(&admin, "other", "other-password", &["read"])
                .await,
        )
        .send()
        .await;
    assert_eq!(r.status(), 404);
    let r = server
        .delete(&format!("/api/auth/apikeys/{id}"))
        .bearer(&reader)
        .send()
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(status_with(&server, "/api/auth/me", &key).await, 401);
    let all = server.get_json("/api/auth/apikeys?all=true", &admin).await;
    assert_eq!(all.as_array().unwrap().len(), 2);
    assert!(all.as_array().unwrap().iter().any(|k| k["revoked"] == true));
    // An unknown key.
    assert_eq!(
        status_with(&server, "/api/auth/me", "ak_doesnotexist").await,
        401
    );
}

#[tokio::test]
async fn jwt_attacks_are_refused() {
    let server = TestServer::start().await;
    let admin = server.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(
        status_with(&server, "/api/auth/me", &admin.access).await,
        200
    );
    let issued = admin.access.clone();
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());

    let good = forge(
        Algorithm::HS256,
        "env",
        JWT_SECRET.as_bytes(),
        &claims_for(&issued),
    );
    assert_eq!(
        status_with(&server, "/api/auth/me", &good).await,
        200,
        "a correctly forged token is the control"
    );

    let mut attacks: Vec<(&str, String)> = Vec::new();
    // alg none.
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT", "kid": "env"})),
        b64(&claims_for(&issued))
    );
    attacks.push(("alg none", none));
    // Another algorithm with the same secret.
    attacks.push((
        "HS512",
        forge(
            Algorithm::HS512,
            "env",
            JWT_SECRET.as_bytes(),
            &claims_for(&issued),
        ),
    ));
    // Tampered payload with the original signature.
    let parts: Vec<&str> = admin.access.split('.').collect();
    let mut payload = claims_for(&issued);
    payload["sub"] = json!("someone-else");
    attacks.push((
        "tampered",
        format!("{}.{}.{}", parts[0], b64(&payload), parts[2]),
    ));
    // Wrong key.
    attacks.push((
        "wrong secret",
        forge(
            Algorithm::HS256,
            "env",
            b"another-secret-of-32-bytes-or-more!!",
            &claims_for(&issued),
        ),
    ));
    // Expired beyond leeway.
    let mut expired = claims_for(&issued);
    expired["exp"] = json!(now() - 120);
    expired["iat"] = json!(now() - 3600);
    attacks.push((
        "expired",
        forge(Algorithm::HS256, "env", JWT_SECRET.as_bytes(), &expired),
    ));
    // Wrong issuer / audience / type, unknown kid, missing jti.
    for (name, field, value) in [
        ("wrong iss", "iss", json!("evil")),
        ("wrong aud", "aud", json!("evil")),
        ("refresh type", "type", json!("refresh")),
    ] {
        let mut c = claims_for(&issued);
        c[field] = value;
        attacks.push((
            name,
            forge(Algorithm::HS256, "env", JWT_SECRET.as_bytes(), &c),
        ));
    }
    attacks.push((
        "unknown kid",
        forge(
            Algorithm::HS256,
            "k9",
            JWT_SECRET.as_bytes(),
            &claims_for(&issued),
        ),
    ));
    let mut no_jti = claims_for(&issued);
    no_jti.as_object_mut().unwrap().remove("jti");
    attacks.push((
        "no jti",
        forge(Algorithm::HS256, "env", JWT_SECRET.as_bytes(), &no_jti),
    ));
    // The refresh token itself as a bearer token; garbage.
    attacks.push(("refresh token as access", admin.refresh.clone()));
    attacks.push(("garbage", "not.a.jwt".into()));
    // Unknown user.
    attacks.push((
        "unknown user",
        forge(
            Algorithm::HS256,
            "env",
            JWT_SECRET.as_bytes(),
            &claims("ghost"),
        ),
    ));

    for (name, token) in attacks {
        let r = server.get("/api/auth/me").bearer(&token).send().await;
        assert_eq!(r.status(), 401, "{name} must be refused");
        assert_eq!(r.headers()["www-authenticate"], "Bearer", "{name}");
    }
    let failures = server
        .audit(&admin.access, "action=access.unauthorized")
        .await;
    assert!(
        failures.len() >= 12,
        "every refusal is audited: {}",
        failures.len()
    );
}

#[tokio::test]
async fn rotated_keys_verify_until_the_grace_period_ends() {
    let b64 = |n: u8| base64::engine::general_purpose::STANDARD.encode([n; 32]);
    let retired_now = jiff::Timestamp::now().to_string();
    let keys = json!({"signingKid": "k3", "keys": [
        {"kid": "k1", "secret": b64(1), "retiredAt": "2020-01-01T00:00:00Z"},
        {"kid": "k2", "secret": b64(2), "retiredAt": retired_now},
        {"kid": "k3", "secret": b64(3)},
    ]});
    let dirs = support::Dirs::new();
    std::fs::write(dirs.secrets().join("jwt-keys.json"), keys.to_string()).unwrap();
    let server = ServerBuilder::default()
        .without_env("AI_JWT_SECRET_KEY")
        .dirs(dirs)
        .start()
        .await;
    let issued = server.admin().await;
    let header = jsonwebtoken::decode_header(&issued).unwrap();
    assert_eq!(header.kid.as_deref(), Some("k3"));
    assert_eq!(header.alg, Algorithm::HS256);
    let old = forge(Algorithm::HS256, "k1", &[1; 32], &claims_for(&issued));
    let recent = forge(Algorithm::HS256, "k2", &[2; 32], &claims_for(&issued));
    assert_eq!(
        status_with(&server, "/api/auth/me", &old).await,
        401,
        "retired past its grace period"
    );
    assert_eq!(
        status_with(&server, "/api/auth/me", &recent).await,
        200,
        "retired within its grace period"
    );
    assert_eq!(status_with(&server, "/api/auth/me", &issued).await, 200);
    assert!(
        !server.data_dir().join("jwt-secret").exists(),
        "no key is generated when keys are configured"
    );
}

async fn login_from(server: &TestServer, user: &str, pass: &str, ip: &str) -> reqwest::Response {
    server
        .post("/api/auth/login")
        .header("X-Forwarded-For", ip)
        .json(&json!({"username": user, "password": pass}))
        .send()
        .await
}

#[tokio::test]
async fn brute_force_locks_the_source_not_the_account() {
    let server = TestServer::start().await;
    // Five wrong admin passwords from one client IP (127.0.0.1 is a trusted proxy).
    for _ in 0..5 {
        let r = login_from(&server, "admin", "wrong-password", "203.0.113.7").await;
        assert_eq!(r.status(), 401);
    }
    // That IP is locked out of the account, even with the right password.
    let r = login_from(&server, "admin", ADMIN_PASSWORD, "203.0.113.7").await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["detail"], "Too many requests");
    // The real admin, from another IP, logs in.
    let r = login_from(&server, "admin", ADMIN_PASSWORD, "198.51.100.2").await;
    assert_eq!(r.status(), 200);
    let token: Value = r.json().await.unwrap();
    assert_eq!(
        status_with(
            &server,
            "/api/auth/me",
            token["access_token"].as_str().unwrap()
        )
        .await,
        200
    );
    // Which does not unlock the attacker.
    let r = login_from(&server, "admin", ADMIN_PASSWORD, "203.0.113.7").await;
    assert_eq!(r.status(), 429);

    // Spraying many names from one IP locks that IP for every name (20 failures).
    for i in 0..20 {
        let r = login_from(&server, &format!("u{i}"), "wrong-password", "10.9.9.9").await;
        assert_eq!(r.status(), 401);
    }
    let r = login_from(&server, "someone", "wrong-password", "10.9.9.9").await;
    assert_eq!(r.status(), 429);
    let r = login_from(&server, "someone", "wrong-password", "10.9.9.8").await;
    assert_eq!(r.status(), 401, "another IP is not locked");
}

#[tokio::test]
async fn the_per_username_ceiling_counts_failures_from_all_ips() {
    let server = ServerBuilder::default()
        .env("AI_LOGIN_MAX_FAILURES_PER_USER", "8")
        .start()
        .await;
    for i in 0..8 {
        let r = login_from(&server, "admin", "wrong-password", &format!("10.0.0.{i}")).await;
        assert_eq!(r.status(), 401);
    }
    let r = login_from(&server, "admin", ADMIN_PASSWORD, "10.0.1.1").await;
    assert_eq!(r.status(), 429, "the ceiling holds from a new IP");
    let r = login_from(&server, "other", "wrong-password", "10.0.1.1").await;
    assert_eq!(r.status(), 401, "other names are not locked");
}

/// Fills `{param}` segments with placeholder values.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| if seg.starts_with('{') { "x1" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_route_enforces_its_scope() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let reader = server
        .create_user(&admin, "reader", "reader-password", &["read"])
        .await;
    let writer = server
        .create_user(&admin, "writer", "writer-password", &["read", "write"])
        .await;
    let config = server.get_json("/api/security/config", &admin).await;
    let routes = config["routes"].as_array().unwrap().clone();
    assert!(routes.len() >= 27, "the served table lists every route");
    let send = |method: &str, path: &str, token: Option<&str>| {
        let mut request = server
            .client
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                server.url(path),
            )
            .timeout(Duration::from_secs(10));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        if method != "GET" && method != "DELETE" {
            request = request.json(&json!({}));
        }
        request.send()
    };
    for route in routes {
        let method = route["method"].as_str().unwrap();
        let path = concrete(route["path"].as_str().unwrap());
        let access = &route["access"];
        let kind = access["kind"].as_str().unwrap();
        if path == "/api/auth/logout" || path == "/api/auth/login" || path == "/api/auth/refresh" {
            continue; // public, and covered by the login tests
        }
        if path.starts_with("/api/console/session") {
            continue; // public but CSRF-guarded (403 without its header): tests/console.rs
        }
        let anonymous = send(method, &path, None).await.unwrap().status().as_u16();
        let as_reader = send(method, &path, Some(&reader))
            .await
            .unwrap()
            .status()
            .as_u16();
        let as_writer = send(method, &path, Some(&writer))
            .await
            .unwrap()
            .status()
            .as_u16();
        let as_admin = send(method, &path, Some(&admin))
            .await
            .unwrap()
            .status()
            .as_u16();
        let label = format!("{method} {path} ({access})");
        match kind {
            "public" => assert!(
                ![401, 403].contains(&anonymous),
                "{label}: anonymous got {anonymous}"
            ),
            "authenticated" => {
                assert_eq!(anonymous, 401, "{label}");
                assert!(
                    ![401, 403].contains(&as_reader),
                    "{label}: reader got {as_reader}"
                );
            }
            "scope" => {
                assert_eq!(anonymous, 401, "{label}");
                let scope = access["scope"].as_str().unwrap();
                match scope {
                    "read" => assert!(
                        ![401, 403].contains(&as_reader),
                        "{label}: reader got {as_reader}"
                    ),
                    "write" => {
                        assert_eq!(as_reader, 403, "{label}");
                        assert!(
                            ![401, 403].contains(&as_writer),
                            "{label}: writer got {as_writer}"
                        );
                    }
                    _ => {
                        assert_eq!(as_reader, 403, "{label}");
                        assert_eq!(as_writer, 403, "{label}");
                    }
                }
            }
            other => panic!("unknown access kind {other}"),
        }
        assert!(
            ![401, 403].contains(&as_admin),
            "{label}: admin got {as_admin}"
        );
    }
    // A route outside the table is closed, not open.
    assert_eq!(
        send("GET", "/api/not-a-route", None)
            .await
            .unwrap()
            .status(),
        401
    );
    let forbidden = server.audit(&admin, "action=access.forbidden").await;
    assert!(forbidden.iter().any(|r| r["actor"] == "reader"));
}

#[tokio::test]
async fn restart_keeps_users_keys_audit_and_generated_jwt_key() {
    let server = ServerBuilder::default()
        .without_env("AI_JWT_SECRET_KEY")
        .start()
        .await;
    let key_file = server.data_dir().join("jwt-secret");
    assert!(key_file.exists());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let admin = server.admin().await;
    let carol = server
        .create_user(&admin, "carol", "carol-password", &["read"])
        .await;
    let key = server.create_api_key(&carol, json!({"name": "keep"})).await;
    assert_eq!(status_with(&server, "/api/auth/me", &key).await, 200);
    let before = server.audit(&admin, "").await.len();
    assert!(before >= 4);

    let server = server.restart().await;
    assert_eq!(
        status_with(&server, "/api/auth/me", &carol).await,
        200,
        "tokens survive a restart"
    );
    assert_eq!(status_with(&server, "/api/auth/me", &key).await, 200);
    server.login("carol", "carol-password").await;
    let admin = server.admin().await;
    let after = server.audit(&admin, "").await;
    assert!(
        after.len() > before,
        "{} rows before, {} after",
        before,
        after.len()
    );
    let keys = server.get_json("/api/auth/apikeys?all=true", &admin).await;
    assert!(
        keys[0]["last_used_at"].is_string(),
        "last use was flushed on shutdown: {keys}"
    );
    // The admin is created once, never again.
    assert_eq!(
        server
            .audit(&admin, "action=user.create&actor=system")
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn health_ready_metrics_openapi_and_a_log_grep_for_secrets() {
    let server = TestServer::start().await;
    let health = server.health().await;
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["auth_enabled"], true);
    assert_eq!(health["rate_limit_enabled"], true);
    assert_eq!(health["policy"]["generation"], 1);
    assert_eq!(health["policy"]["source"], "file");
    assert_eq!(health["policy"]["hash"].as_str().unwrap().len(), 64);
    let ready = server.get("/ready").send().await;
    assert_eq!(ready.status(), 200);

    // Exercise every secret: passwords, tokens, keys.
    let tokens = server.login("admin", ADMIN_PASSWORD).await;
    let admin = tokens.access.clone();
    let dave = server
        .create_user(&admin, "dave", "dave-Secret-Pw-77", &["read"])
        .await;
    let key = server.create_api_key(&dave, json!({"name": "grep"})).await;
    server.me_with_key(&key).await;
    let r = server
        .post("/api/auth/login")
        .json(&json!({"username": "dave", "password": "wrong-Secret-Pw-99"}))
        .send()
        .await;
    assert_eq!(r.status(), 401);
    let refreshed: Value = server
        .post("/api/auth/refresh")
        .json(&json!({"refresh_token": tokens.refresh}))
        .send()
        .await
        .json()
        .await
        .unwrap();
    server
        .get("/api/auth/me")
        .bearer("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.forged-signature")
        .send()
        .await;

    let metrics = server.metrics().await;
    for name in [
        "ai_orchestrator_http_requests_total",
        "ai_orchestrator_http_request_duration_seconds_bucket",
        "ai_orchestrator_auth_failures_total",
        "ai_orchestrator_policy_reloads_total",
        "ai_orchestrator_policy_reload_failures_total",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
    assert!(metrics.contains("route=\"/api/auth/me\""));

    let openapi: Value = server
        .get("/api/openapi.json")
        .send()
        .await
        .json()
        .await
        .unwrap();
    for path in [
        "/health",
        "/api/auth/login",
        "/api/auth/users/{username}",
        "/api/auth/apikeys",
        "/api/audit",
        "/api/security/config",
        "/api/chat",
        "/tools",
        "/api/tools/{name}",
        "/api/conversations/{id}",
        "/v1/chat/completions",
        "/v1/models",
    ] {
        assert!(
            openapi["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }

    // Nothing secret in logs, audit rows, or the security config.
    let audit = server.audit(&admin, "").await;
    let config = server.get_json("/api/security/config", &admin).await;
    let haystack = format!(
        "{}\n{}\n{}",
        server.logs(),
        serde_json::to_string(&audit).unwrap(),
        config
    );
    let secrets = [
        ADMIN_PASSWORD.to_string(),
        JWT_SECRET.to_string(),
        "dave-Secret-Pw-77".into(),
        "wrong-Secret-Pw-99".into(),
        tokens.access.clone(),
        tokens.refresh.clone(),
        refreshed["access_token"].as_str().unwrap().into(),
        refreshed["refresh_token"].as_str().unwrap().into(),
        dave.clone(),
        key.clone(),
        key[3..].to_string(),
        sha256_hex(&key),
        "forged-signature".into(),
    ];
    assert!(
        server.logs().contains("\"target\":\"audit\""),
        "audit lines are logged"
    );
    for secret in secrets {
        assert!(
            !haystack.contains(&secret),
            "a secret leaked: {}...",
            &secret[..6]
        );
    }
}

#[tokio::test]
async fn unsafe_configurations_refuse_to_start() {
    let (code, stderr) = ServerBuilder::default()
        .env("AI_JWT_SECRET_KEY", "too-short-secret")
        .start_expecting_failure();
    assert_ne!(code, 0);
    assert!(stderr.contains("at least 32 bytes"), "{stderr}");
    assert!(!stderr.contains("too-short-secret"));

    let (code, stderr) = ServerBuilder::default()
        .policy(Some(
            "version: 1\ncors:\n  allowedOrigins: ['*']\n  allowCredentials: true\n",
        ))
        .start_expecting_failure();
    assert_ne!(code, 0);
    assert!(stderr.contains("cors"), "{stderr}");

    let (code, stderr) = ServerBuilder::default()
        .policy(Some("version: 1\nbogus: 1\n"))
        .start_expecting_failure();
    assert_ne!(code, 0);
    assert!(stderr.contains("policy.yaml is invalid"), "{stderr}");

    let (code, stderr) = ServerBuilder::default()
        .env("AI_CORS_ORIGINS", "[\"*\"]")
        .env("AI_CORS_ALLOW_CREDENTIALS", "true")
        .start_expecting_failure();
    assert_ne!(code, 0, "{stderr}");

    // Without a policy file the built-in default applies.
    let server = ServerBuilder::default().policy(None).start().await;
    assert_eq!(
        server.health().await["policy"]["source"],
        "built-in-default"
    );
    assert!(server.logs().contains("built-in default policy"));

    // The container health check.
    let check = |url: String| {
        std::process::Command::new(env!("CARGO_BIN_EXE_ai-orchestrator"))
            .args(["healthcheck", "--timeout", "5", "--url", &url])
            .output()
            .unwrap()
    };
    assert!(check(server.url("/health")).status.success());
    let down = check("http://127.0.0.1:9/health".into());
    assert!(!down.status.success());
    assert!(!down.stderr.is_empty());
}

/// Numeric fields have bounds: a key lifetime past ten years (or one whose expiry would not be a
/// representable time) is refused with 422 instead of a key with an empty expiry.
#[tokio::test]
async fn api_key_lifetimes_are_bounded() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    for days in [0_u64, 3651, 2_147_483_648, 4_294_967_296] {
        let r = server
            .post("/api/auth/apikeys")
            .bearer(&admin)
            .json(&json!({"name": format!("k{days}"), "expires_in_days": days}))
            .send()
            .await;
        assert_eq!(r.status(), 422, "{days} days");
        let body: Value = r.json().await.unwrap();
        assert!(body["detail"].is_string(), "{body}");
    }
    let far = server
        .post("/api/auth/apikeys")
        .bearer(&admin)
        .json(&json!({"name": "far", "expires_at": "2999-01-01T00:00:00Z"}))
        .send()
        .await;
    assert_eq!(far.status(), 422);
    let r = server
        .post("/api/auth/apikeys")
        .bearer(&admin)
        .json(&json!({"name": "ten-years", "expires_in_days": 3650}))
        .send()
        .await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let expires = created["expires_at"].as_str().unwrap_or_default();
    assert!(expires.parse::<jiff::Timestamp>().is_ok(), "{created}");
}

#[tokio::test]
async fn logins_past_the_hashing_bound_get_503_with_retry_after_then_succeed_again() {
    // One hashing slot and no waiting: any login arriving while another hashes is refused.
    let server = ServerBuilder::default()
        .env("AI_PASSWORD_HASH_CONCURRENCY", "1")
        .env("AI_PASSWORD_HASH_QUEUE_TIMEOUT_MS", "0")
        .start()
        .await;
    let login = |username: &'static str, password: &'static str| {
        let server = &server;
        async move {
            server
                .client
                .post(server.url("/api/auth/login"))
                .json(&json!({"username": username, "password": password}))
                .send()
                .await
                .unwrap()
        }
    };
    let mut refused = 0;
    for _round in 0..10 {
        // Known and unknown users alike go through the same bound.
        let burst = (0..24).map(|i| match i % 3 {
            0 => login("nobody", "wrong-password"),
            _ => login("admin", ADMIN_PASSWORD),
        });
        for response in futures::future::join_all(burst).await {
            let status = response.status().as_u16();
            if status == 503 {
                refused += 1;
                let retry: u64 = response.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!(retry >= 1);
                let body: Value = response.json().await.unwrap();
                assert!(body["detail"].as_str().unwrap().contains("busy"), "{body}");
            } else {
                assert!(
                    status == 200 || status == 401,
                    "a login is answered, refused as busy, or wrong: {status}"
                );
            }
        }
        if refused > 0 {
            break;
        }
    }
    assert!(
        refused > 0,
        "concurrent logins past one slot were never refused"
    );
    // Refusals as busy are not failures: the admin is not locked out, and the server lives on.
    assert_eq!(server.health().await["status"], "healthy");
    let response = login("admin", ADMIN_PASSWORD).await;
    assert_eq!(response.status(), 200);
    assert_eq!(login("nobody", "wrong-password").await.status(), 401);
    assert!(!server.logs().contains("panicked"));
}
