//! Command-line definitions (clap derive). Parsed once, then turned into [`Settings`] and an
//! [`Action`]; nothing past this module sees clap.

use std::path::PathBuf;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::catalog::Location;
use crate::config::{self, At, FileConfig, Shown, Source};
use crate::fetch::proxy::{Proxies, ProxyEnv};
use crate::fetch::{self, NetConfig};
use crate::home::Home;
use crate::output::Output;
use crate::platform::Platform;
use crate::profile;
use crate::settings::{Settings, SettingsError};
use crate::validate;
use crate::window::Schedule;

#[derive(Debug, Parser)]
#[command(
    name = "pyswap",
    version,
    about = "Install and switch Python runtimes through an immutable store with atomic, numbered generations"
)]
#[command(
    after_help = "Put `$PYSWAP_HOME/profiles/<profile>/bin` on PATH (see `pyswap env`).\nExit status: 0 success, 1 failure the user can act on, 2 unexpected error."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    #[arg(
        long,
        global = true,
        env = "PYSWAP_HOME",
        hide_env_values = true,
        value_name = "DIR",
        help = "Where pyswap keeps its store, profiles and database [default: $XDG_DATA_HOME/pyswap or ~/.local/share/pyswap]"
    )]
    pub home: Option<PathBuf>,
    /// The profile to act on
    #[arg(
        long,
        global = true,
        env = "PYSWAP_PROFILE",
        hide_env_values = true,
        default_value = "default",
        value_name = "NAME"
    )]
    pub profile: String,
    /// Catalogue to resolve versions from: http(s) URL, file:// URL or path [default: the embedded one]
    #[arg(
        long,
        global = true,
        env = "PYSWAP_CATALOGUE",
        hide_env_values = true,
        value_name = "URL|PATH"
    )]
    pub catalogue: Option<String>,
    /// Platform to install for, as OS-ARCH-LIBC such as linux-x86_64-gnu [default: this host]
    #[arg(
        long,
        global = true,
        env = "PYSWAP_PLATFORM",
        hide_env_values = true,
        value_name = "PLATFORM"
    )]
    pub platform: Option<String>,
    /// Print one JSON document on stdout instead of human output
    #[arg(long, global = true)]
    pub json: bool,
    /// Print nothing but errors and data
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Seconds to wait for a lock held by another pyswap command
    #[arg(
        long,
        global = true,
        env = "PYSWAP_LOCK_TIMEOUT",
        hide_env_values = true,
        default_value_t = 300,
        value_name = "SECS"
    )]
    pub lock_timeout: u64,
    /// Seconds the new interpreter's diagnostic may take
    #[arg(
        long,
        global = true,
        env = "PYSWAP_VALIDATE_TIMEOUT",
        hide_env_values = true,
        default_value_t = 60,
        value_name = "SECS"
    )]
    pub validate_timeout: u64,
    #[arg(
        long,
        global = true,
        env = "PYSWAP_CONFIG",
        hide_env_values = true,
        value_name = "FILE",
        help = "Configuration manifest to read [default: $PYSWAP_HOME/config.toml, else /etc/pyswap/config.toml]"
    )]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub net: NetArgs,
}

