//! `pyswap switch [REQUEST]`: resolve within the version policy, install if needed, validate,
//! record a generation, activate it, then health-check it through the profile path and roll
//! back automatically if that fails. [`activate`] is shared with `upgrade`.

use serde::Serialize;

use super::CommandError;
use crate::catalog::{CatalogError, Catalogue, Entry, Location};
use crate::crash;
use crate::db::{Db, GenerationRow, ValidationRow};
use crate::fetch::Fetcher;
use crate::install::{self, Installed};
use crate::output::{now_unix, rfc3339};
use crate::platform::Platform;
use crate::policy;
use crate::profile::{CurrentLink, Profiles};
use crate::settings::Settings;
use crate::validate::{self, Expected, Phase, Report};
use crate::version::Request;

#[derive(Serialize)]
pub(super) struct Switched {
    profile: String,
    generation: u64,
    /// The generation that was current before, if any.
    previous: Option<u64>,
    version: String,
    store_path: String,
    installed: bool,
    changed: bool,
    /// `install` (validated as it was unpacked), `activate` (validated now), `stored` (an
    /// earlier passing run under the same policy), or `null` when nothing changed.
    validated: Option<&'static str>,
    /// The post-switch health check: `true`, or `null` when disabled or nothing changed.
    health_check: Option<bool>,
    created: String,
    /// The profile's stable path for this minor version (`profiles/<p>@3.12`), made from.
    minor_path: Option<String>,
    /// Set when the switch moved the profile to another minor version (or variant): venvs made
    /// from the profile path stop working; see [`MinorChange`].
    minor_change: Option<MinorChange>,
    /// Running processes that still use the previous generation's runtime (they keep it until
    /// they exit; `pyswap ps` lists them); `null` when nothing changed.
    previous_runtime_processes: Option<u64>,
    /// Links that were missing or altered and were put back (`current`, `generation N`).
    repaired: Vec<String>,
}

/// A change of minor version (or variant) of a profile.
#[derive(Serialize, Clone)]
pub(super) struct MinorChange {
    from: String,
    to: String,
    /// Where venvs that must stay on `from` are made from.
    from_path: String,
}

pub fn run(s: &Settings, request: Option<&str>, pre: bool, force: bool) -> anyhow::Result<()> {
    let request = if let Some(r) = request {
        r.to_owned()
    } else {
        let cwd = std::env::current_dir()?;
        let (r, file) =
            policy::python_version_file(&cwd)?.ok_or(policy::PythonVersionError::Missing(cwd))?;
        s.out.say(&format!("using `{r}` from {}", file.display()));
        r
    };
    let request = Request::parse(&request)?;
    super::within_window(s, force)?;
    let platform = s.platform()?;
    let mut db = super::open_rw(s)?;
    let _gc = super::gc_shared(s)?;
    let fetcher = s.fetcher();
    let catalogue = catalogue_for(s, &db, &fetcher, &request, &platform, pre)?;
    let entry = super::resolve(s, &catalogue, &request, &platform, pre)?;
    let done = activate(s, &mut db, &fetcher, &entry, &request.to_string(), "switch")?;
    done.report(s)
}

impl Switched {
    /// The document for a profile left at generation `g`.
    pub(super) fn unchanged(
        profile: &str,
        g: &GenerationRow,
        store_path: &std::path::Path,
    ) -> Self {
        Self {
            profile: profile.to_owned(),
            generation: g.number,
            previous: Some(g.number),
            version: g.version.clone(),
            store_path: store_path.display().to_string(),
            installed: false,
            changed: false,
            validated: None,
            health_check: None,
            created: rfc3339(g.created),
            minor_path: None,
            minor_change: None,
            previous_runtime_processes: None,
            repaired: Vec::new(),
        }
    }

