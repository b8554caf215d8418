//! `profiles/` as a whole: the minor links, the generations on disk, the store entries a link
//! leads to (gc roots), the entries a profile no longer runs, the migration of legacy links, and
//! the temporaries a crash left.

use std::path::Path;
use std::{fs, io};

use super::{Name, ProfileError, Profiles, parse};

impl Profiles {
    /// The entries of `gens` (`profile`'s generations) that the profile no longer runs: neither
    /// its current generation's nor a minor link's. A process on one runs a build the profile
    /// moved away from, and a restart through the profile's paths picks up what it runs now
    /// (what `ps` calls `old_runtime`, and the metrics count).
    pub(crate) fn old_entries(
        &self,
        profile: &str,
        gens: &[crate::storage::db::GenerationRow],
    ) -> std::collections::HashSet<String> {
        let current = self.current(profile).ok().flatten();
        let minors = self.minors().unwrap_or_default();
        let live: Vec<String> = current
            .into_iter()
            .chain(
                minors
                    .into_iter()
                    .filter(|(p, _, _)| p == profile)
                    .filter_map(|(_, _, n)| n),
            )
            .filter_map(|n| self.generation_entry(profile, n))
            .collect();
        gens.iter()
            .map(|g| g.entry_name.clone())
            .filter(|e| !live.contains(e))
            .collect()
    }

    /// Every minor link: (profile, minor, the generation it points at, if it points at one).
    pub(crate) fn minors(&self) -> Result<Vec<(String, String, Option<u64>)>, ProfileError> {
        let mut out = Vec::new();
        for name in self.names()? {
            if let Name::Minor(p, minor) = parse(&name) {
                let target = fs::read_link(self.dir.join(&name)).ok();
                let n = target.and_then(|t| match parse(t.to_str()?) {
                    Name::Generation(tp, n) if tp == p => Some(n),
                    _ => None,
                });
                out.push((p.to_owned(), minor.to_owned(), n));
            }
        }
        Ok(out)
    }

    pub(super) fn names(&self) -> Result<Vec<String>, ProfileError> {
        match fs::read_dir(&self.dir) {
            Ok(rd) => Ok(rd
                .flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                .collect()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(error) => Err(ProfileError::Io {
                path: self.dir.clone(),
                error,
            }),
        }
    }

    /// Every generation present on disk, as a directory or a legacy link: (profile, number).
    pub(crate) fn generations_on_disk(&self) -> Result<Vec<(String, u64)>, ProfileError> {
        let mut out: Vec<(String, u64)> = self
            .names()?
            .iter()
            .filter_map(|name| match parse(name) {
                Name::Generation(p, n) | Name::Legacy(p, n) => Some((p.to_owned(), n)),
                _ => None,
            })
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Every store entry a link under `profiles/` leads to, except through the generations in
    /// `except`: each generation directory's and legacy link's entry, and the entry of any other
    /// link that points into the store. These are gc roots whatever the database says.
    pub(crate) fn reachable_entries(
        &self,
        except: &std::collections::HashSet<(String, u64)>,
    ) -> Result<std::collections::HashSet<String>, ProfileError> {
        let mut out = std::collections::HashSet::new();
        for name in self.names()? {
            match parse(&name) {
                Name::Generation(p, n) | Name::Legacy(p, n) => {
                    if !except.contains(&(p.to_owned(), n)) {
                        out.extend(self.generation_entry(p, n));
                    }
                }
                Name::Temporary | Name::Minor(..) => {}
                Name::Other => {
                    // A link straight into the store (made by hand, or by a future layout).
                    if let Ok(t) = fs::read_link(self.dir.join(&name))
                        && let Ok(rest) = t.strip_prefix("../store")
                        && let Some(entry) = rest.components().next()
                    {
                        out.insert(entry.as_os_str().to_string_lossy().into_owned());
                    }
                }
            }
        }
        Ok(out)
    }

    /// Turns the profile's legacy links into generation directories, moving the current link
    /// over (crash-safe: directory first, then the current link, then the old link goes).
    /// Returns how many were migrated. A legacy link whose entry is gone is left alone.
    pub(crate) fn migrate(&self, profile: &str) -> Result<u64, ProfileError> {
        let mut migrated = 0;
        for name in self.names()? {
            let Name::Legacy(p, n) = parse(&name) else {
                continue;
            };
            if p != profile {
                continue;
            }
            let Some(entry) = self.generation_entry(profile, n) else {
                continue;
            };
            if !self.store().join(&entry).is_dir() {
                continue;
            }
            self.write_generation(profile, n, &entry)?;
            if fs::read_link(self.profile_path(profile)).is_ok_and(|t| t == Path::new(&name)) {
                self.activate(profile, n)?;
            }
            let path = self.dir.join(&name);
            fs::remove_file(&path).map_err(Self::io(&path))?;
            migrated += 1;
        }
        if migrated > 0 {
            self.sync()?;
        }
        Ok(migrated)
    }

    /// Removes temporary links and directories a crash left behind; returns how many.
    pub(crate) fn sweep_temporaries(&self, dry_run: bool) -> u64 {
        let Ok(names) = self.names() else {
            return 0;
        };
        let mut n = 0;
        for name in names.into_iter().filter(|n| parse(n) == Name::Temporary) {
            n += 1;
            if !dry_run {
                let _ = crate::storage::store::remove_tree(&self.dir.join(name));
            }
        }
        n
    }
}
