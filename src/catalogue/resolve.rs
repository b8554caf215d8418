//! Resolution: the best catalogue entry for a request on a platform (highest version, then
//! newest build), and errors that say what the catalogue has nearby.

use super::{Catalogue, Entry, ResolveError};
use crate::ground::platform::Platform;
use crate::ground::version::{self, PythonVersion, Request};

impl Catalogue {
    /// The best entry for `request` on `platform`: highest version, then newest build.
    pub fn resolve(
        &self,
        request: &Request,
        platform: &Platform,
        allow_pre: bool,
    ) -> Result<&Entry, ResolveError> {
        if let Some(key) = request.key() {
            let of_key = self.entries.iter().filter(|e| e.key == key);
            if let Some(entry) = of_key
                .clone()
                .filter(|e| request.admits_build(e.build.as_deref()))
                .max_by_key(|e| rank(e))
            {
                if !entry.on(platform) {
                    return Err(ResolveError::WrongPlatform {
                        key: key.to_owned(),
                        entry_platform: entry.platform(),
                        platform: platform.to_string(),
                    });
                }
                return check_installable(entry);
            }
            if let Some(build) = request.build()
                && of_key.clone().next().is_some()
            {
                return Err(no_build(request, build, platform, of_key));
            }
            return Err(ResolveError::UnknownKey {
                key: key.to_owned(),
                similar: self
                    .entries
                    .iter()
                    .filter(|e| {
                        e.key.starts_with(
                            key.split('-')
                                .take(2)
                                .collect::<Vec<_>>()
                                .join("-")
                                .as_str(),
                        )
                    })
                    .take(5)
                    .map(|e| e.key.clone())
                    .collect(),
            });
        }
        self.offers(platform)?;
        let allow_pre = allow_pre || request.names_prerelease();
        let candidates = self.entries.iter().filter(|e| {
            e.implementation == "cpython" && e.variant == request.variant() && e.on(platform)
        });
        let mut best: Option<&Entry> = None;
        let mut skipped_pre: Vec<&PythonVersion> = Vec::new();
        let matching = candidates.clone().filter(|e| request.matches(&e.version));
        for e in matching
            .clone()
            .filter(|e| request.admits_build(e.build.as_deref()))
        {
            if e.version.is_prerelease() && !allow_pre {
                skipped_pre.push(&e.version);
                continue;
            }
            if best.is_none_or(|b| rank(e) > rank(b)) {
                best = Some(e);
            }
        }
        if let Some(e) = best {
            return check_installable(e);
        }
        if let Some(build) = request.build()
            && matching.clone().next().is_some()
        {
            return Err(no_build(request, build, platform, matching));
        }
        skipped_pre.sort_unstable_by(|a, b| b.cmp(a));
        skipped_pre.dedup();
        let mut stable: Vec<&PythonVersion> = candidates
            .map(|e| &e.version)
            .filter(|v| allow_pre || !v.is_prerelease())
            .collect();
        stable.sort_unstable();
        stable.dedup();
        let mut nearest = longer_minors(&stable, request);
        if nearest.is_empty() {
            if let Some(anchor) = request.anchor() {
                stable.sort_by_key(|v| version::distance(v, &anchor));
            }
            nearest = stable.into_iter().take(5).collect();
        }
        nearest.sort_unstable_by(|a, b| b.cmp(a));
        Err(ResolveError::NoMatch {
            request: request.to_string(),
            platform: format!("{platform}{}", request.variant().key_suffix()),
            nearest: nearest.iter().map(ToString::to_string).collect(),
            skipped_pre: skipped_pre
                .iter()
                .take(3)
                .map(ToString::to_string)
                .collect(),
        })
    }
}

/// A request for a build no entry of its version has: the builds there are, newest first.
fn no_build<'a>(
    request: &Request,
    build: &str,
    platform: &Platform,
    of_version: impl Iterator<Item = &'a Entry>,
) -> ResolveError {
    let mut entries: Vec<&Entry> = of_version.collect();
    entries.sort_by_key(|e| std::cmp::Reverse(rank(e)));
    let mut builds: Vec<String> = entries
        .iter()
        .map(|e| {
            crate::ground::version::label(
                &e.version.to_string(),
                e.variant.name(),
                e.build.as_deref(),
            )
        })
        .collect();
    builds.dedup();
    builds.truncate(5);
    ResolveError::NoBuild {
        request: request.to_string(),
        build: build.to_owned(),
        platform: format!("{platform}{}", request.variant().key_suffix()),
        builds,
    }
}

/// For a request typed as `3.1`: the newest of each minor that begins with what was typed
/// (3.10 to 3.14, newest first, at most five), which is what the typist most likely meant; the
/// numerically nearest minor (3.8) rarely is. `versions` are sorted, oldest first.
fn longer_minors<'a>(versions: &[&'a PythonVersion], request: &Request) -> Vec<&'a PythonVersion> {
    let Some((major, minor)) = request.typed_minor() else {
        return Vec::new();
    };
    let typed = minor.to_string();
    let mut newest: Vec<&PythonVersion> = Vec::new();
    for v in versions.iter().rev() {
        if v.major() == major
            && v.minor() != minor
            && v.minor().to_string().starts_with(&typed)
            && newest.last().is_none_or(|n| n.minor() != v.minor())
        {
            newest.push(v);
        }
    }
    newest.truncate(5);
    newest
}

impl Catalogue {
    /// Whether the catalogue has any build for `platform`; if not, the error names the
    /// platforms it has that look like it (two of os, arch and libc alike: `macos-aarch64-none`
    /// finds `darwin-aarch64-none`), so a misspelt `--platform` is not an empty answer.
    pub(crate) fn offers(&self, platform: &Platform) -> Result<(), ResolveError> {
        if self.entries.iter().any(|e| e.on(platform)) {
            return Ok(());
        }
        // The embedded catalogue may have been read for one platform only: ask all of it.
        let whole;
        let all = if self.source == super::Location::Embedded {
            whole = Self::embedded_for(None);
            &whole
        } else {
            self
        };
        let mut similar: Vec<String> = all
            .entries
            .iter()
            .filter(|e| {
                u8::from(e.os == platform.os)
                    + u8::from(e.arch == platform.arch)
                    + u8::from(e.libc == platform.libc)
                    >= 2
            })
            .map(Entry::platform)
            .collect();
        similar.sort();
        similar.dedup();
        similar.truncate(5);
        Err(ResolveError::NoPlatform {
            platform: platform.to_string(),
            similar,
        })
    }
}

fn check_installable(e: &Entry) -> Result<&Entry, ResolveError> {
    if e.implementation != "cpython" {
        return Err(ResolveError::NotCpython {
            key: e.key.clone(),
            implementation: e.implementation.clone(),
        });
    }
    if e.sha256.is_none() {
        return Err(ResolveError::NoDigest { key: e.key.clone() });
    }
    Ok(e)
}

/// Orders entries of one request: version, then build (numerically when both are dates).
fn rank(e: &Entry) -> (&PythonVersion, (u64, &str)) {
    (
        &e.version,
        crate::ground::version::build_rank(e.build.as_deref()),
    )
}

pub(super) fn list_suffix(label: &str, items: &[String]) -> String {
    if items.is_empty() {
        String::new()
    } else {
        format!("; {label}: {}", items.join(", "))
    }
}

pub(super) fn pre_suffix(pre: &[String]) -> String {
    if pre.is_empty() {
        String::new()
    } else {
        format!(
            "; skipped prerelease {} (pass --pre to allow prereleases)",
            pre.join(", ")
        )
    }
}