    pub(super) fn report(&self, s: &Settings) -> anyhow::Result<()> {
        let how = if self.installed {
            "installed and validated"
        } else {
            "already in the store"
        };
        for what in &self.repaired {
            s.out.warn(&format!(
                "profile `{}`: {what} was missing or altered; put back",
                self.profile
            ));
        }
        if self.changed {
            s.out.say(&format!(
                "switched profile `{}` to generation {}: CPython {} ({how})",
                self.profile, self.generation, self.version
            ));
            if let Some(c) = &self.minor_change {
                c.warn(s, &self.profile);
            }
            if let Some(n) = self.previous_runtime_processes.filter(|&n| n > 0) {
                say_still_running(s, n, self.previous.unwrap_or_default());
            }
        } else {
            s.out.say(&format!(
                "profile `{}` is already at CPython {} (generation {}); nothing changed",
                self.profile, self.version, self.generation
            ));
        }
        s.out.json(self)
    }
}

/// Installs `entry` if needed, validates it under the policy, records and activates a new
/// generation (unless the profile already uses the entry), then runs the health check.
pub(super) fn activate(
    s: &Settings,
    db: &mut Db,
    fetcher: &Fetcher,
    entry: &Entry,
    request: &str,
    command: &str,
) -> anyhow::Result<Switched> {
    let cache = s.download_cache();
    let opts = s.install_options(&cache);
    let installed = install::ensure(
        &s.home,
        db,
        fetcher,
        entry,
        &opts,
        || s.out.progress(&entry.key),
        &|note| s.out.say(note),
    )?;
    crash::point("switch:installed");
    let expected = Expected::of(entry).with_digest(&installed.row.tree_digest);

    let _profile = super::profile_lock(s)?;
    let profiles = Profiles::new(s.home.profiles());
    profiles.migrate(&s.profile)?;
    let mut repaired = Vec::new();
    let current = match profiles.current_link(&s.profile) {
        CurrentLink::Generation(n) => db.generation(&s.profile, n)?,
        CurrentLink::Missing => None,
        CurrentLink::Foreign(what) | CurrentLink::Broken(what) => {
            repaired.push(format!("the current link (it was `{what}`)"));
            None
        }
    };
    if let Some(g) = current.as_ref().filter(|g| g.entry_id == installed.row.id) {
        return already_current(s, db, &profiles, &installed, &expected, g, repaired);
    }
    let (validation, validated) = validated_report(s, db, &installed, &expected)?;
    let row = GenerationRow {
        profile: s.profile.clone(),
        number: 0,
        entry_id: installed.row.id,
        entry_name: installed.row.name.clone(),
        version: installed.row.version.clone(),
        request: request.to_owned(),
        command: command.into(),
        created: now_unix(),
        variant: installed.row.variant.clone(),
        build: installed.row.build.clone(),
    };
    let n = db.add_generation(&row, |n| {
        profiles
            .write_generation(&s.profile, n, &installed.row.name)
            .map_err(|e| e.to_string())
    })?;
    crash::point("switch:generation-committed");
    record(db, installed.row.id, &s.profile, Some(n), &validation)?;
    super::make_current(s, &profiles, n)?;
    crash::point("switch:activated");
    db.unstage(installed.row.id)?;
    let previous = current.as_ref().map(|g| g.number);
    let health_check = if s.validation.health_check {
        health_or_restore(s, db, &profiles, &installed, &expected, n, current.as_ref())?;
        crash::timing("switch:health-checked");
        Some(true)
    } else {
        None
    };
    let new = GenerationRow { number: n, ..row };
    // Unsynced: a crash that loses this rename leaves the minor path on an older generation of
    // the same minor version, which is as valid (and pinned); the next link change syncs it.
    let minor_path = super::set_minor_link(&profiles, &new, false)?;
    let previous_runtime_processes = current
        .as_ref()
        .filter(|g| g.entry_id != new.entry_id)
        .map(|g| super::processes_using(s, &g.entry_name));
    Ok(Switched {
        profile: s.profile.clone(),
        generation: n,
        previous,
        minor_change: MinorChange::between(&profiles, current.as_ref(), &new),
        version: new.version,
        store_path: installed.path.display().to_string(),
        installed: installed.fresh,
        changed: true,
        validated: Some(validated),
        health_check,
        created: rfc3339(new.created),
        minor_path,
        previous_runtime_processes,
        repaired,
    })
}

