//! Resolution with the version policy applied once: a request resolves among the builds the
//! policy admits, and a build only refused ones satisfy is refused naming the rule.

use crate::catalogue::{Catalogue, Entry};
use crate::platform::Platform;
use crate::policy::PolicyError;
use crate::settings::Settings;
use crate::version::Request;

/// Resolves `request` among the builds the version policy admits. A request that only refused
/// builds satisfy is refused naming the rule; a full catalogue key is checked the same way.
pub fn resolve(
    s: &Settings,
    catalogue: &Catalogue,
    request: &Request,
    platform: &Platform,
    pre: bool,
) -> anyhow::Result<Entry> {
    let pre = pre || s.policy.prereleases();
    let refused = |e: &Entry| {
        s.policy.refusal(e).map(|refusal| PolicyError::Refused {
            request: request.to_string(),
            version: e.version.to_string(),
            key: e.key.clone(),
            refusal,
        })
    };
    if s.policy.is_empty() {
        return Ok(catalogue.resolve(request, platform, pre)?.clone());
    }
    let admitted = Catalogue {
        source: catalogue.source.clone(),
        entries: catalogue
            .entries
            .iter()
            .filter(|e| request.key().is_some() || s.policy.refusal(e).is_none())
            .cloned()
            .collect(),
        warnings: Vec::new(),
    };
    match admitted.resolve(request, platform, pre) {
        Ok(e) => match refused(e) {
            Some(err) => Err(err.into()),
            None => Ok(e.clone()),
        },
        // Refused by policy only if the unfiltered catalogue has a match; otherwise its own
        // error (with its hints about prereleases and the nearest versions) says more.
        Err(err) => match catalogue.resolve(request, platform, pre) {
            Ok(e) => Err(refused(e).map_or_else(|| err.into(), Into::into)),
            Err(unfiltered) => Err(unfiltered.into()),
        },
    }
}
