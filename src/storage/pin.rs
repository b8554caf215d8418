//! Which request applies when none is given: `.python-version` files, as uv and pyenv read
//! them. The one in the working directory or its nearest parent wins; else the home's own
//! (`$PYSWAP_HOME/.python-version`, written by `pyswap pin --global`). The request is the first
//! line that is neither blank nor a `#` comment, in any spelling `Request::parse` takes
//! (`3.12`, `cpython@3.12`, `cpython-3.12`, `>=3.11`, a catalogue key).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::ground::version::{Request, RequestError};

pub(crate) const FILE: &str = ".python-version";

#[derive(Debug, thiserror::Error)]
pub(crate) enum PinError {
    #[error("cannot read {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot write {}: {error}", path.display())]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{} names no version", .0.display())]
    Empty(PathBuf),
    #[error("{}: {why}", path.display())]
    Untrusted { path: PathBuf, why: String },
    /// A request typed to be pinned, refused before any file is touched.
    #[error(transparent)]
    Request(RequestError),
    #[error(
        "no version given, and no .python-version in {} or its parents, nor a global one",
        .0.display()
    )]
    Missing(PathBuf),
}

crate::ground::exit::register!(PinError);
impl crate::ground::exit::Reason for PinError {
    fn refuses_request(&self) -> bool {
        !matches!(self, Self::Read { .. } | Self::Write { .. })
    }

    fn status(&self) -> crate::ground::exit::ExitStatus {
        match self {
            Self::Write { error, .. } => crate::ground::exit::Reason::status(error),
            _ => crate::ground::exit::ExitStatus::Failure,
        }
    }

    fn help(&self) -> Option<std::borrow::Cow<'static, str>> {
        match self {
            Self::Missing(_) => Some(
                "name a version (`pyswap switch 3.12`), or pin one with `pyswap pin 3.12` (`--global` for this home)"
                    .into(),
            ),
            Self::Write { error, .. } => crate::ground::exit::Reason::help(error),
            Self::Untrusted { .. } => Some(
                "name the version on the command line (`pyswap switch 3.12`), or fix the file"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// A request and the file it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Pin {
    pub(crate) request: String,
    pub(crate) file: PathBuf,
    /// From the home's own file rather than the directory tree.
    pub(crate) global: bool,
}

/// The pin that applies in `dir`: the nearest `.python-version` up the tree, else `global`.
pub(crate) fn find(dir: &Path, global: &Path) -> Result<Option<Pin>, PinError> {
    for d in dir.ancestors() {
        if let Some(request) = read(&d.join(FILE))? {
            return Ok(Some(Pin {
                request,
                file: d.join(FILE),
                global: false,
            }));
        }
    }
    global_pin(global)
}

/// The home's own pin at `path`, if there is one.
pub(crate) fn global_pin(path: &Path) -> Result<Option<Pin>, PinError> {
    Ok(read(path)?.map(|request| Pin {
        request,
        file: path.to_owned(),
        global: true,
    }))
}

/// The most of a `.python-version` that is read (a request is one short line).
const MAX_PIN_BYTES: u64 = 4096;

/// The request in `path`, `None` when there is no such file. The file is untrusted input (a
/// project directory may be anyone's): only a regular file is read (a FIFO would hang, a device
/// never end), at most [`MAX_PIN_BYTES`] of it, and a line that is not a request is never shown
/// (the file may be a link to a secret). Root takes no pin from a file another user owns.
fn read(path: &Path) -> Result<Option<String>, PinError> {
    use std::io::Read;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let untrusted = |why: String| PinError::Untrusted {
        path: path.to_owned(),
        why,
    };
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(PinError::Read {
                path: path.to_owned(),
                error,
            });
        }
    };
    let meta = file.metadata().map_err(|error| PinError::Read {
        path: path.to_owned(),
        error,
    })?;
    if !meta.is_file() {
        return Err(untrusted(
            "not a regular file; pyswap reads a version only from one".into(),
        ));
    }
    let me = rustix::process::geteuid().as_raw();
    if me == 0 && meta.uid() != 0 {
        return Err(untrusted(format!(
            "belongs to uid {}; root takes no version from a file another user controls",
            meta.uid()
        )));
    }
    let mut raw = Vec::new();
    file.take(MAX_PIN_BYTES)
        .read_to_end(&mut raw)
        .map_err(|error| PinError::Read {
            path: path.to_owned(),
            error,
        })?;
    let text = String::from_utf8_lossy(&raw);
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .ok_or_else(|| PinError::Empty(path.to_owned()))?;
    if line.len() > 200 || Request::parse(line).is_err() {
        return Err(untrusted(
            "its first line is not a version request (not shown: it may not be meant to be read)"
                .into(),
        ));
    }
    Ok(Some(line.to_owned()))
}

/// Writes `request` (checked first) to `path`, replacing the file atomically.
pub(crate) fn write(path: &Path, request: &str) -> Result<Request, PinError> {
    let parsed = Request::parse(request).map_err(PinError::Request)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let failed = |error| PinError::Write {
        path: path.to_owned(),
        error,
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(failed)?;
    writeln!(tmp, "{}", parsed.raw()).map_err(failed)?;
    // Readable by everyone, as a file a project commits: set on the open file before the
    // rename, never through the path afterwards (in a directory another user controls, the path
    // may name their symlink by then, and a chmod would follow it: issue 25).
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(failed)?;
    }
    tmp.as_file().sync_all().map_err(failed)?;
    tmp.persist(path).map_err(|e| failed(e.error))?;
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_file_wins_then_the_global_one() {
        let d = tempfile::tempdir().unwrap();
        let project = d.path().join("a/b");
        std::fs::create_dir_all(&project).unwrap();
        let global = d.path().join("home.python-version");
        assert_eq!(find(&project, &global).unwrap(), None);
        write(&global, "3.11").unwrap();
        let g = find(&project, &global).unwrap().unwrap();
        assert!(g.global && g.request == "3.11");
        std::fs::write(
            d.path().join("a/.python-version"),
            "# runtime\n\ncpython@3.12\n",
        )
        .unwrap();
        let p = find(&project, &global).unwrap().unwrap();
        assert_eq!((p.request.as_str(), p.global), ("cpython@3.12", false));
        assert!(matches!(write(&global, "3.x"), Err(PinError::Request(_))));
        std::fs::write(project.join(FILE), "\n# nothing\n").unwrap();
        assert!(matches!(find(&project, &global), Err(PinError::Empty(_))));
    }

    // Issue 25.

    #[test]
    fn a_pin_is_0644_and_a_symlink_in_its_place_is_replaced_not_followed() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let secret = d.path().join("secret");
        std::fs::write(&secret, "x").unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        let pin = d.path().join(FILE);
        std::os::unix::fs::symlink(&secret, &pin).unwrap();
        write(&pin, "3.12").unwrap();
        let mode = |p: &Path| std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&secret), 0o600, "the symlink's target was changed");
        assert_eq!(std::fs::read_to_string(&secret).unwrap(), "x");
        assert!(std::fs::symlink_metadata(&pin).unwrap().is_file());
        assert_eq!(mode(&pin), 0o644);
    }
}
