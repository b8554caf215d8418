//! What an activation reports: the `switch`/`upgrade` document, a change of minor version, the
//! processes still running the previous runtime.

use serde::Serialize;

use crate::ground::clock::rfc3339;
use crate::ground::text::{count, plural};
use crate::interface::output::Outcome;
use crate::interface::settings::Settings;
use crate::storage::db::GenerationRow;
use crate::storage::profile::Profiles;

#[derive(Serialize)]
pub(crate) struct Switched {
    pub(crate) profile: String,
    pub(crate) generation: u64,
    /// The generation that was current before, if any.
    pub(crate) previous: Option<u64>,
    pub(crate) version: String,
    /// The python-build-standalone build (release date), if the catalogue named one.
    pub(crate) build: Option<String>,
    /// `""`, `freethreaded`, `debug` or `freethreaded+debug`.
    pub(crate) variant: String,
    /// Set when the switch replaced a newer build of the same version and variant by an older
    /// one (a build request, `3.12.1+20260101`): the newer build it replaced.
    pub(crate) older_than_build: Option<String>,
    /// The catalogue key of the runtime.
    pub(crate) key: String,
    pub(crate) store_path: String,
    pub(crate) installed: bool,
    pub(crate) changed: bool,
    /// `install` (validated as it was unpacked), `activate` (validated now), `stored` (an
    /// earlier passing run under the same policy), or `null` when nothing changed.
    pub(crate) validated: Option<&'static str>,
    /// The post-switch health check: `true`, or `null` when disabled or nothing changed.
    pub(crate) health_check: Option<bool>,
    pub(crate) created: String,
    /// The profile's stable path for this minor version (`profiles/<p>@3.12`), made from.
    pub(crate) minor_path: Option<String>,
    /// Set when the switch moved the profile to another minor version (or variant): venvs made
    /// from the profile path stop working; see [`MinorChange`].
    pub(crate) minor_change: Option<MinorChange>,
    /// Running processes that still use the previous generation's runtime (they keep it until
    /// they exit; `pyswap ps` lists them); `null` when nothing changed. Processes of venvs that
    /// follow the profile or a minor path are not counted: see `following_venv_processes`.
    pub(crate) previous_runtime_processes: Option<u64>,
    /// Running processes of venvs made from the profile or a minor path: their next stdlib
    /// import reads the new runtime while their loaded extensions stay the old one's.
    pub(crate) following_venv_processes: Vec<Following>,
    /// What happened to the profile's registered venvs (see `venv::Update`).
    pub(crate) venvs: Vec<crate::domain::venv::Update>,
    /// Nothing was changed: this is what the command would do (`--dry-run`).
    pub(crate) dry_run: bool,
    /// Links that were missing or altered and were put back (`current`, `generation N`).
    pub(crate) repaired: Vec<String>,
}

/// A change of minor version (or variant) of a profile.
#[derive(Serialize, Clone)]
pub(crate) struct MinorChange {
    pub(crate) from: String,
    pub(crate) to: String,
    /// Where venvs that must stay on `from` are made from.
    pub(crate) from_path: String,
}

impl Switched {
    /// The document for a profile left at generation `g`.
    pub(crate) fn unchanged(
        profile: &str,
        g: &GenerationRow,
        store_path: &std::path::Path,
    ) -> Self {
        Self {
            profile: profile.to_owned(),
            generation: g.number,
            previous: Some(g.number),
            version: g.version.clone(),
            build: g.build.clone(),
            variant: g.variant.clone(),
            older_than_build: None,
            key: g.key().to_owned(),
            store_path: store_path.display().to_string(),
            installed: false,
            changed: false,
            validated: None,
            health_check: None,
            created: rfc3339(g.created),
            minor_path: None,
            minor_change: None,
            previous_runtime_processes: None,
            following_venv_processes: Vec::new(),
            venvs: Vec::new(),
            repaired: Vec::new(),
            dry_run: false,
        }
    }

