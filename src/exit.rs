//! Exit statuses (documented in README) and the `help:` line for errors that have one.
//!
//! - 0: success (including a cron `gc` that skipped because another command held the lock).
//! - 1: a failure the user can act on: bad request, unknown version, download refused or
//!   failed, digest mismatch, unsafe or corrupt archive, failed validation, lock timeout,
//!   no such generation.
//!   Also a full disk or a read-only/unwritable `$PYSWAP_HOME` (ENOSPC, EDQUOT, EROFS, EACCES).
//! - 2: an unexpected error: database, filesystem or internal failure.
//! - 3: refused because it is outside the configured maintenance windows (`--force` overrides).

use crate::archive::ArchiveError;
use crate::cache::CacheError;
use crate::catalog::{CatalogError, ResolveError};
use crate::commands::CommandError;
use crate::config::ConfigError;
use crate::fetch::{Failure, FetchError};
use crate::install::InstallError;
use crate::lock::LockError;
use crate::mirror::MirrorError;
use crate::platform::PlatformError;
use crate::policy::{PolicyError, PythonVersionError};
use crate::profile::ProfileError;
use crate::settings::SettingsError;
use crate::store::StoreError;
use crate::validate::ValidateError;
use crate::verify::VerifyError;
use crate::version::RequestError;
use crate::window::WindowError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitStatus {
    Success = 0,
    Failure = 1,
    Error = 2,
    OutsideWindow = 3,
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(s: ExitStatus) -> Self {
        Self::from(s as u8)
    }
}

/// 1 if any error in the chain is one the user can act on, else 2.
pub fn classify(err: &anyhow::Error) -> ExitStatus {
    if err.chain().any(|e| {
        matches!(
            e.downcast_ref::<WindowError>(),
            Some(WindowError::Closed { .. })
        )
    }) {
        return ExitStatus::OutsideWindow;
    }
    let user = err.chain().any(|e| {
        e.is::<RequestError>()
            || e.is::<ResolveError>()
            || e.is::<CatalogError>()
            || e.is::<FetchError>()
            || e.is::<InstallError>()
            || e.is::<ValidateError>()
            || e.is::<PlatformError>()
            || e.is::<CommandError>()
            || e.is::<SettingsError>()
            || e.is::<MirrorError>()
            || e.is::<CacheError>()
            || e.is::<ConfigError>()
            || e.is::<PolicyError>()
            || e.is::<PythonVersionError>()
            || e.is::<WindowError>()
            || e.is::<VerifyError>()
            || matches!(e.downcast_ref::<crate::db::DbError>(), Some(crate::db::DbError::TooOld { .. }))
            || matches!(
                e.downcast_ref::<crate::home::HomeError>(),
                Some(
                    crate::home::HomeError::NotAHome { .. }
                        | crate::home::HomeError::Insecure { .. }
                        | crate::home::HomeError::ReadOnly { .. }
                )
            )
            || matches!(e.downcast_ref::<ArchiveError>(), Some(a) if !matches!(a, ArchiveError::Write { .. }))
            || matches!(e.downcast_ref::<LockError>(), Some(LockError::Timeout { .. }))
            || matches!(e.downcast_ref::<ProfileError>(), Some(ProfileError::BadName(_) | ProfileError::Foreign { .. } | ProfileError::BadEntry(_) | ProfileError::NotALink { .. }))
    });
    if user || environment(err).is_some() {
        ExitStatus::Failure
    } else {
        ExitStatus::Error
    }
}

/// A hint for a failed write anywhere in the chain, if its OS error is one the operator can fix.
fn environment(err: &anyhow::Error) -> Option<&'static str> {
    let code = err.chain().find_map(|e| {
        let io = match (
            e.downcast_ref::<ArchiveError>(),
            e.downcast_ref::<StoreError>(),
            e.downcast_ref::<FetchError>(),
        ) {
            (Some(ArchiveError::Write { error, .. }), _, _)
            | (_, Some(StoreError::Io { error, .. }), _)
            | (_, _, Some(FetchError::Write { error, .. })) => Some(error),
            _ => e.downcast_ref::<std::io::Error>(),
        };
        io.and_then(std::io::Error::raw_os_error)
    })?;
    match code {
        libc::ENOSPC | libc::EDQUOT => Some(
            "the filesystem holding PYSWAP_HOME is full; nothing was installed and the current runtime is unchanged (free space, or run `pyswap gc`)",
        ),
        libc::EROFS | libc::EACCES | libc::EPERM => {
            Some("PYSWAP_HOME is not writable by this user; nothing was changed")
        }
        _ => None,
    }
}

