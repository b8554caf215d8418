//! Every setting, defined once: its manifest key (also its name in `pyswap config show`), flag,
//! environment variable, default, help text and the type that parses and shows it. `cli` builds
//! the flags from this list, `config` checks manifests against it, and `settings::resolve`
//! reads each value with flag > environment > manifest > default. Adding a setting is one entry
//! here and the code that uses it.

use std::marker::PhantomData;
use std::path::PathBuf;
use std::time::Duration;

use super::value::{
    BuildDate, Bytes, Checks, Hosts, Item, MirrorUrl, Modules, ProfileName, ProxyUrl, Range,
    Toggle, TrustKeys, TrustNames, UserName, Value,
};
use crate::catalogue::Location;
use crate::domain::window::Schedule;
use crate::ground::platform::Platform;

/// The plain facts of a setting.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Meta {
    /// The manifest key, e.g. `network.http_timeout`; also its name in `config show`.
    pub(crate) key: &'static str,
    /// The long flag without `--`, if it has one.
    pub(crate) flag: Option<&'static str>,
    /// The commands whose help shows the flag: those that read its group (`Verb::reads`);
    /// `None`: every command (where the home is, which profile, how long to wait for a lock).
    pub(crate) group: Option<Group>,
    pub(crate) env: Option<&'static str>,
    /// `false`: not settable in a manifest (where the manifest is, the home, the profile).
    pub(crate) file: bool,
    /// The default as text for the type's parser; `None`: unset, or from [`Def::make_default`].
    pub(crate) default: Option<&'static str>,
    pub(crate) value_name: &'static str,
    pub(crate) help: &'static str,
    /// The `--help` section of the flag.
    pub(crate) heading: Option<&'static str>,
}

impl Meta {
    const BASE: Self = Self {
        key: "",
        flag: None,
        group: None,
        env: None,
        file: true,
        default: None,
        value_name: "VALUE",
        help: "",
        heading: None,
    };
}

/// Which commands a setting flag is for: each command says which groups it reads
/// (`commands::Verb::reads`), and its help shows those flags only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Group {
    /// Which catalogue and platform requests resolve against.
    Catalogue,
    /// How to reach the network: proxies, timeouts, retries, allowed hosts, mirrors, offline.
    Network,
    /// The bound on the download cache.
    Cache,
    /// What an install adds to a runtime (bytecode) and how.
    Install,
    /// How a new runtime is validated.
    Validation,
    /// gc's retention policy.
    Gc,
}

impl Group {
    /// What a command that resolves, downloads, installs and validates a runtime reads.
    pub(crate) const INSTALLING: &'static [Self] = &[
        Self::Catalogue,
        Self::Network,
        Self::Cache,
        Self::Install,
        Self::Validation,
    ];

    /// A flag of these groups is taken by every command (and ignored by those that do not read
    /// it, so a wrapper may pass it to any command); the others only by the commands that
    /// accept them (`commands::Verb::accepts`).
    pub(crate) fn lenient(self) -> bool {
        matches!(self, Self::Catalogue | Self::Install | Self::Validation)
    }
}

/// A setting whose value is a `T`.
pub(crate) struct Def<T> {
    pub(crate) meta: Meta,
    /// A default that is not text (the validation module list).
    pub(crate) make_default: Option<fn() -> T>,
    kind: PhantomData<fn() -> T>,
}

impl<T> Def<T> {
    const fn new(meta: Meta) -> Self {
        Self {
            meta,
            make_default: None,
            kind: PhantomData,
        }
    }

    const fn or(mut self, make: fn() -> T) -> Self {
        self.make_default = Some(make);
        self
    }
}

/// What `cli` and `config` need to know of any setting, whatever its type.
pub(crate) trait Describe: Sync {
    fn meta(&self) -> &Meta;
    /// A flag without a value.
    fn switch(&self) -> bool;
    fn repeated(&self) -> bool;
    /// Checks a manifest value (so `config check` finds every bad one).
    fn check(&self, item: &Item) -> Result<(), super::value::Bad>;
    /// Checks that the default text parses.
    #[cfg(test)]
    fn check_default(&self) -> Result<(), String>;
}

impl<T: Value> Describe for Def<T> {
    fn meta(&self) -> &Meta {
        &self.meta
    }
    fn switch(&self) -> bool {
        T::SWITCH
    }
    fn repeated(&self) -> bool {
        T::REPEATED
    }
    fn check(&self, item: &Item) -> Result<(), super::value::Bad> {
        T::from_toml(item).map(drop)
    }
    #[cfg(test)]
    fn check_default(&self) -> Result<(), String> {
        self.meta.default.map_or(Ok(()), |d| T::parse(d).map(drop))
    }
}

/// The setting with manifest key `key`.
pub(crate) fn find(key: &str) -> Option<&'static dyn Describe> {
    ALL.iter().copied().find(|d| d.meta().key == key)
}