    pub(crate) fn report(&self, s: &Settings) -> anyhow::Result<Outcome> {
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
        if self.dry_run {
            let what = if self.changed {
                format!(
                    "would switch profile `{}` to generation {}: CPython {}{}",
                    self.profile,
                    self.generation,
                    crate::ground::version::label(
                        &self.version,
                        &self.variant,
                        self.build.as_deref()
                    ),
                    if self.installed {
                        " (to be installed)"
                    } else {
                        ""
                    }
                )
            } else {
                format!(
                    "profile `{}` is already at CPython {} (generation {}); nothing would change",
                    self.profile,
                    crate::ground::version::label(
                        &self.version,
                        &self.variant,
                        self.build.as_deref()
                    ),
                    self.generation
                )
            };
            s.out.say(&format!("{what} (dry run: nothing was changed)"));
            self.say_older_build(s, true);
            if let Some(c) = &self.minor_change {
                c.warn(s, &self.profile, true);
            }
            say_effects_ahead(
                s,
                self.previous_runtime_processes,
                self.previous,
                &self.following_venv_processes,
                &self.venvs,
            );
        } else if self.changed {
            s.out.say(&format!(
                "switched profile `{}` to generation {}: CPython {} ({how})",
                self.profile,
                self.generation,
                crate::ground::version::label(&self.version, &self.variant, self.build.as_deref())
            ));
            self.say_older_build(s, false);
            if let Some(c) = &self.minor_change {
                c.warn(s, &self.profile, false);
            }
            if let Some(n) = self.previous_runtime_processes.filter(|&n| n > 0) {
                say_still_running(s, n, self.previous.unwrap_or_default());
            }
            say_following(s, &self.following_venv_processes);
            say_venvs(s, &self.venvs);
        } else {
            say_venvs(s, &self.venvs);
            s.out.say(&format!(
                "profile `{}` is already at CPython {} (generation {}); nothing changed",
                self.profile,
                crate::ground::version::label(&self.version, &self.variant, self.build.as_deref()),
                self.generation
            ));
        }
        Outcome::of(self)
    }
}

impl Switched {
    /// Says that the runtime is an older build of the version it replaces (a build request).
    fn say_older_build(&self, s: &Settings, ahead: bool) {
        if let Some(newer) = &self.older_than_build {
            s.out.say(&format!(
                "{} an older build of CPython {}: it {} build {newer}",
                if ahead { "this would be" } else { "this is" },
                self.version,
                if ahead { "would replace" } else { "replaced" }
            ));
        }
    }
}

impl MinorChange {
    /// The change from `from` to `to`, if their minor versions (or variants) differ.
    pub(crate) fn between(
        profiles: &Profiles,
        from: Option<&GenerationRow>,
        to: &GenerationRow,
    ) -> Option<Self> {
        Self::towards(profiles, from, to.minor())
    }

    /// The change from `from` to a runtime of minor version `to` (`3.13`, `3.13t`), if they
    /// differ: what a dry run tells before any generation exists.
    pub(crate) fn towards(
        profiles: &Profiles,
        from: Option<&GenerationRow>,
        to: Option<String>,
    ) -> Option<Self> {
        let from = from?;
        let (a, b) = (from.minor()?, to?);
        (a != b).then(|| Self {
            from_path: profiles.minor_path(&from.profile, &a).display().to_string(),
            from: a,
            to: b,
        })
    }

