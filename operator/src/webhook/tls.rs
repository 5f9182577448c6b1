//! The webhook's own CA and serving certificate, as pure functions over the
//! Secret that keeps them: what to generate or renew at a given time, and
//! the CA bundle the API server must trust (the current CA, plus the
//! previous one while certificates it signed may still be served).

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

/// Secret keys.
pub const CA_CERT: &str = "ca.crt";
pub const CA_KEY: &str = "ca.key";
pub const TLS_CERT: &str = "tls.crt";
pub const TLS_KEY: &str = "tls.key";
/// What the `caBundle` of the webhook configuration holds.
pub const CA_BUNDLE: &str = "ca-bundle.crt";
/// Annotations recording validity, so renewal needs no certificate parser.
pub const CA_NOT_AFTER: &str = "ai-orchestrator.io/ca-not-after";
pub const TLS_NOT_AFTER: &str = "ai-orchestrator.io/tls-not-after";
pub const TLS_DNS_NAMES: &str = "ai-orchestrator.io/tls-dns-names";

/// The CA lives ten years, a serving certificate one.
const CA_DAYS: i64 = 3650;
const SERVING_DAYS: i64 = 365;
/// A serving certificate is renewed this long before it expires…
const RENEW_SERVING_DAYS: i64 = 30;
/// …and the CA this long, so pods still serving the old chain keep working.
const RENEW_CA_DAYS: i64 = 365;

const CA_NAME: &str = "ai-orchestrator-operator webhook CA";

/// The contents of the certificate Secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Material {
    pub ca_cert: String,
    pub ca_key: String,
    pub cert: String,
    pub key: String,
    /// PEM of the CAs the API server must trust.
    pub ca_bundle: String,
    pub ca_not_after: Timestamp,
    pub cert_not_after: Timestamp,
    pub dns_names: Vec<String>,
}

impl std::fmt::Debug for Material {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Material")
            .field("ca_not_after", &self.ca_not_after)
            .field("cert_not_after", &self.cert_not_after)
            .field("dns_names", &self.dns_names)
            .finish_non_exhaustive()
    }
}

/// Why certificates could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("generating a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("a time outside the supported range")]
    Time,
}

/// What to do with the Secret's material at `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    Keep,
    /// A new serving certificate from the same CA.
    RenewServing,
    /// A new CA and serving certificate (none yet, unreadable, or the CA expires soon).
    NewCa,
}

/// The names the webhook Service answers to.
pub fn dns_names(service: &str, namespace: &str) -> Vec<String> {
    vec![
        service.to_string(),
        format!("{service}.{namespace}"),
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
    ]
}

/// Decides what `existing` needs at `now` to serve `dns`.
pub fn plan(existing: Option<&Material>, dns: &[String], now: Timestamp) -> Plan {
    let Some(m) = existing else {
        return Plan::NewCa;
    };
    let before = |t: Timestamp, days: i64| {
        t.checked_sub(SignedDuration::from_hours(days * 24))
            .map_or(true, |limit| now >= limit)
    };
    if before(m.ca_not_after, RENEW_CA_DAYS) {
        Plan::NewCa
    } else if before(m.cert_not_after, RENEW_SERVING_DAYS) || m.dns_names != dns {
        Plan::RenewServing
    } else {
        Plan::Keep
    }
}

/// The material after applying `plan` (`None` for [`Plan::Keep`]).
pub fn next(
    existing: Option<&Material>,
    dns: &[String],
    now: Timestamp,
) -> Result<Option<Material>, TlsError> {
    match (plan(existing, dns, now), existing) {
        (Plan::Keep, _) => Ok(None),
        (Plan::RenewServing, Some(m)) => {
            let (cert, key, cert_not_after) = issue(&m.ca_key, dns, now)?;
            Ok(Some(Material {
                cert,
                key,
                cert_not_after,
                dns_names: dns.to_vec(),
                ..m.clone()
            }))
        }
        (_, previous) => {
            let (ca_cert, ca_key, ca_not_after) = new_ca(now)?;
            let (cert, key, cert_not_after) = issue(&ca_key, dns, now)?;
            // The previous CA stays trusted while certificates it signed are still served.
            let ca_bundle = match previous.filter(|p| p.ca_not_after > now) {
                Some(p) => format!("{ca_cert}{}", p.ca_cert),
                None => ca_cert.clone(),
            };
            Ok(Some(Material {
                ca_cert,
                ca_key,
                cert,
                key,
                ca_bundle,
                ca_not_after,
                cert_not_after,
                dns_names: dns.to_vec(),
            }))
        }
    }
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, CA_NAME);
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

