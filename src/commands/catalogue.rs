//! `pyswap catalogue update`: fetch the configured remote catalogue now.

use serde::Serialize;

use super::report::Teller;
use super::{Changes, CommandError, Verb};
use crate::activation::Ctx;
use crate::catalogue::Location;
use crate::catalogue::cache::{CatalogueCache, Freshness, human_age};
use crate::interface::output::{Outcome, Output};
use crate::interface::settings::Settings;
use crate::interface::settings::defs::Group;

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
    /// Sign a catalogue file with a minisign secret key (for a key kept off the mirror host):
    /// writes FILE.minisig
    Sign {
        /// The catalogue to sign (`download-metadata.json` copied from the mirror)
        file: std::path::PathBuf,
        /// The minisign secret key (an encrypted one's password from `PYSWAP_SIGN_PASSWORD` or the
        /// terminal)
        #[arg(long, value_name = "KEY")]
        key: std::path::PathBuf,
        #[command(flatten)]
        sign: super::Signature,
    },
}

impl Verb for CatalogueCommand {
    fn reads() -> &'static [Group] {
        &[Group::Catalogue, Group::Network]
    }

    // Takes the download cache's bound, as every command that reaches the network does.
    fn accepts() -> &'static [Group] {
        &[Group::Catalogue, Group::Network, Group::Cache]
    }

    fn changes(&self) -> Changes {
        match self {
            // The cached copy is not something the metrics show.
            Self::Update | Self::Sign { .. } => Changes::NOTHING,
        }
    }

    fn run(&self, s: &Settings, out: Output) -> anyhow::Result<Outcome> {
        match self {
            Self::Update => update(s, out),
            Self::Sign { file, key, sign } => {
                let (sig, comment) = crate::catalogue::trust::sign_file(file, &sign.with(key))?;
                out.say(&format!("wrote {} ({})", sig.display(), comment.text()));
                Outcome::of(&serde_json::json!({
                    "signature": sig.display().to_string(),
                    "version": comment.version,
                    "name": comment.name,
                    "expires": crate::ground::clock::rfc3339(comment.expires),
                }))
            }
        }
    }
}

fn update(s: &Settings, out: Output) -> anyhow::Result<Outcome> {
    let tell = Teller::new(out, &s.home);
    let cx = Ctx { s, tell: &tell };
    let Location::Url(url) = &s.catalogue.location else {
        out.say(&format!(
            "catalogue {} is not fetched from a URL; nothing to update",
            s.catalogue.location
        ));
        return Outcome::of(&Updated {
            catalogue: s.catalogue.location.to_string(),
            status: "not-remote",
            entries: 0,
        });
    };
    let cache = CatalogueCache::new(s.home.catalogues());
    let (cat, freshness, accepted) = crate::activation::with_trust(s, |trust| {
        cache.load(url, &super::fetcher(s, out), s.catalogue.ttl, true, trust)
    })?;
    if let Some(a) = &accepted {
        crate::activation::record_accepted(cx, a);
    }
    out.warn_all(&cat.warnings);
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
    out.say(&format!(
        "catalogue {url}: {status}, {} entries",
        cat.entries.len()
    ));
    Outcome::of(&Updated {
        catalogue: url.clone(),
        status,
        entries: cat.entries.len(),
    })
}
