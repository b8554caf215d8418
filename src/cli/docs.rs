//! What documents the command line itself: shell completions, man pages, and the two commands
//! that print them.

use std::fmt::Write as _;

use clap::Args;

use super::command;
use crate::commands::{Changes, Verb};
use crate::interface::output::{Outcome, Output};
use crate::interface::settings::Settings;
use crate::interface::settings::defs::Group;

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

/// `pyswap completions SHELL`: about the command line itself, so it lives here.
#[derive(Debug, Args)]
pub(crate) struct Completions {
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

impl Verb for Completions {
    fn reads() -> &'static [Group] {
        &[]
    }

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
    fn reads() -> &'static [Group] {
        &[]
    }

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