/// Network settings, global to every command.
#[derive(Debug, Args)]
#[command(next_help_heading = "Network")]
pub struct NetArgs {
    /// Never use the network: installed runtimes, cached downloads and cached catalogues only
    #[arg(long, global = true, env = "PYSWAP_OFFLINE", hide_env_values = true, value_parser = clap::builder::FalseyValueParser::new())]
    pub offline: bool,
    /// Replace the python-build-standalone release prefix of archive URLs with this http(s) or file:// URL
    #[arg(
        long,
        global = true,
        env = "PYSWAP_MIRROR",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub mirror: Option<String>,
    /// Talk only to these hosts (`host` or `*.domain`; repeat or separate with commas) [default: any]
    #[arg(
        long = "allowed-host",
        global = true,
        env = "PYSWAP_ALLOWED_HOSTS",
        hide_env_values = true,
        value_delimiter = ',',
        value_name = "HOST"
    )]
    pub allowed_hosts: Vec<String>,
    /// Allow plain http to these hosts besides loopback (`host` or `*.domain`)
    #[arg(
        long = "insecure-host",
        global = true,
        env = "PYSWAP_INSECURE_HOSTS",
        hide_env_values = true,
        value_delimiter = ',',
        value_name = "HOST"
    )]
    pub insecure_hosts: Vec<String>,
    /// Send every request through this http(s) proxy [default: from `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`]
    #[arg(long, global = true, value_name = "URL", conflicts_with = "no_proxy")]
    pub proxy: Option<String>,
    /// Use no proxy, whatever the environment says
    #[arg(long, global = true)]
    pub no_proxy: bool,
    /// Seconds to wait for a connection
    #[arg(
        long,
        global = true,
        env = "PYSWAP_CONNECT_TIMEOUT",
        hide_env_values = true,
        default_value_t = 15,
        value_name = "SECS"
    )]
    pub connect_timeout: u64,
    /// Seconds a response may stall (no bytes) before the try fails
    #[arg(
        long,
        global = true,
        env = "PYSWAP_HTTP_TIMEOUT",
        hide_env_values = true,
        default_value_t = 30,
        value_name = "SECS"
    )]
    pub http_timeout: u64,
    /// Seconds a whole download may take, retries included
    #[arg(
        long,
        global = true,
        env = "PYSWAP_DOWNLOAD_TIMEOUT",
        hide_env_values = true,
        default_value_t = 1800,
        value_name = "SECS"
    )]
    pub download_timeout: u64,
    /// How many times a transient network failure is retried
    #[arg(
        long,
        global = true,
        env = "PYSWAP_HTTP_RETRIES",
        hide_env_values = true,
        default_value_t = 3,
        value_name = "N"
    )]
    pub retries: u32,
    /// Wait before the first retry, doubled for each further one (jittered), e.g. 1s, 200ms
    #[arg(long, global = true, env = "PYSWAP_HTTP_BACKOFF", hide_env_values = true, default_value = "1s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub retry_backoff: Duration,
    /// Bound on the download cache, e.g. 2GiB, 500MB, 0 to keep nothing
    #[arg(long, global = true, env = "PYSWAP_CACHE_MAX", hide_env_values = true, default_value = "2GiB", value_parser = crate::config::parse_size, value_name = "SIZE")]
    pub cache_max: u64,
    /// Use a cached remote catalogue without asking the server while it is younger than this
    #[arg(long, global = true, env = "PYSWAP_CATALOGUE_TTL", hide_env_values = true, default_value = "1h", value_parser = humantime::parse_duration, value_name = "AGE")]
    pub catalogue_ttl: Duration,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Install a runtime if needed, validate it, and make it the profile's new current generation
    Switch {
        /// 3, 3.12, 3.12.4, 3.15.0rc1, >=3.10,<3.12, or a catalogue key; add +freethreaded or +debug for a variant [default: from .python-version in this directory or a parent]
        request: Option<String>,
        /// Allow prereleases (alpha, beta, rc)
        #[arg(long)]
        pre: bool,
        /// Run even outside the configured maintenance windows
        #[arg(long)]
        force: bool,
    },
    /// Switch to the newest patch release of the current minor version that the policy allows
    Upgrade {
        /// Run even outside the configured maintenance windows
        #[arg(long)]
        force: bool,
    },
    /// List the profile's generations, marking the current one
    Generations,
    /// Make an earlier generation current again (nothing is downloaded)
    Rollback {
        /// The generation to return to [default: the one before the current]
        #[arg(long, value_name = "N")]
        to: Option<u64>,
        /// Run even outside the configured maintenance windows
        #[arg(long)]
        force: bool,
    },
    /// Delete old generations by policy and store entries nothing references
    Gc {
        /// Keep the newest N generations of each profile [default: from the manifest]
        #[arg(long, value_name = "N")]
        keep: Option<u64>,
        #[arg(
            long,
            value_name = "AGE",
            value_parser = humantime::parse_duration,
            help = "Only delete generations older than this (e.g. 30d, 12h) [default: gc.older_than from the manifest]"
        )]
        older_than: Option<Duration>,
        /// Report what would be deleted without deleting it
        #[arg(long)]
        dry_run: bool,
        /// Seconds to wait for running commands before skipping (exit 0) this run
        #[arg(long, default_value_t = 10, value_name = "SECS")]
        wait: u64,
        /// Also delete runtimes pre-staged by `install` that no generation uses
        #[arg(long)]
        staged: bool,
        /// Run even outside the configured maintenance windows
        #[arg(long)]
        force: bool,
    },
    /// Re-run the validation policy on the current (or N-th) generation and record the result
    Check {
        /// The generation to check [default: the current one]
        generation: Option<u64>,
    },
    /// Re-hash store entries and cross-check the database, store and profile links
    Verify {
        /// Re-fetch corrupt or missing entries, remove unregistered ones, re-create broken links
        #[arg(long)]
        repair: bool,
    },
    /// List installed runtimes, or the catalogue's with --available
    List {
        /// List what the catalogue offers for this platform
        #[arg(long, conflicts_with = "installed")]
        available: bool,
        /// List store entries, their size and the generations using them (the default)
        #[arg(long)]
        installed: bool,
        /// With --available: include prereleases
        #[arg(long)]
        pre: bool,
    },
    /// Print the current generation, its version and path
    Current,
    /// List running processes that use a runtime of the store (which to restart after a switch)
    Ps,
    /// List the profile's per-minor paths (`profiles/<profile>@3.11`), or remove one
    Minors {
        /// Remove this minor path (e.g. 3.11), so gc may delete what only it kept
        #[arg(long, value_name = "MINOR")]
        remove: Option<String>,
    },
    /// Print the shell line that puts the profile's bin directory on PATH
    Env {
        #[arg(long, value_enum, default_value_t = Shell::Sh)]
        shell: Shell,
    },
    /// Put runtimes into the store without switching (pre-staging); downloads run in parallel
    Install {
        /// One or more requests, as for `switch`
        #[arg(required = true, value_name = "REQUEST")]
        requests: Vec<String>,
        /// Allow prereleases (alpha, beta, rc)
        #[arg(long)]
        pre: bool,
        /// How many downloads run at once
        #[arg(long, short, default_value_t = 4, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=32))]
        jobs: u64,
    },
    /// Download and verify builds into DIR and write a catalogue beside them, for a fleet
    Mirror {
        /// The mirror directory (created if missing; an existing mirror there is extended)
        dir: PathBuf,
        /// One or more requests, as for `switch`
        #[arg(required = true, value_name = "REQUEST")]
        requests: Vec<String>,
        /// Platforms to mirror, as OS-ARCH-LIBC (repeatable) [default: --platform or this host]
        #[arg(long = "for", value_name = "PLATFORM")]
        platforms: Vec<String>,
        /// URL under which DIR will be served, written into the catalogue [default: `file://DIR`]
        #[arg(long, value_name = "URL")]
        base_url: Option<String>,
        /// Allow prereleases (alpha, beta, rc)
        #[arg(long)]
        pre: bool,
    },
    /// Manage the cached copy of a remote catalogue
    #[command(subcommand)]
    Catalogue(CatalogueCommand),
    /// Show the effective configuration, or check a manifest
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print a shell completion script
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), e.g. `pyswap man > /usr/local/share/man/man1/pyswap.1`
    Man,
}

