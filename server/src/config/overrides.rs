//! The `AI_CORS_*` / `AI_RATE_LIMIT_*` environment variables, which override
//! the matching parts of whatever policy is loaded, and `AI_TRUSTED_PROXIES`,
//! which joins the policy's list.

use crate::config::Settings;

/// Applies the `AI_CORS_*` / `AI_RATE_LIMIT_*` environment overrides to a document.
pub(crate) fn apply_overrides(doc: &mut policy::PolicyDocument, settings: &Settings) {
    let o = &settings.overrides;
    if let Some(origins) = &o.cors_origins {
        doc.cors.allowed_origins = origins.clone();
    }
    if let Some(credentials) = o.cors_allow_credentials {
        doc.cors.allow_credentials = Some(credentials);
    }
    if let Some(methods) = &o.cors_methods {
        doc.cors.allowed_methods = methods.clone();
    }
    if let Some(headers) = &o.cors_headers {
        doc.cors.allowed_headers = headers.clone();
    }
    if let Some(enabled) = o.rate_limit_enabled {
        doc.rate_limits.enabled = Some(enabled);
    }
    if let Some((requests, per)) = o.rate_limit_default {
        doc.rate_limits.default = Some(policy::RateLimit {
            requests,
            per: per.into(),
        });
    }
    if let Some(proxies) = &o.trusted_proxies {
        for proxy in proxies {
            if !doc.rate_limits.trusted_proxies.contains(proxy) {
                doc.rate_limits.trusted_proxies.push(proxy.clone());
            }
        }
    }
}
