//! `pyswap catalogue update`: fetch the configured remote catalogue now.

use serde::Serialize;

use super::CommandError;
use crate::catalogue::Location;
use crate::catalogue::cache::{CatalogueCache, Freshness, human_age};
use crate::settings::Settings;

#[derive(Serialize)]
struct Updated<'a> {
    catalogue: String,
    /// `downloaded`, `unchanged`, or `not-remote`.
    status: &'a str,
    entries: usize,
}

pub fn update(s: &Settings) -> anyhow::Result<()> {
    let Location::Url(url) = &s.catalogue else {
        s.out.say(&format!(
            "catalogue {} is not fetched from a URL; nothing to update",
            s.catalogue
        ));
        return s.out.json(&Updated {
            catalogue: s.catalogue.to_string(),
            status: "not-remote",
            entries: 0,
        });
    };
    let cache = CatalogueCache::new(s.home.catalogues());
    let (cat, freshness) = cache.load(url, &s.fetcher(), s.catalogue_ttl, true)?;
    s.out.warn_all(&cat.warnings);
    let status = match freshness {
        Freshness::Downloaded => "downloaded",
        Freshness::Unchanged | Freshness::Fresh { .. } => "unchanged",
        Freshness::Stale { age, why } => {
            return Err(CommandError::CatalogueUpdate {
                why,
                age: human_age(age),
            }
            .into());
        }
    };
    s.out.say(&format!(
        "catalogue {url}: {status}, {} entries",
        cat.entries.len()
    ));
    s.out.json(&Updated {
        catalogue: url.clone(),
        status,
        entries: cat.entries.len(),
    })
}