#[derive(Debug, Subcommand)]
pub enum CatalogueCommand {
    /// Fetch the configured catalogue now (a conditional request when a copy is cached)
    Update,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print every effective setting and where it came from (flag, env, `file:line` or default)
    Show,
    /// Check a manifest: exit 0 if it is valid, else 1 naming the key and line
    Check {
        /// The manifest to check
        file: PathBuf,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Sh,
    Fish,
}

/// What to do, free of clap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Switch {
        /// `None`: read `.python-version`.
        request: Option<String>,
        pre: bool,
        force: bool,
    },
    Upgrade {
        force: bool,
    },
    Generations,
    Rollback {
        to: Option<u64>,
        force: bool,
    },
    Gc {
        keep: Option<u64>,
        older_than: Option<Duration>,
        dry_run: bool,
        wait: Duration,
        staged: bool,
        force: bool,
    },
    Check {
        generation: Option<u64>,
    },
    Verify {
        repair: bool,
    },
    ListAvailable {
        pre: bool,
    },
    ListInstalled,
    Current,
    Ps,
    Minors {
        remove: Option<String>,
    },
    Env {
        fish: bool,
    },
    Install {
        requests: Vec<String>,
        pre: bool,
        jobs: usize,
    },
    Mirror {
        dir: PathBuf,
        requests: Vec<String>,
        platforms: Vec<Platform>,
        base_url: Option<String>,
        pre: bool,
    },
    CatalogueUpdate,
    ConfigShow,
    ConfigCheck {
        file: PathBuf,
    },
    /// The completion script, already generated (generation needs clap).
    Completions {
        shell: String,
        script: String,
    },
    /// The man page, already rendered.
    Man {
        page: String,
    },
}

