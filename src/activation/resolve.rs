//! The configured catalogue, loaded (through its cache, or from the store's own runtimes while
//! it is unreachable), and resolution with the version policy applied once: a request resolves
//! among the builds the policy admits, and a build only refused ones satisfy is refused naming
//! the rule.

use super::{Ctx, Event};
use crate::catalogue::cache::{CatalogueCache, Freshness};
use crate::catalogue::trust::{Accepted, Trust};
use crate::catalogue::{Catalogue, CatalogueError, Entry, Location};
use crate::domain::policy::PolicyError;
use crate::ground::platform::Platform;
use crate::ground::version::Request;
use crate::interface::settings::Settings;
use crate::network::fetch::Fetcher;
use crate::storage::db::Db;

/// Resolves `request` among the builds the version policy admits. A request that only refused
/// builds satisfy is refused naming the rule; a full catalogue key is checked the same way.
pub(crate) fn resolve(
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

/// Loads the configured catalogue; `platform` lets the embedded one skip other platforms. A
/// remote one goes through the catalogue cache (see `catalogue::cache`), which a dry run
/// (`dry_run`) reads but does not write. With `[trust] keys`, the catalogue is used only when
/// its signature passes (`catalogue::trust`); the accepted version is recorded.
pub(crate) fn load_catalogue(
    cx: Ctx<'_>,
    fetcher: &Fetcher,
    platform: Option<&Platform>,
    dry_run: bool,
) -> anyhow::Result<Catalogue> {
    let Ctx { s, tell } = cx;
    let writes = s.home.is_marked() && !dry_run;
    let cache = CatalogueCache::new(s.home.catalogues());
    let cache = if writes { cache } else { cache.read_only() };
    let (cat, accepted) = with_trust(s, |trust| {
        Ok::<_, anyhow::Error>(match &s.catalogue.location {
            // The cache lives in the home: a home that is not pyswap's yet (a dry run on a
            // fresh host, a read-only command) is not written into; the catalogue is fetched
            // directly.
            Location::Url(url) if s.home.is_marked() => {
                let (cat, freshness, accepted) =
                    cache.load(url, fetcher, s.catalogue.ttl, false, trust)?;
                if let Freshness::Stale { age, why } = freshness {
                    // Offline with a copy the TTL still covers is the normal case: a note, not
                    // a warning.
                    tell.tell(Event::CatalogueCopy {
                        url,
                        age,
                        why: &why,
                        expected: s.net.offline && age < s.catalogue.ttl,
                    });
                }
                (cat, accepted)
            }
            other => Catalogue::load(other, fetcher, platform, trust.map(|t| (&cache, t)))?,
        })
    })?;
    if writes && let Some(a) = &accepted {
        record_accepted(cx, a);
    }
    if !cat.warnings.is_empty() {
        tell.tell(Event::SkippedEntries(&cat.warnings));
    }
    Ok(cat)
}

/// Runs `f` with the trust catalogues are checked under: `None` without `[trust] keys`. The
/// versions already accepted come from the home's database, and the clock is the real one
/// (`PYSWAP_NOW` moves maintenance windows, never trust).
pub(crate) fn with_trust<R>(s: &Settings, f: impl FnOnce(Option<&Trust<'_>>) -> R) -> R {
    if s.trust.keys.is_empty() {
        return f(None);
    }
    let db = Db::open_home_read(&s.home).ok().flatten();
    let seen = |name: &str| {
        db.as_ref()
            .and_then(|db| db.trust_floor(name).ok().flatten())
            .unwrap_or(0)
    };
    f(Some(&Trust {
        keys: &s.trust.keys,
        names: &s.trust.names,
        seen: &seen,
        now: crate::ground::clock::now_unix(),
    }))
}

/// Records an accepted signature's version, the floor for later catalogues of that key and
/// name. A failure is a warning: the signature kept beside the cache holds the floor too.
pub(crate) fn record_accepted(cx: Ctx<'_>, a: &Accepted) {
    let Ctx { s, tell } = cx;
    let recorded = Db::open(&s.home.db()).and_then(|mut db| {
        db.record_trust(&crate::storage::db::TrustRow {
            key_id: a.key_id.clone(),
            name: a.comment.name.clone(),
            version: a.comment.version,
            expires: a.comment.expires,
            catalogue: crate::ground::secret::strip(&s.catalogue.location.to_string()),
            accepted: s.now,
        })
    });
    if let Err(e) = recorded {
        tell.tell(Event::SignatureNotRecorded(e.to_string()));
    }
}

/// The configured catalogue, or the store's own runtimes: for a build request the store has,
/// and, when a remote catalogue cannot be fetched, for a request a runtime already in the store
/// satisfies (with a warning).
pub(crate) fn catalogue_for(
    cx: Ctx<'_>,
    db: Option<&Db>,
    fetcher: &Fetcher,
    request: &Request,
    platform: &Platform,
    pre: bool,
    dry_run: bool,
) -> anyhow::Result<Catalogue> {
    let Ctx { s, tell } = cx;
    // A build request (`3.12.1+20260101`, typed back from what pyswap printed) names one
    // runtime: when the store has it, it is resolved there, with no catalogue and no network.
    if request.build().is_some()
        && let Some(db) = db
    {
        let installed = installed_catalogue(s, db)?;
        if resolve(s, &installed, request, platform, pre).is_ok() {
            return Ok(installed);
        }
    }
    // A full key may name another platform: load everything so the error can say so.
    let narrow = request.key().is_none().then_some(platform);
    match load_catalogue(cx, fetcher, narrow, dry_run) {
        Err(err)
            if matches!(
                err.downcast_ref::<CatalogueError>(),
                Some(CatalogueError::Fetch(_) | CatalogueError::NotCached { .. })
            ) =>
        {
            let Some(db) = db else { return Err(err) };
            let installed = installed_catalogue(s, db)?;
            if resolve(s, &installed, request, platform, pre).is_err() {
                return Err(err);
            }
            tell.tell(Event::ResolvingInstalled {
                why: format!("{err:#}"),
                request: request.to_string(),
            });
            Ok(installed)
        }
        other => other,
    }
}

/// The runtimes in the store, as a catalogue (for resolving while the real one is unreachable).
fn installed_catalogue(s: &Settings, db: &Db) -> anyhow::Result<Catalogue> {
    Ok(Catalogue {
        source: Location::Path(s.home.db()),
        entries: db
            .entries()?
            .iter()
            .filter_map(crate::domain::install::entry_of)
            .collect(),
        warnings: Vec::new(),
    })
}
