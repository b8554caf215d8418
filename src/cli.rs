//! Command-line definitions. The commands and their own arguments are clap derive types; the
//! flags that are settings are built from their one definition in `settings::defs` and read
//! back into [`Flags`], so clap never parses a setting's value (the settings module does, and
//! names the flag or variable when it is bad). Every usage error, clap's included, is one line
//! and exit 1, like any other failure the user can act on.

use std::ffi::OsString;

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::commands::{self, Changes, Verb};
use crate::output::{Outcome, Output};
use crate::settings::{Bootstrap, Flags, Settings, defs};

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
pub(crate) struct Global {
    /// Print one JSON document on stdout instead of human output
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// Print nothing but errors and data
    #[arg(long, short, global = true)]
    pub(crate) quiet: bool,
    /// Log what pyswap does on stderr: -v steps, -vv details with timings, -vvv everything [env: `PYSWAP_LOG` (filter directives)]
    #[arg(long, short, global = true, action = ArgAction::Count)]
    pub(crate) verbose: u8,
}

/// A bad command line: an unknown flag, a missing or malformed argument.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub(crate) struct UsageError {
    pub(crate) message: String,
    pub(crate) help: Option<String>,
}

crate::exit::register!(UsageError);
impl crate::exit::Reason for UsageError {
    fn status(&self) -> crate::exit::ExitStatus {
        crate::exit::ExitStatus::Failure
    }

    fn help(&self) -> Option<std::borrow::Cow<'static, str>> {
        self.help.clone().map(Into::into)
    }
}

/// The whole command line: the derive types, the setting flags, the exit-status footer.
pub(crate) fn command() -> clap::Command {
    let mut cmd = Cli::command().after_help(format!(
        "Put `$PYSWAP_HOME/profiles/<profile>/bin` on PATH (see `pyswap env`).\n\n{}",
        crate::exit::footer()
    ));
    for d in defs::ALL {
        let m = d.meta();
        let Some(flag) = m.flag else { continue };
        let mut help = m.help.to_owned();
        if let Some(env) = m.env {
            help = format!("{help} [env: {env}]");
        }
        if let Some(default) = m.default.filter(|d| !d.is_empty() && *d != "false") {
            help = format!("{help} [default: {default}]");
        }
        let mut arg = Arg::new(m.key).long(flag).help(help);
        arg = if d.switch() {
            arg.action(ArgAction::SetTrue)
        } else if d.repeated() {
            arg.action(ArgAction::Append).value_name(m.value_name)
        } else {
            arg.action(ArgAction::Set).value_name(m.value_name)
        };
        if let Some(h) = m.heading {
            arg = arg.help_heading(h);
        }
        cmd = match m.command {
            Some(sub) => cmd.mut_subcommand(sub, |c| c.arg(arg)),
            None => cmd.arg(arg.global(true)),
        };
    }
    cmd
}

/// `--json` anywhere before `--`: known before parsing, so a usage error is a document too.
pub fn wants_json(args: impl IntoIterator<Item = OsString>) -> bool {
    args.into_iter()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json")
}

/// Runs the command the command line names: what the binary does.
pub fn run() -> anyhow::Result<Outcome> {
    let (settings, command) = parse()?;
    commands::run(&settings, command.verb())
}

/// Parses the command line and resolves every setting.
fn parse() -> anyhow::Result<(Settings, Command)> {
    let matches = match command().try_get_matches() {
        Ok(m) => m,
        Err(e) => return Err(usage(&e).into()),
    };
    let cli = Cli::from_arg_matches(&matches).map_err(|e| usage(&e))?;
    let flags = flags(&matches);
    let env = |k: &str| std::env::var(k).ok();
    crate::log::init(cli.global.verbose, &env)?;
    tracing::info!(command = ?matches.subcommand_name(), "pyswap {}", env!("CARGO_PKG_VERSION"));
    let boot = Bootstrap::resolve(&flags, &env)?;
    let manifest = match &cli.command {
        Command::Config(commands::config::ConfigCommand::Check { .. }) => {
            crate::settings::manifest::Manifest::default()
        }
        _ => boot.manifest()?,
    };
    let out = Output::new(cli.global.json, cli.global.quiet);
    let settings = Settings::resolve(boot, &flags, &env, &manifest, out)?;
    Ok((settings, cli.command))
}

