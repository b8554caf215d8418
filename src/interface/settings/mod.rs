//! Checked settings: each defined once in [`defs`] (flag, environment variable, manifest key,
//! default, parser, display), resolved here per group with flag > environment > manifest >
//! default, the source of every value kept for `pyswap config show`. Commands get a
//! [`Settings`]; nothing past this module reads a flag, a variable or the manifest.

pub(crate) mod defs;
pub(crate) mod manifest;
pub(crate) mod value;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::catalogue::Location;
use crate::domain::bytecode::Recipe;
use crate::domain::install;
use crate::domain::policy::{Rule, VersionPolicy};
use crate::domain::validate;
use crate::domain::window::Schedule;
use crate::ground::platform::{Platform, PlatformError};
use crate::network::cache::DownloadCache;
use crate::network::fetch::proxy::{Proxies, ProxyEnv};
use crate::network::fetch::{Fetcher, NetConfig};
use crate::storage::home::Home;
use defs::Def;
use manifest::{Manifest, Shown, Source};
use value::Value;

/// A flag or environment value that does not make sense.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct SettingsError(pub(crate) String);

crate::ground::exit::register!(SettingsError);
impl crate::ground::exit::Reason for SettingsError {
    fn status(&self) -> crate::ground::exit::ExitStatus {
        crate::ground::exit::ExitStatus::Failure
    }
}

/// Every setting, resolved, in groups that follow the manifest's sections. The printer is not
/// here: a command gets it beside the settings.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) home: Home,
    pub(crate) profile: String,
    /// `None`: detect the host.
    pub(crate) platform: Option<Platform>,
    /// How long a command waits for a lock held by another pyswap.
    pub(crate) lock_wait: Duration,
    /// Unix seconds: the clock for windows and gc ages (`PYSWAP_NOW` in tests).
    pub(crate) now: i64,
    /// The manifest read, if any.
    pub(crate) config_path: Option<PathBuf>,
    /// Every effective setting and its source, for `pyswap config show`.
    pub(crate) shown: Vec<Shown>,
    /// Where versions resolve from (`catalogue`, `network.catalogue_ttl`).
    pub(crate) catalogue: CatalogueSettings,
    /// Which keys a catalogue must be signed by (`[trust]`).
    pub(crate) trust: TrustSettings,
    /// How requests reach the network (`[network]`).
    pub(crate) net: NetConfig,
    /// Where archives come from and how many are kept (`mirror`, `network.cache_max`).
    pub(crate) downloads: Downloads,
    /// What new store entries get besides the archive (`[install]`).
    pub(crate) install: InstallSettings,
    /// What validation checks, before activation and after (health check) (`[validation]`).
    pub(crate) validation: validate::Plan,
    /// Which builds requests may resolve to (`[policy]`).
    pub(crate) policy: VersionPolicy,
    /// When `switch`, `rollback` and `upgrade` may run without `--force` (`[maintenance]`).
    pub(crate) schedule: Schedule,
    /// How a venv is checked before it moves (`[venv]`).
    pub(crate) venv: VenvSettings,
    /// gc's retention (`[gc]`, `--keep`, `--older-than`).
    pub(crate) gc: GcSettings,
    /// Where state-changing commands write the metrics (`metrics.textfile`).
    pub(crate) metrics_textfile: Option<PathBuf>,
}

/// `catalogue` and `network.catalogue_ttl`.
#[derive(Debug)]
pub(crate) struct CatalogueSettings {
    pub(crate) location: Location,
    /// How long a cached remote catalogue is used without asking the server.
    pub(crate) ttl: Duration,
}

/// `[trust]`.
#[derive(Debug)]
pub(crate) struct TrustSettings {
    /// The keys a catalogue must be signed by; empty: no verification.
    pub(crate) keys: Vec<crate::catalogue::trust::Key>,
    /// The catalogue lines a signature must name; empty: any.
    pub(crate) names: Vec<String>,
}

