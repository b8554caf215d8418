//! Advisory file locks (`flock(2)` through std) under `$PYSWAP_HOME/locks/`.
//!
//! - `gc.lock`: `gc` takes it exclusive; `switch`, `rollback` and installs take it shared, so gc
//!   never deletes what a running command is about to use, and commands never see gc half-done.
//! - `profile-<name>.lock`: exclusive while a command changes that profile's current generation.
//! - `entry-<sha256>.lock`: exclusive while one archive is being added to the store, so two
//!   commands never unpack the same runtime at once.
//!
//! The kernel drops a lock when its holder dies (even by SIGKILL), so a crash never leaves a
//! stale lock. Waits are bounded: a command that cannot get a lock in time fails saying so.
//!
//! `flock` has no queue, so under a steady stream of switches (each holding `gc.lock` shared,
//! overlapping the next) an exclusive taker would never find a moment with no holder. [`gc`]
//! adds a turnstile, `turnstile.lock`: the exclusive side takes it first and keeps it, so new
//! shared takers, which pass through it (shared, for an instant) before taking `gc.lock`, queue
//! behind it while the current holders drain: writer preference, bounded by the longest command
//! already running. Lock files are created mode 0600 in a 0700 `locks/`, so no other user can
//! open, and hold, one.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("timed out after {}s waiting for {} (held by another pyswap command)", waited.as_secs(), path.display())]
    Timeout { path: PathBuf, waited: Duration },
    #[error("cannot lock {}: {error}", path.display())]
    Io { path: PathBuf, error: io::Error },
}

crate::ground::exit::register!(LockError);
impl crate::ground::exit::Reason for LockError {
    fn status(&self) -> crate::ground::exit::ExitStatus {
        match self {
            Self::Timeout { .. } => crate::ground::exit::ExitStatus::Failure,
            Self::Io { error, .. } => crate::ground::exit::Reason::status(error),
        }
    }

    fn help(&self) -> Option<std::borrow::Cow<'static, str>> {
        match self {
            Self::Timeout { .. } => Some("another pyswap command is still running; retry when it is done, or raise --lock-timeout".into()),
            Self::Io { error, .. } => crate::ground::exit::Reason::help(error),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Shared,
    Exclusive,
}

/// A held lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub(crate) struct Lock {
    _file: File,
}

/// A held `gc.lock` (and, on the exclusive side, the turnstile).
#[derive(Debug)]
pub struct GcLock {
    _turnstile: Option<Lock>,
    _gc: Lock,
    mode: Mode,
}

impl GcLock {
    /// Whether this is the exclusive side (gc's, uninstall's): no other command runs.
    pub(crate) fn is_exclusive(&self) -> bool {
        self.mode == Mode::Exclusive
    }
}

/// Takes `gc.lock` in `locks` fairly (see the module doc): the exclusive side gets it within the
/// time the commands already holding it take, whatever starts meanwhile.
pub fn gc(
    locks: &Path,
    mode: Mode,
    wait: Duration,
    on_wait: &dyn Fn(),
) -> Result<GcLock, LockError> {
    let start = Instant::now();
    let turnstile = locks.join("turnstile.lock");
    let told = std::cell::Cell::new(false);
    let once = || {
        if !told.replace(true) {
            on_wait();
        }
    };
    let gate = acquire(&turnstile, mode, wait, &once)?;
    let kept = match mode {
        Mode::Exclusive => Some(gate),
        Mode::Shared => {
            drop(gate);
            None
        }
    };
    let rest = wait.saturating_sub(start.elapsed());
    let gc = acquire(&locks.join("gc.lock"), mode, rest, &once).map_err(|e| match e {
        LockError::Timeout { path, .. } => LockError::Timeout {
            path,
            waited: start.elapsed(),
        },
        e @ LockError::Io { .. } => e,
    })?;
    Ok(GcLock {
        _turnstile: kept,
        _gc: gc,
        mode,
    })
}

/// Takes the lock at `path`, waiting up to `wait`; `on_wait` is called once if it must wait.
pub(crate) fn acquire(
    path: &Path,
    mode: Mode,
    wait: Duration,
    on_wait: &dyn Fn(),
) -> Result<Lock, LockError> {
    let io_err = |error| LockError::Io {
        path: path.to_owned(),
        error,
    };
    // Owner-only: nobody else may open, and so hold, a lock of this home.
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(io_err)?;
    let start = Instant::now();
    let mut told = false;
    loop {
        let attempt = match mode {
            Mode::Shared => file.try_lock_shared(),
            Mode::Exclusive => file.try_lock(),
        };
        match attempt {
            Ok(()) => return Ok(Lock { _file: file }),
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(e)) => return Err(io_err(e)),
        }
        if start.elapsed() >= wait {
            return Err(LockError::Timeout {
                path: path.to_owned(),
                waited: start.elapsed(),
            });
        }
        if !told {
            on_wait();
            told = true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_excludes_exclusive_with_bounded_wait() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("gc.lock");
        let a = acquire(&p, Mode::Shared, Duration::ZERO, &|| {}).unwrap();
        let b = acquire(&p, Mode::Shared, Duration::ZERO, &|| {}).unwrap();
        let waited = std::cell::Cell::new(false);
        let err = acquire(&p, Mode::Exclusive, Duration::from_millis(60), &|| {
            waited.set(true);
        })
        .unwrap_err();
        assert!(matches!(err, LockError::Timeout { .. }) && waited.get());
        drop(a);
        drop(b);
        acquire(&p, Mode::Exclusive, Duration::ZERO, &|| {}).unwrap();
    }
}
