//! Profiles and their generation links under `$PYSWAP_HOME/profiles/`.
//!
//! `profiles/<name>-<N>-link -> ../store/<entry>` is generation N of profile `<name>`, and
//! `profiles/<name> -> <name>-<N>-link` says which generation is current. Users put
//! `profiles/<name>/bin` on PATH. Every change is made by creating the new link under a
//! temporary dot-name and `rename(2)`-ing it over the old one, then fsyncing `profiles/`: at
//! every instant the path resolves to a complete entry, old or new, never to nothing.
//!
//! The database holds the generations; links are their materialisation. A link without a row
//! (left by a crash) is garbage that `gc` removes; a row whose link is missing is re-linked when
//! it is next used.

use std::fs;
use std::io;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("invalid profile name `{0}`: use 1 to 64 letters, digits and `_`")]
    BadName(String),
    #[error("profile link {}: {error}", path.display())]
    Io { path: PathBuf, error: io::Error },
    #[error("profile link {} points at `{target}`, which is not a generation link of this profile", path.display())]
    Foreign { path: PathBuf, target: String },
}

pub fn check_name(name: &str) -> Result<(), ProfileError> {
    if (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        Ok(())
    } else {
        Err(ProfileError::BadName(name.to_owned()))
    }
}

pub struct Profiles {
    dir: PathBuf,
}

fn link_name(profile: &str, n: u64) -> String {
    format!("{profile}-{n}-link")
}

/// `default-12-link` -> (`default`, 12).
fn parse_link_name(name: &str) -> Option<(&str, u64)> {
    let rest = name.strip_suffix("-link")?;
    let (profile, n) = rest.rsplit_once('-')?;
    check_name(profile).ok()?;
    Some((profile, n.parse().ok()?))
}

impl Profiles {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// The path users put on PATH, minus `/bin`.
    pub fn profile_path(&self, profile: &str) -> PathBuf {
        self.dir.join(profile)
    }

    pub fn generation_link(&self, profile: &str, n: u64) -> PathBuf {
        self.dir.join(link_name(profile, n))
    }

    /// The current generation of `profile`, from its link; `None` if it has none yet.
    pub fn current(&self, profile: &str) -> Result<Option<u64>, ProfileError> {
        let path = self.profile_path(profile);
        let target = match fs::read_link(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(ProfileError::Io { path, error }),
        };
        let target = target.to_string_lossy().into_owned();
        match parse_link_name(&target) {
            Some((p, n)) if p == profile => Ok(Some(n)),
            _ => Err(ProfileError::Foreign { path, target }),
        }
    }

    /// The entry directory name generation `n`'s link points at, if the link exists.
    pub fn link_target_entry(&self, profile: &str, n: u64) -> Option<String> {
        let t = fs::read_link(self.generation_link(profile, n)).ok()?;
        Some(t.file_name()?.to_string_lossy().into_owned())
    }

    /// Creates (or re-creates) `<profile>-<n>-link -> ../store/<entry>`.
    pub fn write_generation_link(
        &self,
        profile: &str,
        n: u64,
        entry: &str,
    ) -> Result<(), ProfileError> {
        replace_symlink(
            &self.dir,
            &link_name(profile, n),
            &Path::new("../store").join(entry),
            GENERATION_LINK,
        )
    }

    /// Makes generation `n` current: `<profile> -> <profile>-<n>-link`, atomically.
    pub fn activate(&self, profile: &str, n: u64) -> Result<(), ProfileError> {
        replace_symlink(
            &self.dir,
            profile,
            Path::new(&link_name(profile, n)),
            CURRENT_LINK,
        )
    }