/// `mirror` and `network.cache_max`.
#[derive(Debug)]
pub(crate) struct Downloads {
    /// Replaces the upstream release prefix of archive URLs.
    pub(crate) mirror: Option<String>,
    /// Bound on the download cache, in bytes.
    pub(crate) cache_max: u64,
}

/// `[install]`.
#[derive(Debug)]
pub(crate) struct InstallSettings {
    /// `install.compile_bytecode`.
    pub(crate) recipe: Recipe,
    /// How many processes compile bytecode at once (`None`: the CPUs available).
    pub(crate) compile_workers: Option<usize>,
}

/// `[venv]`.
#[derive(Debug)]
pub(crate) struct VenvSettings {
    /// What a venv's check imports (empty: from its metadata).
    pub(crate) modules: Vec<String>,
    /// How long a venv's check may take.
    pub(crate) timeout: Duration,
}

/// `[gc]`, or `--keep` and `--older-than`.
#[derive(Debug)]
pub(crate) struct GcSettings {
    /// Keep the newest N generations.
    pub(crate) keep: Option<u64>,
    /// Only generations older than this.
    pub(crate) older_than: Option<Duration>,
}

/// The flags given on the command line, by setting key: the flag as written and its values.
#[derive(Debug, Default)]
pub(crate) struct Flags(pub(crate) HashMap<&'static str, (String, Vec<String>)>);

/// Where the values come from, in order of precedence; records each decision.
pub(crate) struct Sources<'a> {
    flags: &'a Flags,
    env: &'a dyn Fn(&str) -> Option<String>,
    file: &'a Manifest,
    shown: Vec<Shown>,
}

impl<'a> Sources<'a> {
    pub(crate) fn new(
        flags: &'a Flags,
        env: &'a dyn Fn(&str) -> Option<String>,
        file: &'a Manifest,
    ) -> Self {
        Self {
            flags,
            env,
            file,
            shown: Vec::new(),
        }
    }

    /// The value set by flag, environment or manifest, if any.
    fn given<T: Value>(&self, def: &Def<T>) -> Result<Option<(T, Source)>, SettingsError> {
        let m = &def.meta;
        if let Some((flag, values)) = self.flags.0.get(m.key) {
            let text = if T::SWITCH {
                "true".to_owned()
            } else {
                values.join(",")
            };
            let v = T::parse(&text).map_err(|why| SettingsError(format!("{flag}: {why}")))?;
            return Ok(Some((v, Source::Flag(flag.clone()))));
        }
        if let Some(var) = m.env
            && let Some(text) = (self.env)(var).filter(|t| !t.is_empty())
        {
            let v = T::parse(&text).map_err(|why| SettingsError(format!("{var}: {why}")))?;
            return Ok(Some((v, Source::Env(var.to_owned()))));
        }
        if m.file
            && let Some(item) = self.file.get(m.key)
        {
            // Checked when the manifest was read.
            let v = T::from_toml(item).map_err(|b| {
                SettingsError(format!(
                    "{} line {}: {}",
                    self.file.origin(b.line),
                    m.key,
                    b.why
                ))
            })?;
            let source = Source::File {
                path: self.file.path.clone().unwrap_or_default(),
                line: item.line,
            };
            return Ok(Some((v, source)));
        }
        Ok(None)
    }

    fn record(&mut self, key: &str, value: serde_json::Value, source: Source) {
        self.shown.push(Shown {
            key: key.to_owned(),
            value,
            source,
        });
    }

    /// The value, or the setting's default.
    pub(crate) fn get<T: Value>(&mut self, def: &Def<T>) -> Result<T, SettingsError> {
        if let Some((v, source)) = self.given(def)? {
            self.record(def.meta.key, v.show(), source);
            return Ok(v);
        }
        let v = match (def.meta.default, def.make_default) {
            (Some(text), _) => T::parse(text)
                .map_err(|why| SettingsError(format!("default of {}: {why}", def.meta.key)))?,
            (None, Some(make)) => make(),
            (None, None) => {
                return Err(SettingsError(format!(
                    "setting {} has no default",
                    def.meta.key
                )));
            }
        };
        self.record(def.meta.key, v.show(), Source::Default);
        Ok(v)
    }

