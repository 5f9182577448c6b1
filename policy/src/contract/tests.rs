use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::*;

fn b64(n: usize) -> String {
    BASE64.encode(vec![7u8; n])
}

fn key(kid: &str, bytes: usize, retired: Option<&str>) -> JwtKey {
    JwtKey {
        kid: kid.into(),
        secret: b64(bytes),
        retired_at: retired.map(str::to_string),
    }
}

fn jwt(signing: &str, keys: Vec<JwtKey>) -> Result<JwtKeys, FileError> {
    parse_jwt_keys(
        render_jwt_keys(&JwtKeySet {
            signing_kid: signing.into(),
            keys,
        })
        .as_bytes(),
    )
}

fn entry(name: &str, key: &[u8], scopes: &[Scope]) -> ApiKeyEntry {
    ApiKeyEntry {
        name: name.into(),
        sha256: api_key_sha256(key),
        scopes: scopes.to_vec(),
        expires_at: None,
    }
}

#[test]
fn a_rendered_key_set_parses_back_decoded() {
    let keys = jwt(
        "k2",
        vec![
            key("k1", 32, Some("2026-01-01T00:00:00Z")),
            key("k2", 48, None),
        ],
    )
    .expect("valid");
    assert_eq!(keys.set.signing_kid, "k2");
    assert_eq!(keys.decoded.len(), 2);
    assert_eq!(keys.decoded[1].secret, vec![7u8; 48]);
    assert_eq!(
        keys.decoded[0].retired_at,
        Some("2026-01-01T00:00:00Z".parse().expect("time"))
    );
}

#[test]
fn key_set_rules_name_their_field() {
    let cases: Vec<(Result<JwtKeys, FileError>, &str, Problem)> = vec![
        (jwt("k1", vec![]), "keys", Problem::NoKeys),
        (
            jwt("k1", vec![key("k1", 31, None)]),
            "keys[0].secret",
            Problem::TooShort(31),
        ),
        (
            jwt("k1", vec![key("k1", 32, None), key("k1", 32, None)]),
            "keys[1].kid",
            Problem::Duplicate("k1".into()),
        ),
        (
            jwt("k1", vec![key(" ", 32, None)]),
            "keys[0].kid",
            Problem::Empty,
        ),
        (
            jwt("k9", vec![key("k1", 32, None)]),
            "signingKid",
            Problem::UnknownSigningKid("k9".into()),
        ),
        (
            jwt("k1", vec![key("k1", 32, Some("2026-01-01T00:00:00Z"))]),
            "signingKid",
            Problem::SigningKeyRetired("k1".into()),
        ),
        (
            jwt("k1", vec![key("k1", 32, Some("yesterday"))]),
            "keys[0].retiredAt",
            Problem::NotATime("yesterday".into()),
        ),
    ];
    for (result, path, problem) in cases {
        let error = result.expect_err(path);
        assert_eq!((error.file, error.path.as_str()), (JWT_KEYS_FILE, path));
        assert_eq!(error.problem, problem);
    }
    let not_base64 = br#"{"signingKid":"k1","keys":[{"kid":"k1","secret":"%%%"}]}"#;
    assert_eq!(
        parse_jwt_keys(not_base64).expect_err("base64").problem,
        Problem::NotBase64
    );
    let unknown_field = br#"{"signingKid":"k1","keys":[],"extra":1}"#;
    assert!(matches!(
        parse_jwt_keys(unknown_field).expect_err("unknown").problem,
        Problem::Json { .. }
    ));
}

