//! `pyswap catalogue update`: fetch the configured remote catalogue now.

use serde::Serialize;

use super::{Changes, CommandError, Verb};
use crate::network::catalogue::Location;
use crate::network::catalogue::cache::{CatalogueCache, Freshness, human_age};
use crate::output::Outcome;
use crate::settings::Settings;

#[derive(Serialize)]
struct Updated<'a> {
    catalogue: String,
    /// `downloaded`, `unchanged`, or `not-remote`.
    status: &'a str,
    entries: usize,
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum CatalogueCommand {
    /// Fetch the configured catalogue now (a conditional request when a copy is cached)
    Update,
}

impl Verb for CatalogueCommand {
    fn changes(&self) -> Changes {
        match self {
            // The cached copy is not something the metrics show.
            Self::Update => Changes::NOTHING,
        }
    }

    fn run(&self, s: &Settings) -> anyhow::Result<Outcome> {
        match self {
            Self::Update => update(s),
        }
    }
}

fn update(s: &Settings) -> anyhow::Result<Outcome> {
    let Location::Url(url) = &s.catalogue else {
        s.out.say(&format!(
            "catalogue {} is not fetched from a URL; nothing to update",
            s.catalogue
        ));
        return Outcome::of(&Updated {
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
    Outcome::of(&Updated {
        catalogue: url.clone(),
        status,
        entries: cat.entries.len(),
    })
}
