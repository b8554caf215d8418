//! Checked settings: flags and environment merged once by `cli`, then handed to commands.

use std::time::Duration;

use crate::cache::DownloadCache;
use crate::catalog::Location;
use crate::config::Shown;
use crate::fetch::{Fetcher, NetConfig};
use crate::home::Home;
use crate::install;
use crate::output::Output;
use crate::platform::{Platform, PlatformError};
use crate::policy::VersionPolicy;
use crate::validate;
use crate::window::Schedule;

/// A flag or environment value that does not make sense.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(pub String);

#[derive(Debug)]
pub struct Settings {
    pub home: Home,
    pub profile: String,
    pub catalogue: Location,
    /// `None`: detect the host.
    pub platform: Option<Platform>,
    pub out: Output,
    /// How long a command waits for a lock held by another pyswap.
    pub lock_wait: Duration,
    /// What validation checks, before activation and after (health check).
    pub validation: validate::Policy,
    /// Which builds requests may resolve to.
    pub policy: VersionPolicy,
    /// When `switch`, `rollback`, `upgrade` and `gc` may run without `--force`.
    pub schedule: Schedule,
    /// gc defaults from the manifest (the flags override them).
    pub gc_keep: Option<u64>,
    pub gc_older_than: Option<Duration>,
    /// Unix seconds: the clock for windows and gc ages (`PYSWAP_NOW` in tests).
    pub now: i64,
    /// The manifest read, if any.
    pub config_path: Option<std::path::PathBuf>,
    /// Every effective setting and its source, for `pyswap config show`.
    pub shown: Vec<Shown>,
    pub net: NetConfig,
    /// Replaces the upstream release prefix of archive URLs.
    pub mirror: Option<String>,
    /// Bound on the download cache, in bytes.
    pub cache_max: u64,
    /// How long a cached remote catalogue is used without asking the server.
    pub catalogue_ttl: Duration,
}

impl Settings {
    pub fn fetcher(&self) -> Fetcher {
        Fetcher::new(self.net.clone())
    }

    pub fn download_cache(&self) -> DownloadCache {
        DownloadCache::new(self.home.cache(), self.cache_max)
    }

    /// How `install::ensure` runs under these settings, with `cache` as the download cache.
    pub fn install_options<'a>(&'a self, cache: &'a DownloadCache) -> install::Options<'a> {
        install::Options {
            lock_wait: self.lock_wait,
            validation: &self.validation,
            mirror: self.mirror.as_deref(),
            cache,
        }
    }

    pub fn platform(&self) -> Result<Platform, PlatformError> {
        match &self.platform {
            Some(p) => Ok(p.clone()),
            None => Platform::detect(),
        }
    }
}