/// Where each value comes from: flag > environment > manifest > default. Records every
/// decision for `pyswap config show`.
struct Layers<'a> {
    m: &'a ArgMatches,
    file: &'a FileConfig,
    cmd: clap::Command,
    shown: Vec<Shown>,
}

impl<'a> Layers<'a> {
    fn new(m: &'a ArgMatches, file: &'a FileConfig) -> Self {
        Self {
            m,
            file,
            cmd: Cli::command(),
            shown: Vec::new(),
        }
    }

    /// The value for manifest `key`, whose flag has clap id `id`: `given` (clap's value, which
    /// is its default when neither flag nor environment set it) or the file's.
    fn pick<T>(
        &mut self,
        key: &str,
        id: &str,
        given: T,
        file: Option<At<T>>,
        show: impl Fn(&T) -> serde_json::Value,
    ) -> T {
        let arg = self.cmd.get_arguments().find(|a| a.get_id() == id);
        let (value, source) = match value_source(self.m, id) {
            Some(ValueSource::CommandLine) => (
                given,
                Source::Flag(format!(
                    "--{}",
                    arg.and_then(|a| a.get_long()).unwrap_or(id)
                )),
            ),
            Some(ValueSource::EnvVariable) => (
                given,
                Source::Env(
                    arg.and_then(|a| a.get_env())
                        .map_or_else(|| id.to_owned(), |e| e.to_string_lossy().into_owned()),
                ),
            ),
            _ => match file {
                Some(At { value, line }) => (
                    value,
                    Source::File {
                        path: self.file.path.clone().unwrap_or_default(),
                        line,
                    },
                ),
                None => (given, Source::Default),
            },
        };
        self.shown.push(Shown {
            key: key.to_owned(),
            value: show(&value),
            source,
        });
        value
    }

    /// A manifest-only value.
    fn file_only<T>(
        &mut self,
        key: &str,
        file: Option<At<T>>,
        default: T,
        show: impl Fn(&T) -> serde_json::Value,
    ) -> T {
        let (value, source) = match file {
            Some(At { value, line }) => (
                value,
                Source::File {
                    path: self.file.path.clone().unwrap_or_default(),
                    line,
                },
            ),
            None => (default, Source::Default),
        };
        self.shown.push(Shown {
            key: key.to_owned(),
            value: show(&value),
            source,
        });
        value
    }
}

/// How a global argument got its value, looking in the subcommand's matches too (a global flag
/// written after the subcommand is recorded there).
fn value_source(m: &ArgMatches, id: &str) -> Option<ValueSource> {
    let mut found = None;
    let mut level = Some(m);
    while let Some(here) = level {
        if here.ids().any(|i| i == id) {
            match here.value_source(id) {
                Some(ValueSource::DefaultValue) | None => {}
                explicit => found = explicit,
            }
        }
        level = here.subcommand().map(|(_, sub)| sub);
    }
    found
}

fn json_str(v: &impl ToString) -> serde_json::Value {
    serde_json::Value::String(v.to_string())
}

fn json_secs(d: &Duration) -> serde_json::Value {
    json_str(&humantime::format_duration(*d))
}

