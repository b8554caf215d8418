//! `pyswap install REQUEST...`: put runtimes into the store without switching (pre-staging),
//! several downloads at once. Installed entries are marked staged so that `gc` keeps them until
//! a generation uses them.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;

use super::report::Teller;
use super::{Changes, Pre, Verb};
use crate::activation::Ctx;
use crate::catalogue::Entry;
use crate::domain::install::{self, Installed, Options, Origin};
use crate::ground::clock::now_unix;
use crate::ground::version::Request;
use crate::interface::output::{Outcome, Output};
use crate::interface::settings::Settings;
use crate::interface::settings::defs::Group;
use crate::network::fetch::Fetcher;
use crate::storage::db::Db;

#[derive(Serialize)]
struct Report {
    installed: Vec<Done>,
    failed: Vec<Failed>,
    /// Nothing was installed: `installed` lists what would be (`source`: `store` or `pending`).
    dry_run: bool,
}

#[derive(Serialize)]
struct Done {
    /// The request as given (the first one, when several resolve to one build).
    request: String,
    key: String,
    version: String,
    store_path: String,
    /// `store` (already there), `cache`, `file` or `network`.
    source: &'static str,
    downloaded_bytes: u64,
}

#[derive(Serialize)]
struct Failed {
    /// The request as given.
    request: String,
    /// The catalogue entry it resolved to; `null` when it did not resolve.
    key: Option<String>,
    error: String,
}

impl Done {
    fn of(request: &str, entry: &Entry, done: &Installed) -> Self {
        let (source, bytes) = match done.origin {
            Origin::Store => ("store", 0),
            Origin::Cache => ("cache", 0),
            Origin::File => ("file", 0),
            Origin::Network { transferred, .. } => ("network", transferred),
        };
        Self {
            request: request.to_owned(),
            key: entry.key.clone(),
            version: done.row.version.to_string(),
            store_path: done.path.display().to_string(),
            source,
            downloaded_bytes: bytes,
        }
    }
}

/// What happened to a runtime, for the person at the terminal.

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  pyswap install 3.11 3.12 3.13       pre-stage three runtimes (downloads run in parallel)
  pyswap install 3.12 --dry-run")]
pub(crate) struct Install {
    /// One or more requests, as for `switch`
    #[arg(required = true, value_name = "REQUEST")]
    requests: Vec<String>,
    #[command(flatten)]
    pre: Pre,
    /// How many downloads run at once
    #[arg(long, short, default_value_t = 4, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=32))]
    jobs: u64,
    /// Resolve each request and report what would be installed, changing nothing
    #[arg(long)]
    dry_run: bool,
}

impl Verb for Install {
    fn reads() -> &'static [Group] {
        Group::INSTALLING
    }

    fn changes(&self) -> Changes {
        Changes::state(!self.dry_run)
    }

    fn run(&self, s: &Settings, out: Output) -> anyhow::Result<Outcome> {
        run(
            s,
            out,
            &self.requests,
            self.pre.pre,
            self.jobs as usize,
            self.dry_run,
        )
    }
}

