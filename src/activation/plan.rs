//! What an activation would do, decided before anything changes: the document of a
//! `--dry-run`, and whether a command changes nothing (then it runs even outside a maintenance
//! window, so that re-running a rollout on a converged fleet succeeds).

use super::{Ctx, Event, MinorChange, Switched};
use crate::catalogue::Entry;
use crate::ground::clock::{now_unix, rfc3339};
use crate::interface::settings::Settings;
use crate::storage::db::{Db, GenerationRow};
use crate::storage::profile::Profiles;
use crate::storage::store::Store;

/// The profile's state against one resolved runtime.
pub(crate) struct Plan {
    pub(crate) current: Option<GenerationRow>,
    /// The profile already runs this runtime (the same catalogue key and archive digest).
    pub(crate) unchanged: bool,
    /// The store path of the runtime, when it is installed already.
    pub(crate) store_path: Option<String>,
    /// Its store entry, when it is installed already.
    pub(crate) entry_name: Option<String>,
    /// The number a new generation would get.
    pub(crate) next: u64,
}

/// Reads (never writes) what switching the profile to `entry` would do; `db` is `None` when
/// nothing was ever installed.
pub(crate) fn plan(s: &Settings, db: Option<&Db>, entry: &Entry) -> anyhow::Result<Plan> {
    let Some(db) = db else {
        return Ok(Plan {
            current: None,
            unchanged: false,
            store_path: None,
            entry_name: None,
            next: 1,
        });
    };
    let profiles = Profiles::new(s.home.profiles());
    let current = match profiles.current(&s.profile).ok().flatten() {
        Some(n) => db.generation(&s.profile, n)?,
        None => None,
    };
    let same = |key: &str, sha: &str| key == entry.key && Some(sha) == entry.sha256.as_deref();
    let installed = db
        .entries()?
        .into_iter()
        .find(|e| same(&e.catalogue_key, &e.archive_sha256));
    let unchanged = match (&current, &installed) {
        (Some(g), Some(e)) => g.entry_name == e.name,
        _ => false,
    };
    Ok(Plan {
        unchanged,
        store_path: installed.as_ref().map(|e| {
            Store::new(s.home.store())
                .path(&e.name)
                .display()
                .to_string()
        }),
        entry_name: installed.map(|e| e.name),
        next: db.next_generation(&s.profile)?,
        current,
    })
}

impl Plan {
    /// The `switch`/`upgrade` document this plan would produce, marked `dry_run`, with what the
    /// switch would do to running processes and registered venvs (`db`: the home's database,
    /// `None` when nothing was ever installed).
    pub(crate) fn document(&self, cx: Ctx<'_>, entry: &Entry, db: Option<&Db>) -> Switched {
        let s = cx.s;
        let previous = self.current.as_ref().map(|g| g.number);
        let minor = entry.minor().unwrap_or_default();
        let effects = match db {
            Some(db) if !self.unchanged => Effects::of(
                cx,
                db,
                self.current.as_ref(),
                Target {
                    entry: self.entry_name.as_deref(),
                    key: &entry.key,
                    minor: &minor,
                    version: &entry.version.to_string(),
                },
                true,
            ),
            _ => Effects::default(),
        };
        Switched {
            profile: s.profile.clone(),
            generation: if self.unchanged {
                previous.unwrap_or(self.next)
            } else {
                self.next
            },
            previous,
            version: entry.version.to_string(),
            build: entry.build.clone(),
            variant: entry.variant_name().to_owned(),
            older_than_build: older_build(
                self.current.as_ref(),
                &entry.version.to_string(),
                entry.variant_name(),
                entry.build.as_deref(),
            ),
            key: entry.key.clone(),
            store_path: self.store_path.clone().unwrap_or_default(),
            installed: self.store_path.is_none(),
            changed: !self.unchanged,
            validated: None,
            health_check: None,
            created: rfc3339(now_unix()),
            minor_path: None,
            // The risk a dry run is run for: a minor change breaks venvs made from the profile.
            minor_change: if self.unchanged {
                None
            } else {
                MinorChange::towards(
                    &Profiles::new(s.home.profiles()),
                    self.current.as_ref(),
                    entry.minor(),
                )
            },
            previous_runtime_processes: effects.previous_runtime_processes,
            following_venv_processes: effects.following,
            venvs: effects.venvs,
            repaired: Vec::new(),
            dry_run: true,
        }
    }
}

/// The runtime a dry run would make current.
#[derive(Clone, Copy)]
pub(crate) struct Target<'a> {
    /// Its store entry, `None` when it is not installed yet.
    pub(crate) entry: Option<&'a str>,
    pub(crate) key: &'a str,
    pub(crate) minor: &'a str,
    pub(crate) version: &'a str,
}

/// What making a runtime current would do beyond the profile: the processes on the runtime it
/// leaves (they keep it), those of venvs that follow the profile's paths, and each registered
/// venv's move, its check run read-only.
#[derive(Default)]
pub(crate) struct Effects {
    pub(crate) previous_runtime_processes: Option<u64>,
    pub(crate) following: Vec<super::Following>,
    pub(crate) venvs: Vec<crate::domain::venv::Update>,
}

impl Effects {
    /// `check_returns`: a venv going back to a runtime it ran on is checked too (rollback
    /// passes `false`, as its real run does).
    pub(crate) fn of(
        cx: Ctx<'_>,
        db: &Db,
        from: Option<&GenerationRow>,
        to: Target<'_>,
        check_returns: bool,
    ) -> Self {
        let Ctx { s, tell } = cx;
        let counting = from
            .filter(|g| Some(g.entry_name.as_str()) != to.entry)
            .map(|g| super::links::count_processes_using(s, &g.entry_name));
        let venvs = crate::domain::venv::preview(
            &s.venvs(),
            db,
            &s.profile,
            to.entry,
            to.key,
            to.minor,
            to.version,
            from.and_then(GenerationRow::minor).as_deref(),
            check_returns,
        )
        .unwrap_or_else(|e| {
            tell.tell(Event::VenvsUnreadable {
                why: format!("{e:#}"),
            });
            Vec::new()
        });
        let (previous_runtime_processes, following) =
            counting.map(|c| c.settle(&s.home, db)).unzip();
        Self {
            previous_runtime_processes,
            following: following.unwrap_or_default(),
            venvs,
        }
    }
}

/// The build `current` runs when a runtime of `version`, `variant` and `build` is an older build
/// of the same version and variant (build tags are release dates, so they order as numbers).
pub(crate) fn older_build(
    current: Option<&GenerationRow>,
    version: &str,
    variant: &str,
    build: Option<&str>,
) -> Option<String> {
    let g = current?;
    let date = |b: Option<&str>| b.and_then(|b| b.parse::<u64>().ok());
    (g.version.to_string() == version
        && g.variant.name() == variant
        && date(build) < date(g.build.as_deref()))
    .then(|| g.build.clone())
    .flatten()
}