/// A clap error as one line (help and version requests are printed and exit 0 here).
fn usage(e: &clap::Error) -> UsageError {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        e.exit();
    }
    let text = e.render().to_string();
    if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        eprint!("{text}");
        return UsageError {
            message: "no command given".into(),
            help: Some("`pyswap --help` lists the commands".into()),
        };
    }
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let message = lines
        .next()
        .unwrap_or("bad command line")
        .trim_start_matches("error: ")
        .to_owned();
    let rest: Vec<&str> = lines.collect();
    let tip = rest.iter().find_map(|l| {
        l.strip_prefix("tip: ")
            .or_else(|| {
                l.strip_prefix("[possible values: ")
                    .map(|v| v.trim_end_matches(']'))
            })
            .map(|t| {
                if l.starts_with('[') {
                    format!("possible values: {t}")
                } else {
                    t.to_owned()
                }
            })
    });
    let usage = rest
        .iter()
        .find_map(|l| l.strip_prefix("Usage: "))
        .map(|u| format!("usage: {u}; `--help` says more"));
    UsageError {
        message,
        help: tip
            .or(usage)
            .or_else(|| Some("`pyswap --help` lists the commands and flags".into())),
    }
}

/// The setting flags given on the command line (at any level: a global flag may follow the
/// subcommand).
fn flags(m: &ArgMatches) -> Flags {
    let mut out = Flags::default();
    for d in defs::ALL {
        let meta = d.meta();
        let Some(flag) = meta.flag else { continue };
        let mut level = Some(m);
        while let Some(here) = level {
            if here.ids().any(|i| i == meta.key)
                && here.value_source(meta.key) == Some(ValueSource::CommandLine)
            {
                let values = if d.switch() {
                    Vec::new()
                } else {
                    here.get_many::<String>(meta.key)
                        .map(|v| v.cloned().collect())
                        .unwrap_or_default()
                };
                out.0.insert(meta.key, (format!("--{flag}"), values));
            }
            level = here.subcommand().map(|(_, sub)| sub);
        }
    }
    out
}

/// The completion script for `shell`.
pub(crate) fn completions(shell: clap_complete::Shell) -> String {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command(), "pyswap", &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The man page (roff).
pub(crate) fn man() -> std::io::Result<String> {
    let mut out = Vec::new();
    clap_mangen::Man::new(command()).render(&mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
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
    /// Venvs that keep their build while they run and move with the profile's minor version
    #[command(subcommand)]
    Venv(commands::venv::VenvCommand),
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
    /// Manage the cached copy of a remote catalogue
    #[command(subcommand)]
    Catalogue(commands::catalogue::CatalogueCommand),
    /// Show the effective configuration, or check a manifest
    #[command(subcommand)]
    Config(commands::config::ConfigCommand),
    /// Print a shell completion script
    Completions(Completions),
    /// Print the man page (roff), e.g. `pyswap man > /usr/local/share/man/man1/pyswap.1`
    Man(Man),
}

impl Command {
    /// The verb to run: one arm per command, so none can be left out.
    pub(crate) fn verb(&self) -> &dyn Verb {
        match self {
            Self::Switch(c) => c,
            Self::Upgrade(c) => c,
            Self::Generations(c) => c,
            Self::Pin(c) => c,
            Self::Rollback(c) => c,
            Self::Gc(c) => c,
            Self::Check(c) => c,
            Self::Verify(c) => c,
            Self::List(c) => c,
            Self::Current(c) => c,
            Self::Metrics(c) => c,
            Self::Ps(c) => c,
            Self::Minors(c) => c,
            Self::Venv(c) => c,
            Self::Env(c) => c,
            Self::Install(c) => c,
            Self::Uninstall(c) => c,
            Self::Find(c) => c,
            Self::Mirror(c) => c,
            Self::Catalogue(c) => c,
            Self::Config(c) => c,
            Self::Completions(c) => c,
            Self::Man(c) => c,
        }
    }
}

/// `pyswap completions SHELL`: about the command line itself, so it lives here.
#[derive(Debug, Args)]
pub(crate) struct Completions {
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

impl Verb for Completions {
    fn changes(&self) -> Changes {
        Changes::NOTHING
    }

    fn run(&self, s: &Settings) -> anyhow::Result<Outcome> {
        let script = completions(self.shell);
        s.out.data(&script)?;
        Outcome::of(&serde_json::json!({ "shell": self.shell.to_string(), "script": script }))
    }
}

/// `pyswap man`.
#[derive(Debug, Args)]
pub(crate) struct Man {}

impl Verb for Man {
    fn changes(&self) -> Changes {
        Changes::NOTHING
    }

    fn run(&self, s: &Settings) -> anyhow::Result<Outcome> {
        let page = man()?;
        s.out.data(&page)?;
        Outcome::of(&serde_json::json!({ "page": page }))
    }
}