/// `not_before` a day early (clock skew), `not_after` whole days later.
fn validity(
    params: &mut CertificateParams,
    now: Timestamp,
    days: i64,
) -> Result<Timestamp, TlsError> {
    let date = |t: Timestamp| {
        let d = t.to_zoned(k8s_openapi::jiff::tz::TimeZone::UTC).date();
        u8::try_from(d.month())
            .ok()
            .zip(u8::try_from(d.day()).ok())
            .map(|(m, day)| rcgen::date_time_ymd(i32::from(d.year()), m, day))
            .ok_or(TlsError::Time)
    };
    let start = now
        .checked_sub(SignedDuration::from_hours(24))
        .map_err(|_| TlsError::Time)?;
    let end = now
        .checked_add(SignedDuration::from_hours(days * 24))
        .map_err(|_| TlsError::Time)?;
    params.not_before = date(start)?;
    params.not_after = date(end)?;
    // The certificate ends at the start of that day (UTC).
    end.to_zoned(k8s_openapi::jiff::tz::TimeZone::UTC)
        .start_of_day()
        .map(|z| z.timestamp())
        .map_err(|_| TlsError::Time)
}

fn new_ca(now: Timestamp) -> Result<(String, String, Timestamp), TlsError> {
    let key = KeyPair::generate()?;
    let mut params = ca_params();
    let not_after = validity(&mut params, now, CA_DAYS)?;
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem(), not_after))
}

fn issue(
    ca_key: &str,
    dns: &[String],
    now: Timestamp,
) -> Result<(String, String, Timestamp), TlsError> {
    let issuer = Issuer::new(ca_params(), KeyPair::from_pem(ca_key)?);
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(dns.to_vec())?;
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, dns.first().cloned().unwrap_or_default());
    params.distinguished_name = name;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let not_after = validity(&mut params, now, SERVING_DAYS)?;
    let cert = params.signed_by(&key, &issuer)?;
    Ok((cert.pem(), key.serialize_pem(), not_after))
}

/// The Secret's data and annotations for `m`.
pub fn to_secret(m: &Material) -> (BTreeMap<String, ByteString>, BTreeMap<String, String>) {
    let data = [
        (CA_CERT, &m.ca_cert),
        (CA_KEY, &m.ca_key),
        (TLS_CERT, &m.cert),
        (TLS_KEY, &m.key),
        (CA_BUNDLE, &m.ca_bundle),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
    .collect();
    let annotations = BTreeMap::from([
        (CA_NOT_AFTER.to_string(), m.ca_not_after.to_string()),
        (TLS_NOT_AFTER.to_string(), m.cert_not_after.to_string()),
        (TLS_DNS_NAMES.to_string(), m.dns_names.join(",")),
    ]);
    (data, annotations)
}

/// The material kept in a Secret; `None` when anything is missing or
/// unreadable (then a new CA is made).
pub fn from_secret(
    data: &BTreeMap<String, ByteString>,
    annotations: &BTreeMap<String, String>,
) -> Option<Material> {
    let text = |key: &str| {
        data.get(key)
            .and_then(|b| String::from_utf8(b.0.clone()).ok())
            .filter(|s| !s.trim().is_empty())
    };
    let time = |key: &str| annotations.get(key)?.parse::<Timestamp>().ok();
    let ca_key = text(CA_KEY)?;
    KeyPair::from_pem(&ca_key).ok()?;
    Some(Material {
        ca_cert: text(CA_CERT)?,
        ca_key,
        cert: text(TLS_CERT)?,
        key: text(TLS_KEY)?,
        ca_bundle: text(CA_BUNDLE)?,
        ca_not_after: time(CA_NOT_AFTER)?,
        cert_not_after: time(TLS_NOT_AFTER)?,
        dns_names: annotations
            .get(TLS_DNS_NAMES)?
            .split(',')
            .map(str::to_string)
            .collect(),
    })
}
