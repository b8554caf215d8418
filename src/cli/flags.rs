//! The setting flags: built from their one definition in `settings::defs` onto the commands
//! that read them (`Verb::reads`), and read back into [`Flags`] so clap never parses a setting's
//! value (the settings module does, and names the flag or variable when it is bad).

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, CommandFactory};

use super::{Cli, Command, GLOBAL};
use crate::interface::settings::Flags;
use crate::interface::settings::defs::{self, Group};

/// The whole command line: the derive types, the setting flags, the exit-status footer.
///
/// A setting flag of no group (`--home`, `--profile`) is global. Every other flag is taken
/// before any command (`pyswap --offline switch 3.12`), and after a command that accepts its
/// group; the command's help lists it only when the command reads it ([`Verb::reads`]).
///
/// [`Verb::reads`]: crate::commands::Verb::reads
pub(crate) fn command() -> clap::Command {
    let mut cmd = Cli::command().after_help(format!(
        "Put `$PYSWAP_HOME/profiles/<profile>/bin` on PATH (see `pyswap env`).\n\n{}",
        crate::ground::exit::footer()
    ));
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .collect();
    let surfaces = Command::surfaces();
    assert_eq!(names.len(), surfaces.len(), "a surface per command");
    // The flags with a section of their own (`Network:`) first: a help lists its sections in
    // the order their first flag was added, a command's own options first, the global ones last.
    let (sectioned, others): (Vec<_>, Vec<_>) = defs::ALL
        .iter()
        .enumerate()
        .partition(|(_, d)| d.meta().heading.is_some());
    for (order, d) in sectioned.into_iter().chain(others) {
        let m = d.meta();
        let Some(flag) = m.flag else { continue };
        let arg = setting_arg(*d, flag).display_order(FIRST_SETTING + order);
        let Some(group) = m.group else {
            cmd = cmd.arg(arg.help_heading(GLOBAL).global(true));
            continue;
        };
        // gc's own flags are its options; the others go under their section or the global ones.
        let arg = match (group, m.heading) {
            (Group::Gc, _) => arg,
            (_, heading) => arg.help_heading(heading.unwrap_or(GLOBAL)),
        };
        if group != Group::Gc {
            cmd = cmd.arg(arg.clone());
        }
        for (name, surface) in names.iter().zip(&surfaces) {
            let reads = surface.reads.contains(&group);
            if reads || group.lenient() || surface.accepts.contains(&group) {
                let arg = arg.clone().hide(!reads);
                cmd = cmd.mut_subcommand(name, |c| on_leaves(c, &arg));
            }
        }
    }
    // `--help` is listed with the other global flags, after a command's own.
    cmd.disable_help_flag(true).arg(
        Arg::new("help")
            .short('h')
            .long("help")
            .help("Print help")
            .action(ArgAction::Help)
            .global(true)
            .help_heading(GLOBAL)
            .display_order(usize::MAX),
    )
}

/// Where the setting flags start in a help's order, in the order `settings::defs` lists them:
/// after a command's own options and the output flags (`--json`, `--quiet`, `--verbose`, 900
/// to 902).
const FIRST_SETTING: usize = 1000;

/// The flag of setting `d`, with its environment variable and default in its help.
fn setting_arg(d: &dyn defs::Describe, flag: &'static str) -> Arg {
    let m = d.meta();
    let mut help = m.help.to_owned();
    if let Some(env) = m.env {
        help = format!("{help} [env: {env}]");
    }
    if let Some(default) = m.default.filter(|d| !d.is_empty() && *d != "false") {
        help = format!("{help} [default: {default}]");
    }
    let arg = Arg::new(m.key).long(flag).help(help);
    if d.switch() {
        arg.action(ArgAction::SetTrue)
    } else if d.repeated() {
        arg.action(ArgAction::Append).value_name(m.value_name)
    } else {
        arg.action(ArgAction::Set).value_name(m.value_name)
    }
}

/// Adds `arg` to a command and to each of its subcommands (`catalogue update`, `venv create`).
fn on_leaves(c: clap::Command, arg: &Arg) -> clap::Command {
    let names: Vec<String> = c
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    names.iter().fold(c.arg(arg.clone()), |c, n| {
        c.mut_subcommand(n, |s| on_leaves(s, arg))
    })
}

/// The setting flags given on the command line (at any level: a global flag may follow the
/// subcommand).
pub(super) fn given(m: &ArgMatches) -> Flags {
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