    /// The warning of a real switch, or (`ahead`) of a dry run's.
    pub(crate) fn warn(&self, s: &Settings, profile: &str, ahead: bool) {
        let (moved, work) = if ahead {
            ("would move", "would no longer work")
        } else {
            ("moved", "no longer work")
        };
        s.out.warn(&format!(
            "profile `{profile}` {moved} from Python {} to {}: venvs made from {} {work} \
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
pub(crate) fn say_still_running(s: &Settings, n: u64, previous: u64) {
    s.out.say(&format!(
        "{} still use{} the runtime of generation {previous} and keep{} it until {}; \
         `pyswap ps` lists {}",
        count(n, "running process", "running processes"),
        plural(n, "s", ""),
        plural(n, "s", ""),
        plural(n, "it exits", "they exit"),
        plural(n, "it", "them"),
    ));
}

/// What a dry run found a switch would do to running processes and registered venvs.
pub(crate) fn say_effects_ahead(
    s: &Settings,
    processes: Option<u64>,
    previous: Option<u64>,
    following: &[Following],
    venvs: &[crate::domain::venv::Update],
) {
    if let Some(n) = processes.filter(|&n| n > 0) {
        s.out.say(&format!(
            "{} of the runtime of generation {} would keep it until {}; `pyswap ps` lists {}",
            count(n, "running process", "running processes"),
            previous.unwrap_or_default(),
            plural(n, "it exits", "they exit"),
            plural(n, "it", "them"),
        ));
    }
    if !following.is_empty() {
        s.out.warn("after the switch:");
        say_following(s, following);
    }
    say_venv_lines(s, venvs, true);
}

/// A running process of a venv whose `home` is a profile or minor path that leads elsewhere now.
#[derive(Serialize, Clone, Debug)]
pub(crate) struct Following {
    pub(crate) pid: u32,
    pub(crate) venv: String,
    /// Its `pyvenv.cfg` `home`.
    pub(crate) home: String,
    /// The venv's own minor version (where its packages are), if it says.
    pub(crate) minor: Option<String>,
    /// What its next import of a standard-library module it has not loaded meets.
    pub(crate) next_import: NextImport,
}

/// What a process of a following venv meets at its next standard-library import.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum NextImport {
    /// The path leads to another build of its minor: it reads that build's modules, while the
    /// extensions it loaded stay the old build's.
    NewBuild,
    /// The path leads to another minor (or nowhere): `lib/python3.X` is not there,
    /// `ModuleNotFoundError`.
    Fails,
}

/// Names the processes of venvs that follow the profile, apart, with what they meet and the
/// command that keeps each venv on one build.
pub(crate) fn say_following(s: &Settings, following: &[Following]) {
    for what in [NextImport::NewBuild, NextImport::Fails] {
        let these: Vec<&Following> = following.iter().filter(|f| f.next_import == what).collect();
        if these.is_empty() {
            continue;
        }
        let n = these.len() as u64;
        let list: Vec<String> = these
            .iter()
            .map(|f| match &f.minor {
                Some(m) => format!("{} (pid {}, Python {m})", f.venv, f.pid),
                None => format!("{} (pid {})", f.venv, f.pid),
            })
            .collect();
        let mut venvs: Vec<&str> = these.iter().map(|f| f.venv.as_str()).collect();
        venvs.sort_unstable();
        venvs.dedup();
        let adopt: Vec<String> = venvs
            .iter()
            .map(|v| format!("`pyswap venv adopt {v}`"))
            .collect();
        let (meets, then) = match what {
            NextImport::NewBuild => (
                format!(
                    "now read{} the new runtime's standard library at {} next import while {} loaded extensions stay the old build's",
                    plural(n, "s", ""),
                    plural(n, "its", "their"),
                    plural(n, "its", "their"),
                ),
                "keeps each venv on one build from then on",
            ),
            NextImport::Fails => (
                format!(
                    "fail{} at {} next import of a standard-library module not loaded yet (ModuleNotFoundError): the path leads to another minor version now",
                    plural(n, "s", ""),
                    plural(n, "its", "their"),
                ),
                "puts each venv back on a runtime of its own minor version",
            ),
        };
        s.out.warn(&format!(
            "{} running process{} of venvs made from a profile path {meets}: {}; restart {} after {} ({then})",
            n,
            plural(n, "", "es"),
            list.join(", "),
            plural(n, "it", "them"),
            adopt.join(", "),
        ));
    }
}

/// Says what happened to the registered venvs: moves as notes, the rest as warnings.
pub(crate) fn say_venvs(s: &Settings, outcomes: &[crate::domain::venv::Update]) {
    say_venv_lines(s, outcomes, false);
}

/// [`say_venvs`], worded for what a switch would do (`dry_run`) or did. Runtimes are named by
/// their labels (`3.11.7+20260201`), which type back; `--json` and `-v` keep entry names.
pub(crate) fn say_venv_lines(
    s: &Settings,
    outcomes: &[crate::domain::venv::Update],
    dry_run: bool,
) {
    if outcomes.is_empty() {
        return;
    }
    let db = crate::storage::db::Db::open_home_read(&s.home)
        .ok()
        .flatten();
    let label = |name: &str| {
        db.as_ref()
            .map_or_else(|| name.to_owned(), |d| d.runtime_label(name))
    };
    for (o, line) in outcomes
        .iter()
        .zip(crate::domain::venv::describe(outcomes, &label, dry_run))
    {
        if matches!(o.state, "moved" | "returned" | "finished") {
            s.out.say(&line);
        } else {
            s.out.warn(&line);
        }
    }
}
