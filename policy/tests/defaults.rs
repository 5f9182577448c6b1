//! The built-in default policy and the YAML round trip.

use policy::{Policy, PolicyError, default_policy, to_yaml};

#[test]
fn default_policy_compiles_and_passes_its_examples() {
    let p = Policy::compile(default_policy());
    assert!(p.is_ok(), "{:?}", p.err().map(|e| e.to_string()));
}

#[test]
fn default_policy_yaml_round_trips() {
    let yaml = to_yaml(&default_policy());
    let p = Policy::from_yaml(&yaml).map_err(|e| e.to_string());
    assert!(p.is_ok(), "{p:?}\n{yaml}");
    if let Ok(p) = p {
        assert_eq!(p.document(), &default_policy());
        assert_eq!(p.hash(), Policy::default_policy().hash());
        assert_eq!(p.hash().len(), 64);
    }
}

#[test]
fn unknown_field_is_a_parse_error_with_location() {
    let err = Policy::from_yaml("version: 1\ncommands:\n  allow: []\n  alow: []\n").err();
    match err {
        Some(PolicyError::Parse(m)) => {
            println!("{m}");
            assert!(m.contains("alow"), "{m}");
            assert!(m.contains("line 4") || m.contains("4:"), "{m}");
        }
        other => panic!("expected a parse error, got {other:?}"),
    }
}