macro_rules! settings {
    ($($name:ident: $ty:ty = $def:expr;)*) => {
        $(pub(crate) const $name: Def<$ty> = $def;)*
        /// Every setting, in the order `config show` lists them.
        pub(crate) static ALL: &[&dyn Describe] = &[$(&$name),*];
    };
}

settings! {
    HOME: PathBuf = Def::new(Meta {
        key: "home",
        flag: Some("home"),
        env: Some("PYSWAP_HOME"),
        file: false,
        value_name: "DIR",
        help: "Store, profiles and database [default: /var/lib/pyswap as root, else ~/.local/share/pyswap]",
        ..Meta::BASE
    });
    CONFIG: PathBuf = Def::new(Meta {
        key: "config",
        flag: Some("config"),
        env: Some("PYSWAP_CONFIG"),
        file: false,
        value_name: "FILE",
        help: "Configuration manifest to read [default: $PYSWAP_HOME/config.toml, else /etc/pyswap/config.toml]",
        ..Meta::BASE
    });
    PROFILE: ProfileName = Def::new(Meta {
        key: "profile",
        flag: Some("profile"),
        env: Some("PYSWAP_PROFILE"),
        file: false,
        default: Some("default"),
        value_name: "NAME",
        help: "The profile to act on",
        ..Meta::BASE
    });
    CATALOGUE: Location = Def::new(Meta {
        key: "catalogue",
        group: Some(Group::Catalogue),
        flag: Some("catalogue"),
        env: Some("PYSWAP_CATALOGUE"),
        value_name: "URL|PATH",
        help: "Catalogue to resolve versions from: http(s) URL, file:// URL or path [default: the embedded one]",
        ..Meta::BASE
    });
    PLATFORM: Platform = Def::new(Meta {
        key: "platform",
        group: Some(Group::Catalogue),
        flag: Some("platform"),
        env: Some("PYSWAP_PLATFORM"),
        value_name: "PLATFORM",
        help: "Platform to install for, as OS-ARCH-LIBC such as linux-x86_64-gnu [default: this host]",
        ..Meta::BASE
    });
    MIRROR: MirrorUrl = Def::new(Meta {
        key: "mirror",
        group: Some(Group::Network),
        flag: Some("mirror"),
        env: Some("PYSWAP_MIRROR"),
        value_name: "URL",
        help: "Replace the python-build-standalone release prefix of archive URLs with this http(s) or file:// URL",
        heading: Some("Network"),
        ..Meta::BASE
    });
    LOCK_TIMEOUT: u64 = Def::new(Meta {
        key: "lock_timeout",
        flag: Some("lock-timeout"),
        env: Some("PYSWAP_LOCK_TIMEOUT"),
        default: Some("300"),
        value_name: "SECS",
        help: "Seconds to wait for a lock held by another pyswap command",
        ..Meta::BASE
    });
    OFFLINE: bool = Def::new(Meta {
        key: "network.offline",
        group: Some(Group::Network),
        flag: Some("offline"),
        env: Some("PYSWAP_OFFLINE"),
        default: Some("false"),
        help: "Never use the network: installed runtimes, cached downloads and cached catalogues only",
        heading: Some("Network"),
        ..Meta::BASE
    });
    ALLOWED_HOSTS: Hosts = Def::new(Meta {
        key: "network.allowed_hosts",
        group: Some(Group::Network),
        flag: Some("allowed-host"),
        env: Some("PYSWAP_ALLOWED_HOSTS"),
        default: Some(""),
        value_name: "HOST",
        help: "Talk only to these hosts (`host` or `*.domain`; repeat or separate with commas) [default: any]",
        heading: Some("Network"),
        ..Meta::BASE
    });
    INSECURE_HOSTS: Hosts = Def::new(Meta {
        key: "network.insecure_hosts",
        group: Some(Group::Network),
        flag: Some("insecure-host"),
        env: Some("PYSWAP_INSECURE_HOSTS"),
        default: Some(""),
        value_name: "HOST",
        help: "Allow plain http to these hosts besides loopback (`host` or `*.domain`)",
        heading: Some("Network"),
        ..Meta::BASE
    });
    PROXY: ProxyUrl = Def::new(Meta {
        key: "network.proxy",
        group: Some(Group::Network),
        flag: Some("proxy"),
        value_name: "URL",
        help: "Send every request through this http(s) proxy [default: from `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`]",
        heading: Some("Network"),
        ..Meta::BASE
    });
    NO_PROXY: bool = Def::new(Meta {
        key: "network.no_proxy",
        group: Some(Group::Network),
        flag: Some("no-proxy"),
        default: Some("false"),
        help: "Use no proxy, whatever the environment says",
        heading: Some("Network"),
        ..Meta::BASE
    });
    CONNECT_TIMEOUT: u64 = Def::new(Meta {
        key: "network.connect_timeout",
        group: Some(Group::Network),
        flag: Some("connect-timeout"),
        env: Some("PYSWAP_CONNECT_TIMEOUT"),
        default: Some("15"),
        value_name: "SECS",
        help: "Seconds to wait for a connection",
        heading: Some("Network"),
        ..Meta::BASE
    });
    HTTP_TIMEOUT: u64 = Def::new(Meta {
        key: "network.http_timeout",
        group: Some(Group::Network),
        flag: Some("http-timeout"),
        env: Some("PYSWAP_HTTP_TIMEOUT"),
        default: Some("30"),
        value_name: "SECS",
        help: "Seconds a response may stall (no bytes) before the try fails",
        heading: Some("Network"),
        ..Meta::BASE
    });
    DOWNLOAD_TIMEOUT: u64 = Def::new(Meta {
        key: "network.download_timeout",
        group: Some(Group::Network),
        flag: Some("download-timeout"),
        env: Some("PYSWAP_DOWNLOAD_TIMEOUT"),
        default: Some("1800"),
        value_name: "SECS",
        help: "Seconds a whole download may take, retries included",
        heading: Some("Network"),
        ..Meta::BASE
    });
    RETRIES: u32 = Def::new(Meta {
        key: "network.retries",
        group: Some(Group::Network),
        flag: Some("retries"),
        env: Some("PYSWAP_HTTP_RETRIES"),
        default: Some("3"),
        value_name: "N",
        help: "How many times a transient network failure is retried",
        heading: Some("Network"),
        ..Meta::BASE
    });
    RETRY_BACKOFF: Duration = Def::new(Meta {
        key: "network.retry_backoff",
        group: Some(Group::Network),
        flag: Some("retry-backoff"),
        env: Some("PYSWAP_HTTP_BACKOFF"),
        default: Some("1s"),
        value_name: "DURATION",
        help: "Wait before the first retry, doubled for each further one (jittered), e.g. 1s, 200ms",
        heading: Some("Network"),
        ..Meta::BASE
    });
    CACHE_MAX: Bytes = Def::new(Meta {
        key: "network.cache_max",
        group: Some(Group::Cache),
        flag: Some("cache-max"),
        env: Some("PYSWAP_CACHE_MAX"),
        default: Some("2GiB"),
        value_name: "SIZE",
        help: "Bound on the download cache, e.g. 2GiB, 500MB, 0 to keep nothing",
        heading: Some("Network"),
        ..Meta::BASE
    });
    CATALOGUE_TTL: Duration = Def::new(Meta {
        key: "network.catalogue_ttl",
        group: Some(Group::Network),
        flag: Some("catalogue-ttl"),
        env: Some("PYSWAP_CATALOGUE_TTL"),
        default: Some("1h"),
        value_name: "AGE",
        help: "Use a cached remote catalogue without asking the server while it is younger than this",
        heading: Some("Network"),
        ..Meta::BASE
    });
    POLICY_ALLOWED: Range = Def::new(Meta {
        key: "policy.allowed",
        help: "The version range requests may resolve to",
        ..Meta::BASE
    });
    POLICY_MAX_MINOR: u64 = Def::new(Meta {
        key: "policy.max_minor",
        help: "The highest 3.x minor version requests may resolve to",
        ..Meta::BASE
    });
    POLICY_PRERELEASES: bool = Def::new(Meta {
        key: "policy.prereleases",
        help: "Whether prereleases may be chosen at all (false refuses even --pre)",
        ..Meta::BASE
    });
    POLICY_BUILD: BuildDate = Def::new(Meta {
        key: "policy.build",
        help: "Pin requests to this python-build-standalone release",
        ..Meta::BASE
    });
    WINDOWS: Schedule = Def::new(Meta {
        key: "maintenance.windows",
        help: "When switch, rollback and upgrade may run without --force [default: any time]",
        ..Meta::BASE
    })
    .or(Schedule::default);
    COMPILE_BYTECODE: Toggle = Def::new(Meta {
        key: "install.compile_bytecode",
        group: Some(Group::Install),
        flag: Some("compile-bytecode"),
        env: Some("PYSWAP_COMPILE_BYTECODE"),
        default: Some("true"),
        value_name: "BOOL",
        help: "Compile the standard library's bytecode into each new store entry (false: every start compiles what it imports, and root processes write into the store)",
        ..Meta::BASE
    });
    COMPILE_WORKERS: u64 = Def::new(Meta {
        key: "install.compile_workers",
        group: Some(Group::Install),
        flag: Some("compile-workers"),
        env: Some("PYSWAP_COMPILE_WORKERS"),
        value_name: "N",
        help: "How many processes compile a new runtime's bytecode at once (the bytes are the same whatever the number) [default: the CPUs available]",
        ..Meta::BASE
    });
    SANDBOX_USER: UserName = Def::new(Meta {
        key: "install.sandbox_user",
        env: Some("PYSWAP_SANDBOX_USER"),
        default: Some("nobody"),
        value_name: "USER",
        help: "Who runs a new archive's interpreter (its bytecode compile, validation and health probes) when pyswap is root; \"root\" runs it as root, with a warning",
        ..Meta::BASE
    });
    VALIDATION_ENABLED: bool = Def::new(Meta {
        key: "validation.enabled",
        default: Some("true"),
        help: "false: validate nothing, before or after a switch (throw-away CI runners only)",
        ..Meta::BASE
    });
    VALIDATE_TIMEOUT: u64 = Def::new(Meta {
        key: "validation.timeout",
        group: Some(Group::Validation),
        flag: Some("validate-timeout"),
        env: Some("PYSWAP_VALIDATE_TIMEOUT"),
        default: Some("60"),
        value_name: "SECS",
        help: "Seconds the new interpreter's diagnostic may take",
        ..Meta::BASE
    });
    VALIDATE_MODULES: Modules = Def::new(Meta {
        key: "validation.modules",
        help: "Modules the new interpreter must import",
        ..Meta::BASE
    })
    .or(|| Modules(crate::domain::validate::DEFAULT_MODULES.iter().map(|&m| m.to_owned()).collect()));
    HEALTH_CHECK: bool = Def::new(Meta {
        key: "validation.health_check",
        default: Some("true"),
        help: "Run the health check through the profile after a switch, and roll back if it fails",
        ..Meta::BASE
    });
    CHECKS: Checks = Def::new(Meta {
        key: "validation.checks",
        help: "The operator's own checks, run with the new interpreter",
        ..Meta::BASE
    })
    .or(Checks::default);
    TRUST_KEYS: TrustKeys = Def::new(Meta {
        key: "trust.keys",
        help: "Minisign public keys (`RW...`) one of which must have signed a catalogue for it to be used; empty: catalogues are not verified (manifest only: no flag, no variable)",
        ..Meta::BASE
    })
    .or(TrustKeys::default);
    TRUST_NAMES: TrustNames = Def::new(Meta {
        key: "trust.names",
        help: "The catalogue lines (`name=` in the signature) this host follows; empty: any the trusted keys signed (manifest only: no flag, no variable)",
        ..Meta::BASE
    })
    .or(TrustNames::default);
    VENV_CHECK_MODULES: Modules = Def::new(Meta {
        key: "venv.check_modules",
        help: "Modules a venv must import on a runtime before it moves to it [default: the top-level modules of the distributions installed in it]",
        ..Meta::BASE
    })
    .or(Modules::default);
    VENV_CHECK_TIMEOUT: u64 = Def::new(Meta {
        key: "venv.check_timeout",
        default: Some("120"),
        value_name: "SECS",
        help: "Seconds a venv's check on a new runtime may take",
        ..Meta::BASE
    });
    METRICS_TEXTFILE: PathBuf = Def::new(Meta {
        key: "metrics.textfile",
        help: "Write the metrics (Prometheus text format) to this file after every command that changes state",
        ..Meta::BASE
    });
    GC_KEEP: u64 = Def::new(Meta {
        key: "gc.keep",
        flag: Some("keep"),
        group: Some(Group::Gc),
        value_name: "N",
        help: "Keep the newest N generations of each profile [default: gc.keep from the manifest]",
        ..Meta::BASE
    });
    GC_OLDER_THAN: Duration = Def::new(Meta {
        key: "gc.older_than",
        flag: Some("older-than"),
        group: Some(Group::Gc),
        value_name: "AGE",
        help: "Only delete generations older than this (e.g. 30d, 12h) [default: gc.older_than from the manifest]",
        ..Meta::BASE
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_is_well_formed_and_its_default_parses() {
        use std::collections::HashSet;
        let mut keys = HashSet::new();
        let mut flags = HashSet::new();
        let mut envs = HashSet::new();
        for d in ALL {
            let m = d.meta();
            assert!(keys.insert(m.key), "{} twice", m.key);
            assert!(!m.help.is_empty(), "{} has no help", m.key);
            if let Some(f) = m.flag {
                assert!(flags.insert(f), "--{f} twice");
            }
            if let Some(e) = m.env {
                assert!(e.starts_with("PYSWAP_") && envs.insert(e), "{e}");
            }
            assert!(m.file || m.flag.is_some(), "{} cannot be set at all", m.key);
            assert_eq!(d.check_default(), Ok(()), "{}", m.key);
            assert!(m.group.is_none() || m.flag.is_some(), "{}", m.key);
        }
        assert!(find("network.retries").is_some() && find("retries").is_none());
    }
}