impl MinorChange {
    /// The change from `from` to `to`, if their minor versions (or variants) differ.
    pub(super) fn between(
        profiles: &Profiles,
        from: Option<&GenerationRow>,
        to: &GenerationRow,
    ) -> Option<Self> {
        let from = from?;
        let (a, b) = (from.minor()?, to.minor()?);
        (a != b).then(|| Self {
            from_path: profiles.minor_path(&from.profile, &a).display().to_string(),
            from: a,
            to: b,
        })
    }

    pub(super) fn warn(&self, s: &Settings, profile: &str) {
        s.out.warn(&format!(
            "profile `{profile}` moved from Python {} to {}: venvs made from {} no longer work \
             (their packages are built for {}); make venvs that must stay on {} from {}/bin/python3, \
             which follows only {}.x",
            self.from,
            self.to,
            s.home.profiles().join(profile).join("bin").display(),
            self.from,
            self.from,
            self.from_path,
            self.from
        ));
    }
}

/// Tells how many running processes still use generation `previous`'s runtime.
pub(super) fn say_still_running(s: &Settings, n: u64, previous: u64) {
    s.out.say(&format!(
        "{n} running process{} still use{} the runtime of generation {previous} and keep{} it until \
         {} exit; `pyswap ps` lists them",
        if n == 1 { "" } else { "es" },
        if n == 1 { "s" } else { "" },
        if n == 1 { "s" } else { "" },
        if n == 1 { "it" } else { "they" },
    ));
}

/// The profile already uses the requested entry: idempotent means "make it so", so the
/// generation directory and the minor link are put back if something removed or redirected
/// them, and a health check that a killed switch never ran is run now.
fn already_current(
    s: &Settings,
    db: &mut Db,
    profiles: &Profiles,
    installed: &Installed,
    expected: &Expected,
    g: &GenerationRow,
    mut repaired: Vec<String>,
) -> anyhow::Result<Switched> {
    // Idempotent means "make it so": the generation directory and the links are put back
    // if something removed or redirected them.
    repaired.extend(super::ensure_links(profiles, g)?);
    // A switch killed between the swap and its health check left this generation current
    // unchecked (or checked and failed, not yet undone): finish that switch's work now.
    let checked = db
        .latest_validation(&s.profile, g.number)?
        .is_some_and(|v| v.ok && v.phase == Phase::Health.as_str());
    if s.validation.health_check && !checked {
        let fallback = last_good_before(db, &s.profile, g.number)?;
        health_or_restore(
            s,
            db,
            profiles,
            installed,
            expected,
            g.number,
            fallback.as_ref(),
        )?;
    }
    let minor_link = g.minor().map(|m| profiles.minor_path(&s.profile, &m));
    let pointed = minor_link
        .as_ref()
        .and_then(|l| std::fs::read_link(l).ok())
        .is_some_and(|t| {
            Some(t.as_path())
                == profiles
                    .generation_path(&s.profile, g.number)
                    .file_name()
                    .map(std::path::Path::new)
        });
    let mut done = Switched::unchanged(&s.profile, g, &installed.path);
    done.minor_path = super::set_minor_link(profiles, g, true)?;
    if minor_link.is_some() && !pointed {
        repaired.push("the minor link".into());
    }
    done.repaired = repaired;
    Ok(done)
}

/// Runs the health check of generation `n` (current) through the profile path and records it;
/// on failure puts the profile back at `previous` (or at no runtime) and fails naming both.
fn health_or_restore(
    s: &Settings,
    db: &mut Db,
    profiles: &Profiles,
    installed: &Installed,
    expected: &Expected,
    n: u64,
    previous: Option<&GenerationRow>,
) -> anyhow::Result<()> {
    let python = profiles.profile_path(&s.profile).join("bin/python3");
    let report = validate::health(&python, &installed.path, expected, &s.validation);
    record(db, installed.row.id, &s.profile, Some(n), &report)?;
    if report.ok {
        return Ok(());
    }
    let restored = restore(s, profiles, previous)?;
    Err(CommandError::HealthFailed {
        generation: n,
        summary: report.summary(),
        restored,
    }
    .into())
}