/// A suggestion printed as `help: …` under the error, where one helps.
pub fn help(err: &anyhow::Error) -> Option<&'static str> {
    if let Some(h) = environment(err) {
        return Some(h);
    }
    err.chain().find_map(|e| {
        if let Some(r) = e.downcast_ref::<ResolveError>() {
            return Some(match r {
                ResolveError::NoMatch { .. } | ResolveError::UnknownKey { .. } => "`pyswap list --available` shows what the catalogue offers for this platform",
                _ => "choose another catalogue entry",
            });
        }
        if let Some(i) = e.downcast_ref::<InstallError>() {
            return match i {
                InstallError::NotOffline { .. } => Some("run it without --offline, or pre-stage it with `pyswap install` while online"),
                InstallError::Some { .. } => Some("the runtimes that installed are in the store; run the command again for the others"),
                InstallError::NoDigest(_) => Some("choose another catalogue entry"),
                InstallError::Unrestorable { .. } => Some("remove it with `pyswap gc` once no generation uses it, or switch to another build"),
                InstallError::Unrecoverable { .. } => Some("`pyswap verify --repair` deletes it once no profile or process uses it"),
            };
        }
        if let Some(CatalogError::NotCached { .. }) = e.downcast_ref::<CatalogError>() {
            return Some("run `pyswap catalogue update` once while online");
        }
        if let Some(LockError::Timeout { .. }) = e.downcast_ref::<LockError>() {
            return Some("another pyswap command is still running; retry when it is done, or raise --lock-timeout");
        }
        if e.is::<ArchiveError>() {
            return Some("the archive was refused and nothing was installed; the current runtime is unchanged");
        }
        if e.is::<ValidateError>() {
            return Some("the new runtime was not activated; the current generation is unchanged");
        }
        match e.downcast_ref::<CommandError>() {
            Some(CommandError::HealthFailed { .. }) => {
                return Some("the failed generation stays listed; `pyswap check N` re-runs its checks");
            }
            Some(CommandError::BrokenGeneration { .. }) => {
                return Some("`pyswap rollback --to N` (N: the current generation) or `pyswap switch VERSION` puts it back");
            }
            _ => {}
        }
        if let Some(crate::home::HomeError::NotAHome { .. }) = e.downcast_ref::<crate::home::HomeError>() {
            return Some("point PYSWAP_HOME at a new or empty directory (pyswap creates it), or at an existing pyswap home");
        }
        if let Some(ProfileError::Foreign { .. } | ProfileError::NotALink { .. }) = e.downcast_ref::<ProfileError>() {
            return Some("`pyswap rollback --to N` or `pyswap switch VERSION` puts the profile link back");
        }
        if let Some(WindowError::Closed { .. }) = e.downcast_ref::<WindowError>() {
            return Some("run it inside a window, pre-stage now with `pyswap install`, or override with --force");
        }
        if e.is::<PolicyError>() {
            return Some("`pyswap config show` lists the policy in force; `pyswap list --available` what the catalogue offers");
        }
        if e.is::<VerifyError>() {
            return Some("`pyswap verify --repair` re-fetches damaged entries and removes unregistered ones");
        }
        if let Some(f) = e.downcast_ref::<FetchError>() {
            return match f {
                FetchError::Refused { why, .. } if why.contains("allowed hosts") => Some("add the host to --allowed-host (PYSWAP_ALLOWED_HOSTS) if it is trusted"),
                FetchError::Refused { .. } => Some("use https, or name the host with --insecure-host (PYSWAP_INSECURE_HOSTS) if plain http is really wanted"),
                FetchError::DigestMismatch { .. } => Some("the download was corrupted or the catalogue is out of date; nothing was installed"),
                FetchError::Failed { failure: Failure::Tls(_), .. } => Some("if the server uses a private CA, point SSL_CERT_FILE at its certificate bundle"),
                FetchError::Failed { .. } | FetchError::GaveUp { .. } => Some("nothing was changed; what was downloaded is kept and the next try resumes it"),
                FetchError::Offline { .. } => Some("run it without --offline"),
                FetchError::TooLarge { .. } => Some("the server sent more than the catalogue says the file holds; nothing was installed"),
                _ => None,
            };
        }
        None
    })
}
