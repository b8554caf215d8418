//! The profile's links as an activation moves them: the current link, the generation
//! directories, the minor paths, and the profile lock that serialises those changes.

use super::{ActivationError, Ctx, Event};
use crate::interface::settings::Settings;
use crate::storage::lock::{self, Lock, Mode};

/// Makes generation `n` current, saying so when something that was not a link stood in place of
/// the profile link (it is moved aside, never deleted).
pub(crate) fn make_current(
    cx: Ctx<'_>,
    profiles: &crate::storage::profile::Profiles,
    n: u64,
) -> anyhow::Result<()> {
    let Ctx { s, tell } = cx;
    if let Some(aside) = profiles.activate(&s.profile, n)? {
        tell.tell(Event::MovedAside {
            link: &profiles.profile_path(&s.profile),
            aside: &aside,
        });
    }
    Ok(())
}

/// Rebuilds generation `g`'s directory if it is missing or altered; says what was put back.
pub(crate) fn ensure_links(
    profiles: &crate::storage::profile::Profiles,
    g: &crate::storage::db::GenerationRow,
) -> anyhow::Result<Vec<String>> {
    if profiles.generation_intact(&g.profile, g.number, &g.entry_name) {
        return Ok(Vec::new());
    }
    profiles.write_generation(&g.profile, g.number, &g.entry_name)?;
    Ok(vec![format!("generation {}'s directory", g.number)])
}

/// Points the minor link of `g`'s minor version at `g` (it is being made current), fsynced
/// now or (`sync` false) by the caller's next link change; returns the minor path.
pub(crate) fn set_minor_link(
    profiles: &crate::storage::profile::Profiles,
    g: &crate::storage::db::GenerationRow,
    sync: bool,
) -> anyhow::Result<Option<String>> {
    let Some(minor) = g.minor() else {
        return Ok(None);
    };
    let path = profiles.minor_path(&g.profile, &minor);
    let wanted = profiles.generation_path(&g.profile, g.number);
    if std::fs::read_link(&path).ok().as_deref() != wanted.file_name().map(std::path::Path::new) {
        profiles.set_minor(&g.profile, &minor, g.number, sync)?;
    }
    Ok(Some(path.display().to_string()))
}

/// The error for a current generation whose directory is not what its row says, if it is not.
pub(crate) fn check_current_intact(
    profiles: &crate::storage::profile::Profiles,
    g: &crate::storage::db::GenerationRow,
) -> Result<(), ActivationError> {
    if profiles.generation_intact(&g.profile, g.number, &g.entry_name) {
        Ok(())
    } else {
        Err(ActivationError::BrokenGeneration {
            profile: g.profile.clone(),
            number: g.number,
            path: profiles.generation_path(&g.profile, g.number),
        })
    }
}

/// Counts the processes that run store entry `name` (its executable or a library mapped from
/// it), on a thread of its own (it reads `/proc`): [`Counting::settle`] takes the count once the
/// profile has moved. The processes of venvs whose `home` follows a profile or minor path are
/// set apart: what they import next depends on where that path leads then.
pub(super) fn count_processes_using(s: &Settings, name: &str) -> Counting {
    let (home, name) = (
        crate::storage::home::Home::at(s.home.root().to_owned()),
        name.to_owned(),
    );
    Counting {
        entry: name.clone(),
        thread: std::thread::spawn(move || {
            let mut keeping = 0;
            let mut following = Vec::new();
            let only = [name];
            for p in &crate::ground::inuse::scan(
                &home.store(),
                crate::ground::inuse::Uses::Runs,
                Some(&only),
            )
            .processes
            {
                let follows = crate::domain::venv::of_process(p.pid)
                    .and_then(|v| Some((crate::domain::venv::following(&home, &v)?, v)));
                match follows {
                    Some((f, venv)) => following.push(super::Following {
                        pid: p.pid,
                        venv: venv.display().to_string(),
                        home: f.home,
                        minor: f.minor,
                        next_import: super::NextImport::NewBuild,
                    }),
                    None => keeping += 1,
                }
            }
            (keeping, following)
        }),
    }
}

/// A count of processes under way.
pub(super) struct Counting {
    /// The entry they run.
    entry: String,
    thread: std::thread::JoinHandle<(u64, Vec<super::Following>)>,
}

impl Counting {
    /// Once the profile has moved: the processes that keep the runtime (those of following venvs
    /// whose path still leads to it among them), and those of venvs whose path now leads
    /// elsewhere, with what their next import meets (none if the thread failed: the count is a
    /// courtesy, never a reason to fail).
    pub(super) fn settle(
        self,
        home: &crate::storage::home::Home,
        db: &crate::storage::db::Db,
    ) -> (u64, Vec<super::Following>) {
        let (mut keeping, following) = self.thread.join().unwrap_or_default();
        let minor_of = |entry: &str| {
            let row = db.entry_by_name(entry).ok().flatten()?;
            row.minor()
        };
        let mut moved = Vec::new();
        for mut f in following {
            let now = crate::domain::venv::leads_to(home, &f.home);
            if now.as_deref() == Some(self.entry.as_str()) {
                keeping += 1;
                continue;
            }
            let now_minor = now.as_deref().and_then(minor_of);
            f.next_import = if now_minor.is_some() && now_minor == f.minor {
                super::NextImport::NewBuild
            } else {
                super::NextImport::Fails
            };
            moved.push(f);
        }
        (keeping, moved)
    }
}

/// The profile's own lock, held while its current generation changes.
pub(crate) fn profile_lock(cx: Ctx<'_>) -> anyhow::Result<Lock> {
    let Ctx { s, tell } = cx;
    let path = s.home.locks().join(format!("profile-{}.lock", s.profile));
    let lock = lock::acquire(&path, Mode::Exclusive, s.lock_wait, &|| {
        tell.tell(Event::WaitingForProfile {
            profile: &s.profile,
        });
    })?;
    Ok(lock)
}