impl Cli {
    /// Checks the flags, environment and manifest once. `m` is what `self` was parsed from.
    pub fn into_parts(self, m: &ArgMatches) -> anyhow::Result<(Settings, Action)> {
        let mut g = self.global;
        profile::check_name(&g.profile)?;
        let root = match g.home.take() {
            Some(h) => std::path::absolute(h)?,
            None => Home::default_root()?,
        };
        // `config check FILE` judges FILE alone: a broken active manifest must not stop it.
        let file = match &self.command {
            Command::Config(ConfigCommand::Check { .. }) => FileConfig::default(),
            _ => match config::locate(g.config.as_deref(), &root)? {
                Some(p) => config::load(&std::path::absolute(&p)?)?,
                None => FileConfig::default(),
            },
        };
        let settings = settings(g, m, &file, root)?;
        let action = action(self.command, &settings)?;
        Ok((settings, action))
    }
}

// `&Option` because it is a `Fn(&T)` for `T = Option<String>`.
#[allow(clippy::ref_option)]
fn show_opt(v: &Option<String>) -> serde_json::Value {
    v.as_deref().map_or(serde_json::Value::Null, |s| {
        json_str(&crate::secret::redact_text(s))
    })
}

fn some<T>(a: Option<At<T>>) -> Option<At<Option<T>>> {
    a.map(|At { value, line }| At {
        value: Some(value),
        line,
    })
}

/// Merges flags, environment and manifest into checked settings.
fn settings(
    mut g: Global,
    m: &ArgMatches,
    file: &FileConfig,
    root: std::path::PathBuf,
) -> anyhow::Result<Settings> {
    let mut l = Layers::new(m, file);

    let catalogue = l.pick(
        "catalogue",
        "catalogue",
        g.catalogue.take(),
        some(file.catalogue.clone()),
        show_opt,
    );
    let platform = l.pick(
        "platform",
        "platform",
        g.platform.take(),
        file.platform.clone().map(|At { value, line }| At {
            value: Some(value.to_string()),
            line,
        }),
        show_opt,
    );
    g.net.mirror = l.pick(
        "mirror",
        "mirror",
        g.net.mirror.take(),
        some(file.mirror.clone()),
        show_opt,
    );
    let lock_timeout = l.pick(
        "lock_timeout",
        "lock_timeout",
        g.lock_timeout,
        file.lock_timeout.clone(),
        |v| (*v).into(),
    );
    layer_network(&mut l, &mut g.net, file);
    if g.net.proxy.is_some() && g.net.no_proxy {
        return Err(SettingsError("both a proxy and no_proxy are set; drop one".into()).into());
    }
    for (key, value, line) in &file.policy_lines {
        l.shown.push(Shown {
            key: key.clone(),
            value: value.clone(),
            source: Source::File {
                path: file.path.clone().unwrap_or_default(),
                line: *line,
            },
        });
    }
    let schedule = l.file_only(
        "maintenance.windows",
        file.windows.clone(),
        Schedule::default(),
        |s| serde_json::json!(s.0.iter().map(ToString::to_string).collect::<Vec<_>>()),
    );
    let validation = layer_validation(&mut l, g.validate_timeout, file);
    let gc_keep = l.file_only(
        "gc.keep",
        file.gc_keep.clone().map(|At { value, line }| At {
            value: Some(value),
            line,
        }),
        None,
        |v| serde_json::json!(v),
    );
    let gc_older_than = l.file_only(
        "gc.older_than",
        file.gc_older_than.clone().map(|At { value, line }| At {
            value: Some(value),
            line,
        }),
        None,
        |v: &Option<Duration>| v.as_ref().map_or(serde_json::Value::Null, json_secs),
    );

    let platform = platform.as_deref().map(Platform::parse).transpose()?;
    let catalogue = catalogue
        .as_deref()
        .filter(|c| !c.is_empty())
        .map_or(Location::Embedded, Location::parse);
    let net = net_config(&g.net)?;
    let now = clock()?;
    let settings = Settings {
        net: net.0,
        mirror: net.1,
        cache_max: g.net.cache_max,
        catalogue_ttl: g.net.catalogue_ttl,
        home: Home::at(root),
        profile: g.profile,
        catalogue,
        platform,
        out: Output::new(g.json, g.quiet),
        lock_wait: Duration::from_secs(lock_timeout),
        validation,
        policy: file.policy.clone(),
        schedule,
        gc_keep,
        gc_older_than,
        now,
        config_path: file.path.clone(),
        shown: l.shown,
    };
    Ok(settings)
}

