//! `pyswap upgrade`: the newest patch release of the profile's current minor version (same
//! variant) that the version policy admits, through the same validation, health check and
//! automatic rollback as `switch`. A no-op that says so when the profile is already there (and
//! then it runs even outside a maintenance window).

use super::report::Teller;
use super::{Changes, CommandError, Force, Verb};
use crate::activation;
use crate::activation::ActivationError;
use crate::activation::Ctx;
use crate::catalogue::Entry;
use crate::ground::version::{Request, label};
use crate::interface::output::{Outcome, Output};
use crate::interface::settings::Settings;
use crate::interface::settings::defs::Group;
use crate::storage::db::{EntryRow, GenerationRow};
use crate::storage::profile::Profiles;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  pyswap upgrade                      newest patch of the current minor version
  pyswap upgrade --dry-run --json     what a rollout would do on this host")]
pub(crate) struct Upgrade {
    #[command(flatten)]
    force: Force,
    /// Report what would happen (the same document and exit status), changing nothing
    #[arg(long)]
    dry_run: bool,
}

impl Verb for Upgrade {
    fn reads() -> &'static [Group] {
        Group::INSTALLING
    }

    fn changes(&self) -> Changes {
        Changes::attempt("upgrade", self.dry_run)
    }

    fn run(&self, s: &Settings, out: Output) -> anyhow::Result<Outcome> {
        run(s, out, self.force, self.dry_run)
    }
}

fn run(s: &Settings, out: Output, force: Force, dry_run: bool) -> anyhow::Result<Outcome> {
    let tell = Teller::new(out, &s.home);
    let cx = Ctx { s, tell: &tell };
    let mut gate = force.gate(s, out);
    let fetcher = super::fetcher(s, out);
    let (g, row, request, newest) = gate.found(newest(s, out, &fetcher, dry_run))?;
    let version = Some(row.version.clone())
        .ok_or_else(|| ActivationError::EntryMissing(g.entry_name.clone()))?;
    let same = newest.key == row.catalogue_key && newest.build == row.build;
    if same || (&newest.version, &newest.build) < (&version, &row.build) {
        out.say(&format!(
            "profile `{}` is already at the newest CPython {}.{} the catalogue and policy allow ({}, generation {}); nothing changed",
            s.profile,
            version.major(),
            version.minor(),
            row.label(),
            g.number
        ));
        let path = crate::storage::store::Store::new(s.home.store()).path(&g.entry_name);
        let mut doc = activation::Switched::unchanged(&s.profile, &g, &path);
        doc.dry_run = dry_run;
        return Outcome::of(&doc);
    }
    gate.pass(true)?;
    if dry_run {
        let db = crate::storage::db::Db::open_home_read(&s.home)?;
        let plan = activation::plan(s, db.as_ref(), &newest)?;
        return tell.switched(&plan.document(cx, &newest, db.as_ref()));
    }
    out.say(&format!(
        "upgrading profile `{}`: CPython {} -> {}",
        s.profile,
        row.label(),
        label(
            &newest.version.to_string(),
            newest.variant_name(),
            newest.build.as_deref()
        )
    ));
    let mut db = crate::storage::db::Db::open_existing_home(&s.home)?;
    let _gc = super::gc_shared_lock(s, out)?;
    let done = activation::activate(
        cx,
        &mut db,
        &fetcher,
        &newest,
        &request.to_string(),
        "upgrade",
    )?;
    tell.switched(&done)
}

/// The current generation, its entry, the request for its minor version, and the newest build
/// that request resolves to.
fn newest(
    s: &Settings,
    out: Output,
    fetcher: &crate::network::fetch::Fetcher,
    dry_run: bool,
) -> anyhow::Result<(GenerationRow, EntryRow, Request, Entry)> {
    let tell = Teller::new(out, &s.home);
    let cx = Ctx { s, tell: &tell };
    let no_current = || CommandError::NoCurrent(s.profile.clone());
    let db = crate::storage::db::Db::open_home_read(&s.home)?.ok_or_else(no_current)?;
    let profiles = Profiles::new(s.home.profiles());
    let n = profiles.current(&s.profile)?.ok_or_else(no_current)?;
    let g = super::error::generation(s, &db, n)?;
    let row = db
        .entry_by_name(&g.entry_name)?
        .ok_or_else(|| ActivationError::EntryMissing(g.entry_name.clone()))?;
    let version = &row.version;
    let suffix = if row.variant.name().is_empty() {
        String::new()
    } else {
        format!("+{}", row.variant.name())
    };
    let request = Request::parse(&format!("{}.{}{suffix}", version.major(), version.minor()))?;
    let platform = s.platform()?;
    let catalogue = crate::activation::catalogue_for(
        cx,
        Some(&db),
        fetcher,
        &request,
        &platform,
        false,
        dry_run,
    )?;
    let newest = activation::resolve(s, &catalogue, &request, &platform, false)?;
    Ok((g, row, request, newest))
}