/// The newest generation before `n` whose last validation did not fail: where an unfinished
/// switch to `n` goes back to when its health check fails on the re-run (the generation it
/// came from is not recorded).
fn last_good_before(db: &Db, profile: &str, n: u64) -> anyhow::Result<Option<GenerationRow>> {
    let latest = db.latest_validations(profile)?;
    Ok(db
        .generations(profile)?
        .into_iter()
        .rfind(|g| g.number < n && latest.get(&g.number).is_none_or(|v| v.ok)))
}

/// The pre-activation verdict: the install's own run when the entry was just unpacked, a stored
/// passing run under the same policy, or a new run now. A failure is recorded and returned.
fn validated_report(
    s: &Settings,
    db: &mut Db,
    installed: &Installed,
    expected: &Expected,
) -> anyhow::Result<(Report, &'static str)> {
    let fingerprint = s.validation.fingerprint();
    let stored = |json: &str| serde_json::from_str::<Report>(json).ok();
    if installed.fresh
        && let Some(r) = stored(&installed.row.validation)
    {
        return Ok((r, "install"));
    }
    if let Some(r) = db
        .validated(installed.row.id, &fingerprint)?
        .as_deref()
        .and_then(stored)
    {
        return Ok((r, "stored"));
    }
    let report = validate::validate(&installed.path, expected, &s.validation, Phase::Activate);
    record(db, installed.row.id, &s.profile, None, &report)?;
    Ok((report.into_result()?, "activate"))
}

/// Stores a validation run for the entry (and the generation, once there is one).
pub(super) fn record(
    db: &mut Db,
    entry_id: i64,
    profile: &str,
    generation: Option<u64>,
    report: &Report,
) -> anyhow::Result<()> {
    db.record_validation(&ValidationRow {
        entry_id,
        profile: generation.map(|_| profile.to_owned()),
        generation,
        phase: report.phase.as_str().into(),
        policy: report.policy.clone(),
        ok: report.ok,
        report: serde_json::to_string(report)?,
        created: now_unix(),
    })?;
    Ok(())
}

/// Puts the profile back where it was before a failed health check; says where.
fn restore(
    s: &Settings,
    profiles: &Profiles,
    previous: Option<&GenerationRow>,
) -> anyhow::Result<String> {
    let Some(g) = previous else {
        profiles.deactivate(&s.profile)?;
        crash::point("switch:rolled-back");
        return Ok(format!(
            "no runtime (profile `{}` had none before)",
            s.profile
        ));
    };
    super::ensure_links(profiles, g)?;
    super::make_current(s, profiles, g.number)?;
    crash::point("switch:rolled-back");
    Ok(format!("generation {} (CPython {})", g.number, g.version))
}

/// The configured catalogue, or, when a remote one cannot be fetched and the request is
/// satisfied by a runtime already in the store, the store's own runtimes (with a warning).
pub(super) fn catalogue_for(
    s: &Settings,
    db: &Db,
    fetcher: &Fetcher,
    request: &Request,
    platform: &Platform,
    pre: bool,
) -> anyhow::Result<Catalogue> {
    // A full key may name another platform: load everything so the error can say so.
    let narrow = request.key().is_none().then_some(platform);
    match super::load_catalogue(s, fetcher, narrow) {
        Err(err)
            if matches!(
                err.downcast_ref::<CatalogError>(),
                Some(CatalogError::Fetch(_) | CatalogError::NotCached { .. })
            ) =>
        {
            let installed = installed_catalogue(s, db)?;
            if super::resolve(s, &installed, request, platform, pre).is_err() {
                return Err(err);
            }
            s.out.warn(&format!(
                "{err:#}; resolving `{request}` among the runtimes already installed"
            ));
            Ok(installed)
        }
        other => other,
    }
}

/// The runtimes in the store, as a catalogue (for resolving while the real one is unreachable).
fn installed_catalogue(s: &Settings, db: &Db) -> anyhow::Result<Catalogue> {
    Ok(Catalogue {
        source: Location::Path(s.home.db()),
        entries: db.entries()?.iter().filter_map(install::entry_of).collect(),
        warnings: Vec::new(),
    })
}