/// Unix seconds now, or what `PYSWAP_NOW` (RFC 3339) says: the clock for maintenance windows
/// and gc ages, settable so tests (and operators asking "would this run at …?") can pick it.
fn clock() -> Result<i64, SettingsError> {
    match std::env::var("PYSWAP_NOW") {
        Ok(t) if !t.is_empty() => Ok(humantime::parse_rfc3339_weak(&t)
            .map_err(|e| SettingsError(format!("PYSWAP_NOW `{t}` is not an RFC 3339 time ({e})")))?
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))),
        _ => Ok(crate::output::now_unix()),
    }
}

/// The network settings, each from flag, environment, manifest or default.
fn layer_network(l: &mut Layers, n: &mut NetArgs, file: &FileConfig) {
    n.offline = l.pick(
        "network.offline",
        "offline",
        n.offline,
        file.offline.clone(),
        |v| (*v).into(),
    );
    let hosts = |v: &Vec<String>| serde_json::json!(v);
    n.allowed_hosts = l.pick(
        "network.allowed_hosts",
        "allowed_hosts",
        std::mem::take(&mut n.allowed_hosts),
        file.allowed_hosts.clone(),
        hosts,
    );
    n.insecure_hosts = l.pick(
        "network.insecure_hosts",
        "insecure_hosts",
        std::mem::take(&mut n.insecure_hosts),
        file.insecure_hosts.clone(),
        hosts,
    );
    n.proxy = l.pick(
        "network.proxy",
        "proxy",
        n.proxy.take(),
        some(file.proxy.clone()),
        show_opt,
    );
    n.no_proxy = l.pick(
        "network.no_proxy",
        "no_proxy",
        n.no_proxy,
        file.no_proxy.clone(),
        |v| (*v).into(),
    );
    n.connect_timeout = l.pick(
        "network.connect_timeout",
        "connect_timeout",
        n.connect_timeout,
        file.connect_timeout.clone(),
        |v| (*v).into(),
    );
    n.http_timeout = l.pick(
        "network.http_timeout",
        "http_timeout",
        n.http_timeout,
        file.http_timeout.clone(),
        |v| (*v).into(),
    );
    n.download_timeout = l.pick(
        "network.download_timeout",
        "download_timeout",
        n.download_timeout,
        file.download_timeout.clone(),
        |v| (*v).into(),
    );
    n.retries = l.pick(
        "network.retries",
        "retries",
        n.retries,
        file.retries.clone(),
        |v| (*v).into(),
    );
    n.retry_backoff = l.pick(
        "network.retry_backoff",
        "retry_backoff",
        n.retry_backoff,
        file.retry_backoff.clone(),
        json_secs,
    );
    n.cache_max = l.pick(
        "network.cache_max",
        "cache_max",
        n.cache_max,
        file.cache_max.clone(),
        |v| (*v).into(),
    );
    n.catalogue_ttl = l.pick(
        "network.catalogue_ttl",
        "catalogue_ttl",
        n.catalogue_ttl,
        file.catalogue_ttl.clone(),
        json_secs,
    );
}

/// The validation policy: the timeout has a flag; the rest is manifest-only.
fn layer_validation(l: &mut Layers, timeout: u64, file: &FileConfig) -> validate::Policy {
    let defaults = validate::Policy::default();
    validate::Policy {
        timeout: Duration::from_secs(l.pick(
            "validation.timeout",
            "validate_timeout",
            timeout,
            file.validate_timeout.clone(),
            |v| (*v).into(),
        )),
        modules: l.file_only(
            "validation.modules",
            file.modules.clone(),
            defaults.modules,
            |v| serde_json::json!(v),
        ),
        health_check: l.file_only(
            "validation.health_check",
            file.health_check.clone(),
            defaults.health_check,
            |v| (*v).into(),
        ),
        checks: l.file_only("validation.checks", file.checks.clone(), Vec::new(), |v| {
            serde_json::json!(v.iter().map(|c| serde_json::json!({
                "name": c.name, "run": c.run, "timeout": c.timeout.as_secs(), "when": c.when,
            })).collect::<Vec<_>>())
        }),
    }
}

