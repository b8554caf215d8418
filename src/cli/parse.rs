//! Parsing the command line and resolving every setting; a usage error, clap's included, is one
//! line and exit 1, like any other failure the user can act on.

use std::ffi::OsString;

use clap::FromArgMatches;

use super::{Cli, Command};
use crate::commands;
use crate::interface::output::Output;
use crate::interface::settings::{Bootstrap, Settings};

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

/// `--json` anywhere before `--`: known before parsing, so a usage error is a document too.
pub fn wants_json(args: impl IntoIterator<Item = OsString>) -> bool {
    args.into_iter()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json")
}

/// Parses the command line and resolves every setting.
pub(super) fn parse() -> anyhow::Result<(Settings, Output, Command)> {
    let matches = match super::command().try_get_matches() {
        Ok(m) => m,
        Err(e) => return Err(usage(&e).into()),
    };
    let cli = Cli::from_arg_matches(&matches).map_err(|e| usage(&e))?;
    let flags = super::flags::given(&matches);
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