#[test]
fn messages_never_quote_the_input() {
    let secret = "c2VjcmV0LXZhbHVlLXRoYXQtbXVzdC1ub3QtbGVhaw==";
    let text =
        format!(r#"{{"signingKid":"k1","keys":[{{"kid":"k1","secret":{{"v":"{secret}"}}}}]}}"#);
    let message = parse_jwt_keys(text.as_bytes())
        .expect_err("wrong type")
        .to_string();
    assert!(
        message.starts_with("jwt-keys.json: invalid JSON: line 1"),
        "{message}"
    );
    assert!(!message.contains(secret), "{message}");
    let short = format!(
        r#"{{"signingKid":"k1","keys":[{{"kid":"k1","secret":"{}"}}]}}"#,
        b64(8)
    );
    let message = parse_jwt_keys(short.as_bytes())
        .expect_err("short")
        .to_string();
    assert_eq!(
        message,
        "jwt-keys.json: keys[0].secret: decodes to 8 bytes; at least 32 are required"
    );
    assert!(!message.contains(&b64(8)));
}

#[test]
fn api_keys_round_trip_and_normalise() {
    let mut upper = entry("deploy", b"two", &[Scope::Admin]);
    upper.sha256 = upper.sha256.to_ascii_uppercase();
    upper.expires_at = Some("2027-01-01T00:00:00Z".into());
    let text = render_api_keys(&[entry("ci", b"one", &[Scope::Read, Scope::Execute]), upper]);
    let keys = parse_api_keys(text.as_bytes()).expect("valid");
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0].scopes, vec![Scope::Read, Scope::Execute]);
    assert_eq!(keys[1].sha256, api_key_sha256(b"two"));
    assert!(keys[1].expires_at.is_some());
    assert_eq!(
        api_key_sha256(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn names_and_hashes_are_both_unique() {
    let same_name = render_api_keys(&[
        entry("ci", b"one", &[Scope::Read]),
        entry("ci", b"two", &[Scope::Read]),
    ]);
    let error = parse_api_keys(same_name.as_bytes()).expect_err("name twice");
    assert_eq!(error.path, "[1].name");
    assert_eq!(error.problem, Problem::Duplicate("ci".into()));
    assert_eq!(error.entry(), Some(1));

    let mut upper = entry("b", b"one", &[Scope::Read]);
    upper.sha256 = upper.sha256.to_ascii_uppercase();
    let same_key = render_api_keys(&[entry("a", b"one", &[Scope::Read]), upper]);
    let error = parse_api_keys(same_key.as_bytes()).expect_err("key twice");
    assert_eq!(error.path, "[1].sha256");
    assert_eq!(error.problem, Problem::DuplicateKey { first: 0 });
}

#[test]
fn api_key_rules_name_their_field() {
    let hash = "a".repeat(64);
    let cases = [
        (
            format!(r#"[{{"name":"","sha256":"{hash}","scopes":["read"]}}]"#),
            "[0].name",
            Problem::Empty,
        ),
        (
            r#"[{"name":"ci","sha256":"xyz","scopes":["read"]}]"#.to_string(),
            "[0].sha256",
            Problem::NotSha256,
        ),
        (
            format!(r#"[{{"name":"ci","sha256":"{hash}","scopes":["read","root"]}}]"#),
            "[0].scopes[1]",
            Problem::UnknownScope(UnknownScope("root".into())),
        ),
        (
            format!(r#"[{{"name":"ci","sha256":"{hash}","scopes":[]}}]"#),
            "[0].scopes",
            Problem::NoScopes,
        ),
        (
            format!(r#"[{{"name":"ci","sha256":"{hash}","scopes":["read"],"expiresAt":"soon"}}]"#),
            "[0].expiresAt",
            Problem::NotATime("soon".into()),
        ),
    ];
    for (text, path, problem) in cases {
        let error = parse_api_keys(text.as_bytes()).expect_err(path);
        assert_eq!((error.file, error.path.as_str()), (API_KEYS_FILE, path));
        assert_eq!(error.problem, problem);
    }
    assert!(parse_api_keys(b"{}").is_err());
}

#[test]
fn admin_implies_every_scope() {
    for scope in Scope::ALL {
        assert!(Scope::Admin.implies(scope));
        assert!(scope.implies(scope));
    }
    assert!(!Scope::Write.implies(Scope::Read));
    assert!(!Scope::Execute.implies(Scope::Admin));
    assert_eq!("  execute ".parse::<Scope>(), Ok(Scope::Execute));
    assert_eq!(
        Scope::parse("root").expect_err("unknown").to_string(),
        "unknown scope \"root\"; valid scopes: read, write, execute, admin"
    );
    let names: Vec<String> = Scope::ALL
        .iter()
        .map(|s| serde_json::to_string(s).expect("json"))
        .collect();
    assert_eq!(
        names,
        [r#""read""#, r#""write""#, r#""execute""#, r#""admin""#]
    );
}
