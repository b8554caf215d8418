//! `pyswap metrics`: the metrics for fleet dashboards (see `metrics`), on stdout.

use super::{Changes, Verb};
use crate::interface::output::{Outcome, Output};
use crate::interface::settings::Settings;
use crate::interface::settings::defs::Group;
use crate::storage::db::Db;

#[derive(Debug, clap::Args)]
pub(crate) struct Metrics {}

impl Verb for Metrics {
    fn reads() -> &'static [Group] {
        &[]
    }

    fn changes(&self) -> Changes {
        Changes::NOTHING
    }

    fn run(&self, s: &Settings, out: Output) -> anyhow::Result<Outcome> {
        let db = Db::open_home_read(&s.home)?;
        let text = crate::interface::metrics::render(s, db.as_ref())?;
        out.data(&text)?;
        Outcome::of(&serde_json::json!({ "text": text }))
    }
}
