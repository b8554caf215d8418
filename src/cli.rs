//! Command-line definitions. The commands and their own arguments are clap derive types; the
//! flags that are settings are built from their one definition in `settings::defs` and read
//! back into [`Flags`], so clap never parses a setting's value (the settings module does, and
//! names the flag or variable when it is bad). Every usage error, clap's included, is one line
//! and exit 1, like any other failure the user can act on.

use std::ffi::OsString;
use std::fmt::Write as _;

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::commands::{self, Changes, Verb};
use crate::interface::output::{Outcome, Output};
use crate::interface::settings::{Bootstrap, Flags, Settings, defs};

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
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// Print nothing but errors and data
    #[arg(long, short, global = true)]
    pub(crate) quiet: bool,
    /// Log what pyswap does on stderr: -v steps, -vv details with timings, -vvv everything [env: `PYSWAP_LOG` (filter directives)]
    #[arg(long, short, global = true, action = ArgAction::Count)]
    pub(crate) verbose: u8,
}

/// The heading of the flags every command takes, listed after a command's own.
const GLOBAL: &str = "Global options";

/// The commands that may reach the network: the only ones whose help lists the network flags
/// (which are also accepted before any command, `pyswap --offline switch 3.12`).
const NETWORK_COMMANDS: [&str; 6] = ["switch", "upgrade", "install", "list", "mirror", "verify"];

/// A bad command line: an unknown flag, a missing or malformed argument.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub(crate) struct UsageError {
    pub(crate) message: String,
    pub(crate) help: Option<String>,
}

crate::ground::exit::register!(UsageError);
impl crate::ground::exit::Reason for UsageError {
    fn status(&self) -> crate::ground::exit::ExitStatus {
        crate::ground::exit::ExitStatus::Failure
    }

    fn help(&self) -> Option<std::borrow::Cow<'static, str>> {
        self.help.clone().map(Into::into)
    }
}

