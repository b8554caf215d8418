//! Command-line definitions (clap derive). Parsed once, then turned into [`Settings`] and an
//! [`Action`]; nothing past this module sees clap.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::catalog::Location;
use crate::fetch::proxy::{Proxies, ProxyEnv};
use crate::fetch::{self, NetConfig};
use crate::home::Home;
use crate::output::Output;
use crate::platform::Platform;
use crate::profile;
use crate::settings::{Settings, SettingsError};

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
    #[arg(long, global = true, env = "PYSWAP_CACHE_MAX", hide_env_values = true, default_value = "2GiB", value_parser = parse_size, value_name = "SIZE")]
    pub cache_max: u64,
    /// Use a cached remote catalogue without asking the server while it is younger than this
    #[arg(long, global = true, env = "PYSWAP_CATALOGUE_TTL", hide_env_values = true, default_value = "1h", value_parser = humantime::parse_duration, value_name = "AGE")]
    pub catalogue_ttl: Duration,
}

/// `2GiB`, `500MB`, `1024`, `0`: a size in bytes (binary and decimal suffixes).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size such as 2GiB or 500MB"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        "t" | "tb" => 1_000_000_000_000,
        "tib" => 1 << 40,
        _ => {
            return Err(format!(
                "`{s}` has an unknown unit (use B, KB, KiB, MB, MiB, GB, GiB)"
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("`{s}` is too large"))
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Install a runtime if needed and make it the profile's new current generation
    Switch {
        /// 3, 3.12, 3.12.4, 3.15.0rc1, >=3.10,<3.12, or a catalogue key; add +freethreaded or +debug for a variant
        request: String,
        /// Allow prereleases (alpha, beta, rc)
        #[arg(long)]
        pre: bool,
    },
    /// List the profile's generations, marking the current one
    Generations,
    /// Make an earlier generation current again (nothing is downloaded)
    Rollback {
        /// The generation to return to [default: the one before the current]
        #[arg(long, value_name = "N")]
        to: Option<u64>,
    },
    /// Delete old generations by policy and store entries nothing references
    Gc {
        /// Keep the newest N generations of each profile
        #[arg(long, value_name = "N")]
        keep: Option<u64>,
        /// Only delete generations older than this (e.g. 30d, 12h)
        #[arg(long, value_name = "AGE", value_parser = humantime::parse_duration)]
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
}

#[derive(Debug, Subcommand)]
pub enum CatalogueCommand {
    /// Fetch the configured catalogue now (a conditional request when a copy is cached)
    Update,
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
        request: String,
        pre: bool,
    },
    Generations,
    Rollback {
        to: Option<u64>,
    },
    Gc {
        keep: Option<u64>,
        older_than: Option<Duration>,
        dry_run: bool,
        wait: Duration,
        staged: bool,
    },
    ListAvailable {
        pre: bool,
    },
    ListInstalled,
    Current,
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
}

impl Cli {
    /// Checks the flags and environment once.
    pub fn into_parts(self) -> anyhow::Result<(Settings, Action)> {
        let g = self.global;
        profile::check_name(&g.profile)?;
        let root = match g.home {
            Some(h) => std::path::absolute(h)?,
            None => Home::default_root()?,
        };
        let platform = g.platform.as_deref().map(Platform::parse).transpose()?;
        let catalogue = g
            .catalogue
            .as_deref()
            .filter(|c| !c.is_empty())
            .map_or(Location::Embedded, Location::parse);
        let net = net_config(&g.net)?;
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
            lock_wait: Duration::from_secs(g.lock_timeout),
            validate_timeout: Duration::from_secs(g.validate_timeout),
        };
        let action = match self.command {
            Command::Switch { request, pre } => Action::Switch { request, pre },
            Command::Generations => Action::Generations,
            Command::Rollback { to } => Action::Rollback { to },
            Command::Gc {
                keep,
                older_than,
                dry_run,
                wait,
                staged,
            } => Action::Gc {
                keep,
                older_than,
                dry_run,
                wait: Duration::from_secs(wait),
                staged,
            },
            Command::List {
                available: true,
                pre,
                ..
            } => Action::ListAvailable { pre },
            Command::List { .. } => Action::ListInstalled,
            Command::Current => Action::Current,
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
        };
        Ok((settings, action))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("500MB"), Ok(500_000_000));
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("10 kib"), Ok(10 << 10));
        assert!(parse_size("lots").is_err() && parse_size("3 parsecs").is_err());
    }
}