/// The action, free of clap (gc's defaults come from the manifest).
fn action(command: Command, settings: &Settings) -> anyhow::Result<Action> {
    Ok(match command {
        Command::Switch {
            request,
            pre,
            force,
        } => Action::Switch {
            request,
            pre,
            force,
        },
        Command::Upgrade { force } => Action::Upgrade { force },
        Command::Generations => Action::Generations,
        Command::Rollback { to, force } => Action::Rollback { to, force },
        Command::Gc {
            keep,
            older_than,
            dry_run,
            wait,
            staged,
            force,
        } => Action::Gc {
            keep: keep.or(settings.gc_keep),
            older_than: older_than.or(settings.gc_older_than),
            dry_run,
            wait: Duration::from_secs(wait),
            staged,
            force,
        },
        Command::Check { generation } => Action::Check { generation },
        Command::Verify { repair } => Action::Verify { repair },
        Command::List {
            available: true,
            pre,
            ..
        } => Action::ListAvailable { pre },
        Command::List { .. } => Action::ListInstalled,
        Command::Current => Action::Current,
        Command::Ps => Action::Ps,
        Command::Minors { remove } => Action::Minors { remove },
        Command::Env { shell } => Action::Env {
            fish: shell == Shell::Fish,
        },
        Command::Install {
            requests,
            pre,
            jobs,
        } => Action::Install {
            requests,
            pre,
            jobs: jobs as usize,
        },
        Command::Mirror {
            dir,
            requests,
            platforms,
            base_url,
            pre,
        } => Action::Mirror {
            dir: std::path::absolute(dir)?,
            requests,
            platforms: platforms
                .iter()
                .map(|p| Platform::parse(p))
                .collect::<Result<_, _>>()?,
            base_url,
            pre,
        },
        Command::Catalogue(CatalogueCommand::Update) => Action::CatalogueUpdate,
        Command::Config(ConfigCommand::Show) => Action::ConfigShow,
        Command::Config(ConfigCommand::Check { file }) => Action::ConfigCheck {
            file: std::path::absolute(file)?,
        },
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "pyswap", &mut out);
            Action::Completions {
                shell: shell.to_string(),
                script: String::from_utf8_lossy(&out).into_owned(),
            }
        }
        Command::Man => {
            let mut out = Vec::new();
            clap_mangen::Man::new(Cli::command()).render(&mut out)?;
            Action::Man {
                page: String::from_utf8_lossy(&out).into_owned(),
            }
        }
    })
}

/// Checks the network flags and reads the proxy environment.
fn net_config(a: &NetArgs) -> anyhow::Result<(NetConfig, Option<String>)> {
    let hosts = |list: &[String], what: &str| -> anyhow::Result<Vec<String>> {
        list.iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .map(|h| {
                let bare = h.strip_prefix("*.").unwrap_or(&h);
                if bare.is_empty()
                    || !bare
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
                {
                    return Err(SettingsError(format!(
                        "{what} `{h}` is not a host name, `*.domain` or an IP address"
                    ))
                    .into());
                }
                Ok(h)
            })
            .collect()
    };
    let proxies = Proxies {
        disabled: a.no_proxy,
        explicit: a.proxy.clone(),
        env: ProxyEnv::read(|k| std::env::var(k).ok()),
    };
    if !proxies.disabled {
        for u in proxies.urls() {
            fetch::check_proxy_url(u).map_err(SettingsError)?;
        }
    }
    if let Some(m) = &a.mirror
        && !(m.starts_with("https://") || m.starts_with("http://") || m.starts_with("file://"))
    {
        return Err(
            SettingsError(format!("mirror `{m}` is not an http(s):// or file:// URL")).into(),
        );
    }
    let cfg = NetConfig {
        offline: a.offline,
        allowed_hosts: hosts(&a.allowed_hosts, "allowed host")?,
        insecure_hosts: hosts(&a.insecure_hosts, "insecure host")?,
        proxies,
        connect_timeout: Duration::from_secs(a.connect_timeout.max(1)),
        read_timeout: Duration::from_secs(a.http_timeout.max(1)),
        total_timeout: Duration::from_secs(a.download_timeout.max(1)),
        retries: a.retries,
        backoff: a.retry_backoff,
    };
    Ok((cfg, a.mirror.clone().filter(|m| !m.is_empty())))
}