    /// The value if one is set (shown as `null` when not).
    pub(crate) fn optional<T: Value>(&mut self, def: &Def<T>) -> Result<Option<T>, SettingsError> {
        let found = self.given(def)?;
        match &found {
            Some((v, source)) => self.record(def.meta.key, v.show(), source.clone()),
            None => self.record(def.meta.key, serde_json::Value::Null, Source::Default),
        }
        Ok(found.map(|(v, _)| v))
    }

    /// A manifest rule of the version policy, listed only when set.
    fn rule<T: Value, U>(
        &mut self,
        def: &Def<T>,
        into: impl FnOnce(T) -> U,
    ) -> Result<Option<Rule<U>>, SettingsError> {
        let Some((v, source)) = self.given(def)? else {
            return Ok(None);
        };
        let origin = match &source {
            Source::File { line, .. } => self.file.origin(*line),
            other => other.origin().unwrap_or_default(),
        };
        self.record(def.meta.key, v.show(), source);
        Ok(Some(Rule {
            value: into(v),
            origin,
        }))
    }
}

/// Where the home and the manifest are: resolved first, since the manifest may live in the home.
pub(crate) struct Bootstrap {
    pub(crate) home: PathBuf,
    /// A warning about the default home chosen (root's home at its old default).
    pub(crate) home_note: Option<String>,
    pub(crate) profile: String,
    pub(crate) config: Option<PathBuf>,
}

impl Bootstrap {
    pub(crate) fn resolve(
        flags: &Flags,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Self> {
        let none = Manifest::default();
        let mut l = Sources::new(flags, env, &none);
        // A relative home would follow the working directory: a cron job or a service would
        // use (and create) a different home than the shell that set it up.
        let home = match l.given(&defs::HOME)? {
            Some((h, source)) if h.is_relative() => {
                return Err(SettingsError(format!(
                    "{}: `{}` is a relative path; use an absolute one (e.g. {})",
                    source.origin().unwrap_or_default(),
                    h.display(),
                    std::path::absolute(&h).unwrap_or(h.clone()).display()
                ))
                .into());
            }
            Some((h, _)) => (h, None),
            None => Home::default_root()?,
        };
        let (home, home_note) = home;
        Ok(Self {
            home,
            home_note,
            profile: l.get(&defs::PROFILE)?.0,
            config: l
                .optional(&defs::CONFIG)?
                .map(std::path::absolute)
                .transpose()?,
        })
    }

    /// The manifest that applies (none for `config check`, which judges its file alone).
    pub(crate) fn manifest(&self) -> Result<Manifest, manifest::ConfigError> {
        match manifest::locate(self.config.as_deref(), &self.home)? {
            Some(p) => manifest::load(&p),
            None => Ok(Manifest::default()),
        }
    }
}

impl Settings {
    /// The shared side of the gc lock, held by every command that adds or activates; waits up
    /// to `lock_wait` for a running gc, calling `waiting` once if it has to.
    pub(crate) fn gc_shared_lock(
        &self,
        waiting: &dyn Fn(),
    ) -> Result<crate::storage::lock::GcLock, crate::storage::lock::LockError> {
        crate::storage::lock::gc(
            &self.home.locks(),
            crate::storage::lock::Mode::Shared,
            self.lock_wait,
            waiting,
        )
    }