/// The whole command line: the derive types, the setting flags, the exit-status footer.
pub(crate) fn command() -> clap::Command {
    let mut cmd = Cli::command().after_help(format!(
        "Put `$PYSWAP_HOME/profiles/<profile>/bin` on PATH (see `pyswap env`).\n\n{}",
        crate::ground::exit::footer()
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
        cmd = match (m.command, m.heading) {
            (Some(sub), _) => cmd.mut_subcommand(sub, |c| c.arg(arg)),
            (None, Some(heading)) => {
                let arg = arg.help_heading(heading);
                let mut cmd = cmd.arg(arg.clone());
                for sub in NETWORK_COMMANDS.iter().chain(["catalogue"].iter()) {
                    cmd = cmd.mut_subcommand(sub, |c| with_network_flag(c, &arg));
                }
                // `config show` reports every setting and `gc` prunes the download cache: they
                // take the flags, and list only the one gc uses.
                for sub in ["config", "gc"] {
                    let shown = sub == "gc" && flag == "cache-max";
                    let arg = arg.clone().hide(!shown);
                    cmd = cmd.mut_subcommand(sub, |c| with_network_flag(c, &arg));
                }
                cmd
            }
            (None, None) => cmd.arg(arg.help_heading(GLOBAL).global(true)),
        };
    }
    // `--help` is listed with the other global flags, after a command's own.
    cmd.disable_help_flag(true).arg(
        Arg::new("help")
            .short('h')
            .long("help")
            .help("Print help")
            .action(ArgAction::Help)
            .global(true)
            .help_heading(GLOBAL),
    )
}

/// Adds a network flag to a command that may reach the network (and to `catalogue`'s own
/// subcommands).
fn with_network_flag(c: clap::Command, arg: &Arg) -> clap::Command {
    if c.has_subcommands() {
        let names: Vec<String> = c
            .get_subcommands()
            .map(|s| s.get_name().to_owned())
            .collect();
        names
            .iter()
            .fold(c, |c, n| c.mut_subcommand(n, |s| s.arg(arg.clone())))
    } else {
        c.arg(arg.clone())
    }
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
    let (settings, out, command) = parse()?;
    commands::run(&settings, out, command.verb())
}

/// Parses the command line and resolves every setting.
fn parse() -> anyhow::Result<(Settings, Output, Command)> {
    let matches = match command().try_get_matches() {
        Ok(m) => m,
        Err(e) => return Err(usage(&e).into()),
    };
    let cli = Cli::from_arg_matches(&matches).map_err(|e| usage(&e))?;
    let flags = flags(&matches);
    let env = |k: &str| std::env::var(k).ok();
    crate::interface::log::init(cli.global.verbose, &env)?;
    tracing::info!(
        command = matches.subcommand_name().unwrap_or("-"),
        "pyswap {}",
        env!("CARGO_PKG_VERSION")
    );
    let boot = Bootstrap::resolve(&flags, &env)?;
    let manifest = match &cli.command {
        Command::Config(commands::config::ConfigCommand::Check { .. }) => {
            crate::interface::settings::manifest::Manifest::default()
        }
        _ => boot.manifest()?,
    };
    let out = Output::new(cli.global.json, cli.global.quiet);
    if let Some(note) = &boot.home_note {
        out.warn(note);
    }
    let settings = Settings::resolve(boot, &flags, &env, &manifest)?;
    Ok((settings, out, cli.command))
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

/// The man pages (roff): `pyswap.1`, then `pyswap-switch.1` and one for every other command
/// (`pyswap-venv-create.1` for a nested one), as the SUBCOMMANDS section refers to them: (file
/// name, page).
pub(crate) fn man_pages() -> std::io::Result<Vec<(String, String)>> {
    // `help` is a command of the command line, not a page.
    let mut cmd = command().disable_help_subcommand(true);
    let nested: Vec<String> = cmd
        .get_subcommands()
        .filter(|c| c.has_subcommands())
        .map(|c| c.get_name().to_owned())
        .collect();
    for name in nested {
        cmd = cmd.mut_subcommand(name, |c| c.disable_help_subcommand(true));
    }
    cmd.build();
    let mut out = Vec::new();
    man_page(&cmd, true, &mut out)?;
    Ok(out)
}

fn man_page(
    cmd: &clap::Command,
    root: bool,
    out: &mut Vec<(String, String)>,
) -> std::io::Result<()> {
    let man = clap_mangen::Man::new(cmd.clone());
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut page)?;
    }
    if cmd.has_subcommands() {
        man.render_subcommands_section(&mut page)?;
    }
    let mut page = String::from_utf8_lossy(&page).into_owned();
    if root {
        // A tagged paragraph per status: roff aligns it, where the help's columns would not.
        page.push_str(".SH \"EXIT STATUS\"\n");
        for (code, meaning) in crate::ground::exit::table() {
            let _ = write!(page, ".TP\n{}\n{}\n", roff(&code), roff(meaning));
        }
        page.push_str(".SH FILES\nPut \\fB$PYSWAP_HOME/profiles/<profile>/bin\\fR on PATH (see \\fBpyswap env\\fR).\n");
    } else if let Some(after) = cmd.get_after_help() {
        // Examples keep their columns: no filling.
        let text = after.to_string();
        let (title, body) = match text.strip_prefix("Examples:\n") {
            Some(body) => ("EXAMPLES", body.to_owned()),
            None => ("NOTES", text),
        };
        let _ = write!(page, ".SH {title}\n.nf\n");
        for line in body.lines() {
            page.push_str(&roff(line));
            page.push('\n');
        }
        page.push_str(".fi\n");
    }
    out.push((format!("{}.1", cmd.get_name()), page));
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let named = sub
            .clone()
            .name(format!("{}-{}", cmd.get_name(), sub.get_name()));
        man_page(&named, false, out)?;
    }
    Ok(())
}

/// Text as roff reads it literally: backslashes and dashes escaped, no leading control character.
fn roff(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with(['.', '\'']) {
        format!("\\&{escaped}")
    } else {
        escaped
    }
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

    fn run(&self, _: &Settings, out: Output) -> anyhow::Result<Outcome> {
        let script = completions(self.shell);
        out.data(&script)?;
        Outcome::of(&serde_json::json!({ "shell": self.shell.to_string(), "script": script }))
    }
}

/// `pyswap man`.
#[derive(Debug, Args)]
pub(crate) struct Man {
    /// Write pyswap.1 and a page per command (pyswap-switch.1, …) into DIR instead of printing
    /// pyswap.1
    #[arg(long, value_name = "DIR")]
    dir: Option<std::path::PathBuf>,
}

impl Verb for Man {
    fn changes(&self) -> Changes {
        Changes::NOTHING
    }

    fn run(&self, _: &Settings, out: Output) -> anyhow::Result<Outcome> {
        let pages = man_pages()?;
        let Some(dir) = &self.dir else {
            let page = &pages[0].1;
            out.data(page)?;
            return Outcome::of(&serde_json::json!({ "page": page }));
        };
        let write = |path: &std::path::Path, page: Option<&str>| {
            match page {
                Some(p) => std::fs::write(path, p),
                None => std::fs::create_dir_all(path),
            }
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
        };
        write(dir, None)?;
        for (name, page) in &pages {
            write(&dir.join(name), Some(page))?;
        }
        out.say(&format!(
            "wrote {} man pages into {} (pyswap.1, pyswap-switch.1, …)",
            pages.len(),
            dir.display()
        ));
        Outcome::of(&serde_json::json!({
            "dir": dir.display().to_string(),
            "pages": pages.iter().map(|(n, _)| n).collect::<Vec<_>>(),
        }))
    }
}