    /// Removes the profile's current link (the profile then has no runtime), durably.
    pub fn deactivate(&self, profile: &str) -> Result<(), ProfileError> {
        let path = self.profile_path(profile);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(ProfileError::Io { path, error: e });
            }
            _ => {}
        }
        self.sync()
    }

    pub fn remove_generation_link(&self, profile: &str, n: u64) -> Result<(), ProfileError> {
        let path = self.generation_link(profile, n);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(ProfileError::Io { path, error: e })
            }
            _ => Ok(()),
        }
    }

    /// Every generation link present: (profile, number).
    pub fn links(&self) -> Result<Vec<(String, u64)>, ProfileError> {
        let rd = match fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => {
                return Err(ProfileError::Io {
                    path: self.dir.clone(),
                    error,
                });
            }
        };
        Ok(rd
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(parse_link_name)
                    .map(|(p, n)| (p.to_owned(), n))
            })
            .collect())
    }

    /// Removes temporary links a crash left behind; returns how many.
    pub fn sweep_temporaries(&self, dry_run: bool) -> u64 {
        let Ok(rd) = fs::read_dir(&self.dir) else {
            return 0;
        };
        let mut n = 0;
        for e in rd.flatten() {
            if e.file_name().to_string_lossy().starts_with(".tmp-") {
                n += 1;
                if !dry_run {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        n
    }

    pub fn sync(&self) -> Result<(), ProfileError> {
        crate::store::sync_dir(&self.dir).map_err(|error| ProfileError::Io {
            path: self.dir.clone(),
            error,
        })
    }
}

/// Crash points of one link replacement: temporary link made, renamed over, directory synced.
type Points = [&'static str; 3];
const GENERATION_LINK: Points = [
    "generation-link:temp-link",
    "generation-link:renamed",
    "generation-link:synced",
];
const CURRENT_LINK: Points = [
    "current-link:temp-link",
    "current-link:renamed",
    "current-link:synced",
];

/// Points `dir/name` at `target` by creating a temporary link and renaming it over `name`.
fn replace_symlink(
    dir: &Path,
    name: &str,
    target: &Path,
    points: Points,
) -> Result<(), ProfileError> {
    let tmp = dir.join(format!(".tmp-{}-{}-{name}", std::process::id(), nonce()));
    let err = |path: &Path| {
        let path = path.to_owned();
        move |error| ProfileError::Io { path, error }
    };
    symlink(target, &tmp).map_err(err(&tmp))?;
    crate::crash::point(points[0]);
    let dest = dir.join(name);
    if let Err(e) = fs::rename(&tmp, &dest) {
        let _ = fs::remove_file(&tmp);
        return Err(err(&dest)(e));
    }
    crate::crash::point(points[1]);
    crate::store::sync_dir(dir).map_err(err(dir))?;
    crate::crash::point(points[2]);
    Ok(())
}

fn nonce() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_names_round_trip() {
        assert_eq!(parse_link_name("default-12-link"), Some(("default", 12)));
        assert_eq!(parse_link_name("my_prof-1-link"), Some(("my_prof", 1)));
        assert_eq!(parse_link_name("default"), None);
        assert_eq!(parse_link_name("a-b-1-link"), None);
        assert!(
            check_name("ci_3").is_ok()
                && check_name("a-b").is_err()
                && check_name("").is_err()
                && check_name("../x").is_err()
        );
    }

    #[test]
    fn activate_swaps_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let p = Profiles::new(dir.path().to_owned());
        assert_eq!(p.current("default").unwrap(), None);
        p.write_generation_link("default", 1, "aaa-cpython")
            .unwrap();
        p.activate("default", 1).unwrap();
        p.write_generation_link("default", 2, "bbb-cpython")
            .unwrap();
        p.activate("default", 2).unwrap();
        assert_eq!(p.current("default").unwrap(), Some(2));
        assert_eq!(
            p.link_target_entry("default", 1).as_deref(),
            Some("aaa-cpython")
        );
        let mut links = p.links().unwrap();
        links.sort();
        assert_eq!(links, vec![("default".into(), 1), ("default".into(), 2)]);
        assert_eq!(
            p.sweep_temporaries(false),
            0,
            "no temporary link survives a swap"
        );
    }
}