    /// Resolves every setting.
    pub(crate) fn resolve(
        boot: Bootstrap,
        flags: &Flags,
        env: &dyn Fn(&str) -> Option<String>,
        file: &Manifest,
    ) -> anyhow::Result<Self> {
        let mut l = Sources::new(flags, env, file);
        let catalogue = l.optional(&defs::CATALOGUE)?.unwrap_or(Location::Embedded);
        let platform = l.optional(&defs::PLATFORM)?;
        let mirror = l.optional(&defs::MIRROR)?.map(|m| m.0);
        let lock_wait = Duration::from_secs(l.get(&defs::LOCK_TIMEOUT)?);
        let net = network(&mut l, env)?;
        let cache_max = l.get(&defs::CACHE_MAX)?.0;
        let catalogue_ttl = l.get(&defs::CATALOGUE_TTL)?;
        let policy = VersionPolicy {
            allowed: l.rule(&defs::POLICY_ALLOWED, |r| r.0)?,
            max_minor: l.rule(&defs::POLICY_MAX_MINOR, |m| m)?,
            prereleases: l.rule(&defs::POLICY_PRERELEASES, |p| p)?,
            build: l.rule(&defs::POLICY_BUILD, |b| b.0)?,
        };
        let schedule = l.get(&defs::WINDOWS)?;
        let validation = validate::Plan {
            enabled: l.get(&defs::VALIDATION_ENABLED)?,
            timeout: Duration::from_secs(l.get(&defs::VALIDATE_TIMEOUT)?),
            modules: l.get(&defs::VALIDATE_MODULES)?.0,
            health_check: l.get(&defs::HEALTH_CHECK)?,
            checks: l.get(&defs::CHECKS)?.0,
            sandbox: crate::ground::spawn::Sandbox::resolve(
                &l.get(&defs::SANDBOX_USER)?.0,
                rustix::process::geteuid().is_root(),
            ),
        };
        let recipe = Recipe::new(l.get(&defs::COMPILE_BYTECODE)?.0);
        let compile_workers = l
            .optional(&defs::COMPILE_WORKERS)?
            .map(|n| usize::try_from(n.clamp(1, 1024)).unwrap_or(1));
        let metrics_textfile = l.optional(&defs::METRICS_TEXTFILE)?;
        let gc_keep = l.optional(&defs::GC_KEEP)?;
        let gc_older_than = l.optional(&defs::GC_OLDER_THAN)?;
        let venv_modules = l.get(&defs::VENV_CHECK_MODULES)?.0;
        let trust_keys = l.get(&defs::TRUST_KEYS)?.0;
        let trust_names = l.get(&defs::TRUST_NAMES)?.0;
        if trust_keys.is_empty() && !trust_names.is_empty() {
            let at = file
                .path
                .as_ref()
                .map(|p| format!("{}: ", p.display()))
                .unwrap_or_default();
            return Err(SettingsError(format!(
                "{at}[trust] names is set without [trust] keys: nothing would be verified; set the keys too"
            ))
            .into());
        }
        let venv_timeout = Duration::from_secs(l.get(&defs::VENV_CHECK_TIMEOUT)?);
        Ok(Self {
            home: Home::checked(boot.home)?,
            profile: boot.profile,
            platform,
            lock_wait,
            now: clock(env)?,
            config_path: file.path.clone(),
            shown: l.shown,
            catalogue: CatalogueSettings {
                location: catalogue,
                ttl: catalogue_ttl,
            },
            trust: TrustSettings {
                keys: trust_keys,
                names: trust_names,
            },
            net,
            downloads: Downloads { mirror, cache_max },
            install: InstallSettings {
                recipe,
                compile_workers,
            },
            validation,
            policy,
            schedule,
            venv: VenvSettings {
                modules: venv_modules,
                timeout: venv_timeout,
            },
            gc: GcSettings {
                keep: gc_keep,
                older_than: gc_older_than,
            },
            metrics_textfile,
        })
    }

    /// What venv operations need of these settings.
    pub(crate) fn venvs(&self) -> crate::domain::venv::Context<'_> {
        crate::domain::venv::Context {
            home: &self.home,
            modules: &self.venv.modules,
            timeout: self.venv.timeout,
            now: self.now,
        }
    }
    /// A fetcher under these settings.
    pub(crate) fn fetcher(&self) -> Fetcher {
        Fetcher::new(self.net.clone())
    }

    pub(crate) fn download_cache(&self) -> DownloadCache {
        DownloadCache::new(self.home.cache(), self.downloads.cache_max)
    }

