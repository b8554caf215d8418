//! Command-line definitions (clap derive). Parsed once, then turned into [`Settings`] and an
//! [`Action`]; nothing past this module sees clap.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::catalog::Location;
use crate::home::Home;
use crate::output::Output;
use crate::platform::Platform;
use crate::profile;
use crate::settings::Settings;

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
    },
    ListAvailable {
        pre: bool,
    },
    ListInstalled,
    Current,
    Env {
        fish: bool,
    },
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
        let settings = Settings {
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
            } => Action::Gc {
                keep,
                older_than,
                dry_run,
                wait: Duration::from_secs(wait),
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
        };
        Ok((settings, action))
    }
}
