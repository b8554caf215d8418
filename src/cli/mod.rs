//! The command line: the commands (each a `commands` module's argument struct), parsing with
//! every usage error as one line (`parse`), the setting flags built from their one definition in
//! `settings::defs` onto the commands that read them (`flags`), and what documents the command
//! line itself: completions and man pages (`docs`).

mod docs;
mod flags;
mod parse;

use clap::{ArgAction, Args, Parser, Subcommand};

use crate::commands::{self, Verb};
use crate::interface::output::Outcome;
use crate::interface::settings::defs::Group;
use docs::{Completions, Man};
pub(crate) use flags::command;
pub use parse::wants_json;

#[derive(Debug, Parser)]
#[command(
    name = "pyswap",
    version,
    about = "Install and switch Python runtimes through an immutable store with atomic, numbered generations"
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The global flags that are not settings: how to print.
#[derive(Debug, Args)]
#[command(next_help_heading = GLOBAL)]
pub(crate) struct Global {
    /// Print one JSON document on stdout instead of human output
    #[arg(long, global = true, display_order = 900)]
    pub(crate) json: bool,
    /// Print nothing but errors and data
    #[arg(long, short, global = true, display_order = 901)]
    pub(crate) quiet: bool,
    /// Log what pyswap does on stderr: -v steps, -vv details with timings, -vvv everything [env: `PYSWAP_LOG` (filter directives)]
    #[arg(long, short, global = true, action = ArgAction::Count, display_order = 902)]
    pub(crate) verbose: u8,
}

/// The heading of the flags every command takes, listed after a command's own.
const GLOBAL: &str = "Global options";

/// Runs the command the command line names: what the binary does.
pub fn run() -> anyhow::Result<Outcome> {
    let (settings, out, command) = parse::parse()?;
    commands::run(&settings, out, command.verb())
}

/// The commands: the enum clap parses into, the verb each runs, and what each reads.
macro_rules! verbs {
    ($($(#[$attr:meta])* $variant:ident($ty:ty),)*) => {
        #[derive(Debug, Subcommand)]
        pub(crate) enum Command {
            $($(#[$attr])* $variant($ty),)*
        }

        impl Command {
            /// The verb to run: one arm per command, so none can be left out.
            pub(crate) fn verb(&self) -> &dyn Verb {
                match self {
                    $(Self::$variant(c) => c,)*
                }
            }

            /// What each command reads and accepts of the setting flags ([`Verb::reads`]), in
            /// the order of the commands.
            pub(crate) fn surfaces() -> Vec<Surface> {
                vec![$(Surface {
                    reads: <$ty as Verb>::reads(),
                    accepts: <$ty as Verb>::accepts(),
                },)*]
            }
        }
    };
}

/// The setting flags one command reads (its help lists them) and accepts.
pub(crate) struct Surface {
    pub(crate) reads: &'static [Group],
    pub(crate) accepts: &'static [Group],
}

verbs! {
    /// Install a runtime if needed, validate it, and make it the profile's new current generation
    Switch(commands::switch::Switch),
    /// Switch to the newest patch release of the current minor version that the policy allows
    Upgrade(commands::upgrade::Upgrade),
    /// List the profile's generations, marking the current one
    Generations(commands::generations::Generations),
    /// Pin a request in .python-version here (or for the home with --global), or show the pin that applies
    Pin(commands::pin::Pin),
    /// Make an earlier generation current again (nothing is downloaded)
    Rollback(commands::rollback::Rollback),
    /// Delete old generations by policy and store entries nothing references
    Gc(commands::gc::Gc),
    /// Re-hash the current (or N-th) generation's runtime, re-run the validation policy on it and record the result
    Check(commands::check::Check),
    /// Re-hash store entries and cross-check the database, store and profile links
    Verify(commands::verify::Verify),
    /// List installed runtimes and what the catalogue offers, marking current, installed and staged
    List(commands::list::List),
    /// Print the current generation, its version and path
    Current(commands::current::Current),
    /// Print metrics for fleet dashboards (Prometheus text format)
    Metrics(commands::metrics::Metrics),
    /// List running processes that use a runtime of the store (which to restart after a switch)
    Ps(commands::ps::Ps),
    /// List the profile's per-minor paths (`profiles/<profile>@3.11`), or remove one
    Minors(commands::minors::Minors),
    /// Venvs that keep their build while they run and move with the profile's minor version (alone: list them)
    Venv(commands::venv::Venv),
    /// Print the shell line that puts the profile's bin directory on PATH
    Env(commands::env::EnvArgs),
    /// Put runtimes into the store without switching (pre-staging); downloads run in parallel
    Install(commands::install::Install),
    /// Remove installed runtimes and the old generations that use them, saying what was freed
    Uninstall(commands::uninstall::Uninstall),
    /// Print the path of an installed interpreter that fits a request (exit 1 if none)
    #[command(visible_alias = "which")]
    Find(commands::find::Find),
    /// Download and verify builds into DIR and write a catalogue beside them, for a fleet
    Mirror(commands::mirror::Mirror),
    /// Show what the store takes on disk, a file entries share counted once (alone), or share the identical files of older entries (optimise)
    Store(commands::store::StoreArgs),
    /// Fetch the configured catalogue now (update), or sign a catalogue file with a minisign key (sign)
    #[command(subcommand)]
    Catalogue(commands::catalogue::CatalogueCommand),
    /// Show the effective configuration, or check a manifest
    #[command(subcommand)]
    Config(commands::config::ConfigCommand),
    /// Print a shell completion script
    Completions(Completions),
    /// Print the man page (roff), or write one per command: `pyswap man --dir /usr/local/share/man/man1`
    Man(Man),
}
