//! What an activation returns: the `switch`/`upgrade` outcome (serialized as their document),
//! a change of minor version, and the processes of venvs that follow a profile path. Data only:
//! the commands word it (`commands::report`).

use serde::Serialize;

use crate::ground::clock::rfc3339;
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
            version: g.version.to_string(),
            build: g.build.clone(),
            variant: g.variant.name().to_owned(),
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