    /// How `install::ensure` runs under these settings, with `cache` as the download cache.
    pub(crate) fn install_options<'a>(&'a self, cache: &'a DownloadCache) -> install::Options<'a> {
        install::Options {
            lock_wait: self.lock_wait,
            validation: &self.validation,
            recipe: self.install.recipe,
            compile_workers: self.install.compile_workers,
            mirror: self.downloads.mirror.as_deref(),
            cache,
        }
    }

    pub(crate) fn platform(&self) -> Result<Platform, PlatformError> {
        match &self.platform {
            Some(p) => Ok(p.clone()),
            None => Platform::detect(),
        }
    }
}

/// The network group; the proxy also from the usual `*_PROXY` variables.
fn network(
    l: &mut Sources,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<NetConfig, SettingsError> {
    let secs = |s: u64| Duration::from_secs(s.max(1));
    let offline = l.get(&defs::OFFLINE)?;
    let allowed_hosts = l.get(&defs::ALLOWED_HOSTS)?.0;
    let insecure_hosts = l.get(&defs::INSECURE_HOSTS)?.0;
    let proxy = l.optional(&defs::PROXY)?.map(|p| p.0);
    let no_proxy = l.get(&defs::NO_PROXY)?;
    if proxy.is_some() && no_proxy {
        return Err(SettingsError(
            "both a proxy and no_proxy are set; drop one".into(),
        ));
    }
    let proxies = Proxies {
        disabled: no_proxy,
        explicit: proxy,
        env: ProxyEnv::read(env),
    };
    if !proxies.disabled {
        for u in proxies.urls() {
            crate::network::fetch::check_proxy_url(u).map_err(SettingsError)?;
        }
    }
    Ok(NetConfig {
        offline,
        allowed_hosts,
        insecure_hosts,
        proxies,
        connect_timeout: secs(l.get(&defs::CONNECT_TIMEOUT)?),
        http_timeout: secs(l.get(&defs::HTTP_TIMEOUT)?),
        download_timeout: secs(l.get(&defs::DOWNLOAD_TIMEOUT)?),
        retries: l.get(&defs::RETRIES)?,
        retry_backoff: l.get(&defs::RETRY_BACKOFF)?,
    })
}

/// Unix seconds now, or what `PYSWAP_NOW` (RFC 3339) says: the clock for maintenance windows
/// and gc ages, settable so tests (and operators asking "would this run at …?") can pick it.
fn clock(env: &dyn Fn(&str) -> Option<String>) -> Result<i64, SettingsError> {
    match env("PYSWAP_NOW") {
        Some(t) if !t.is_empty() => parse_time(&t)
            .ok_or_else(|| SettingsError(format!("PYSWAP_NOW: `{t}` is not an RFC 3339 time (such as 2026-03-01T02:30:00Z or 2026-03-01T04:30:00+02:00)"))),
        _ => Ok(crate::ground::clock::now_unix()),
    }
}

/// Unix seconds of an RFC 3339 time: `Z` or a numeric offset (`+02:00`, `-0530`), fractions
/// of a second ignored.
fn parse_time(t: &str) -> Option<i64> {
    let t = t.trim();
    let (local, offset) = if let Some(l) = t.strip_suffix(['Z', 'z']) {
        (l, 0)
    } else {
        let cut = t.len().checked_sub(6).filter(|&i| t.is_char_boundary(i))?;
        let (l, off) = t.split_at(cut);
        let off = off.replace(':', "");
        let (sign, digits) = off.split_at(1);
        let (h, m) = (
            digits.get(..2)?.parse::<i64>().ok()?,
            digits.get(2..)?.parse::<i64>().ok()?,
        );
        let secs = (h * 60 + m) * 60;
        match sign {
            "+" => (l, secs),
            "-" => (l, -secs),
            _ => return None,
        }
    };
    let utc = humantime::parse_rfc3339_weak(&format!("{local}Z")).ok()?;
    let unix = i64::try_from(utc.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs()).ok()?;
    Some(unix - offset)
}