fn run(
    s: &Settings,
    out: Output,
    requests: &[String],
    pre: bool,
    jobs: usize,
    dry_run: bool,
) -> anyhow::Result<Outcome> {
    let tell = Teller::new(out, &s.home);
    let cx = Ctx { s, tell: &tell };
    let platform = s.platform()?;
    let fetcher = super::fetcher(s, out);
    let parsed: Vec<Result<Request, _>> = requests.iter().map(|r| Request::parse(r)).collect();
    let narrow = parsed
        .iter()
        .all(|r| r.as_ref().is_ok_and(|r| r.key().is_none()))
        .then_some(&platform);
    let catalogue = crate::activation::load_catalogue(cx, &fetcher, narrow, dry_run)?;
    let mut report = Report {
        installed: Vec::new(),
        failed: Vec::new(),
        dry_run,
    };
    // Each request on its own: one that does not resolve is reported, the others install.
    let mut resolved: Vec<(&String, Entry)> = Vec::new();
    let mut unresolved: Option<anyhow::Error> = None;
    for (text, r) in requests.iter().zip(parsed) {
        let entry = r
            .map_err(anyhow::Error::from)
            .and_then(|r| crate::activation::resolve(s, &catalogue, &r, &platform, pre));
        match entry {
            Ok(e) if resolved.iter().any(|(_, x)| x.key == e.key) => {}
            Ok(e) => resolved.push((text, e)),
            Err(e) => {
                // A single request's refusal is the command's error, printed once.
                if requests.len() > 1 {
                    out.warn(&format!("{text}: {e:#}"));
                }
                report.failed.push(Failed {
                    request: text.clone(),
                    key: None,
                    error: format!("{e:#}"),
                });
                unresolved.get_or_insert(e);
            }
        }
    }
    let entries: Vec<&Entry> = resolved.iter().map(|(_, e)| e).collect();
    if dry_run {
        plan(s, out, &resolved, &mut report)?;
        return finish(&report, requests.len(), unresolved);
    }
    let mut db = crate::storage::db::Db::open_home(&s.home)?;
    let _gc = super::gc_shared_lock(s, out)?;
    let cache = s.download_cache();
    let opts = s.install_options(&cache);
    let results = install_all(s, out, &fetcher, &entries, &opts, jobs);
    for (i, r) in results {
        let (request, entry) = (resolved[i].0, entries[i]);
        match r {
            Ok(done) => {
                db.mark_staged(done.row.id, now_unix())?;
                crate::ground::crash::point("install:staged");
                report.installed.push(Done::of(request, entry, &done));
            }
            Err(e) => {
                report.failed.push(Failed {
                    request: request.clone(),
                    key: Some(entry.key.clone()),
                    error: format!("{e:#}"),
                });
                // A single runtime's failure is the command's error, printed once.
                if requests.len() > 1 {
                    out.warn(&format!("{}: {e:#}", entry.key));
                } else {
                    unresolved.get_or_insert(e);
                }
            }
        }
    }
    finish(&report, requests.len(), unresolved)
}

/// The report of a dry run: what is in the store already, what would be installed.
fn plan(
    s: &Settings,
    out: Output,
    resolved: &[(&String, Entry)],
    report: &mut Report,
) -> anyhow::Result<()> {
    let db = crate::storage::db::Db::open_home_read(&s.home)?;
    for (request, entry) in resolved {
        let plan = crate::activation::plan(s, db.as_ref(), entry)?;
        let (source, how) = match &plan.store_path {
            Some(_) => ("store", "already in the store"),
            None => ("pending", "would be installed"),
        };
        out.say(&format!(
            "{}: {how} (dry run: nothing was changed)",
            entry.key
        ));
        report.installed.push(Done {
            request: (*request).clone(),
            key: entry.key.clone(),
            version: entry.version.to_string(),
            store_path: plan.store_path.unwrap_or_default(),
            source,
            downloaded_bytes: 0,
        });
    }
    Ok(())
}

/// Sets the document; fails when any request failed.
fn finish(
    report: &Report,
    requests: usize,
    unresolved: Option<anyhow::Error>,
) -> anyhow::Result<Outcome> {
    let outcome = Outcome::of(report)?;
    // A single request that did not resolve or install fails with its own error (and help).
    if let (1, Some(e)) = (requests, unresolved) {
        return Err(outcome.failed(e));
    }
    match report.failed.len() {
        0 => Ok(outcome),
        n => Err(outcome.failed(install::InstallError::Some {
            failed: n,
            total: n + report.installed.len(),
            first: report.failed[0].error.clone(),
        })),
    }
}

/// Installs `entries` on up to `jobs` threads, each with its own database connection;
/// results in `entries` order.
fn install_all(
    s: &Settings,
    out: Output,
    fetcher: &Fetcher,
    entries: &[&Entry],
    opts: &Options,
    jobs: usize,
) -> Vec<(usize, anyhow::Result<Installed>)> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, anyhow::Result<Installed>)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(entries.len()) {
            scope.spawn(|| {
                let mut db = match Db::open(&s.home.db()) {
                    Ok(db) => db,
                    Err(e) => {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        if i < entries.len() {
                            push(&results, i, Err(e.into()));
                        }
                        return;
                    }
                };
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(entry) = entries.get(i) else { break };
                    let started = std::time::Instant::now();
                    let r = install::ensure(
                        &s.home,
                        &mut db,
                        fetcher,
                        entry,
                        opts,
                        || out.progress(&entry.key),
                        &|note| out.say(note),
                    );
                    if let Ok(done) = &r {
                        out.say(&done.said(&entry.key, started.elapsed()));
                    }
                    push(&results, i, r);
                }
            });
        }
    });
    let mut results = results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    results.sort_by_key(|(i, _)| *i);
    results
}

fn push(
    results: &Mutex<Vec<(usize, anyhow::Result<Installed>)>>,
    i: usize,
    r: anyhow::Result<Installed>,
) {
    results
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push((i, r));
}
