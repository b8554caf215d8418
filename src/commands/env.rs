//! `pyswap env`: the shell line that puts the profile's `bin` on PATH, quoted by each shell's
//! own rules (POSIX `sh`, and so dash, bash and zsh; fish, whose single quotes treat `\'` and
//! `\\` as escapes).

use serde::Serialize;

use super::{Changes, Verb};
use crate::ground::text::posix_quoted;
use crate::interface::output::{Outcome, Output};
use crate::interface::settings::Settings;
use crate::interface::settings::defs::Group;
use crate::storage::profile::Profiles;

#[derive(Serialize)]
struct Env {
    bin: String,
}

/// `text` in fish single quotes: `\` and `'` are the two characters escaped there.
fn fish_quoted(text: &str) -> String {
    format!("'{}'", text.replace('\\', r"\\").replace('\'', r"\'"))
}

/// The line for `bin`: PATH with `bin` first, and no empty element when PATH was unset or empty
/// (an empty element is the working directory).
fn line(bin: &str, fish: bool) -> Result<String, super::CommandError> {
    let refuse = |why| super::CommandError::NotOnPath {
        bin: bin.to_owned(),
        why,
    };
    if bin.contains(':') {
        return Err(refuse("PATH separates its directories with `:`"));
    }
    if bin.chars().any(char::is_control) {
        return Err(refuse("it holds control characters"));
    }
    Ok(if fish {
        format!("set -gx PATH {} $PATH\n", fish_quoted(bin))
    } else {
        format!("export PATH={}${{PATH:+:$PATH}}\n", posix_quoted(bin))
    })
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  eval \"$(pyswap env)\"                put the profile's bin on PATH in this shell
  pyswap env --shell fish | source")]
pub(crate) struct EnvArgs {
    /// The shell that sources the line
    #[arg(long, value_enum, default_value_t = Shell::Sh)]
    shell: Shell,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Shell {
    /// POSIX sh, dash and any shell that reads sh (the default)
    Sh,
    /// bash: the POSIX line
    Bash,
    /// zsh: the POSIX line
    Zsh,
    /// fish: its own quoting and `set -gx`
    Fish,
}

impl Verb for EnvArgs {
    fn reads() -> &'static [Group] {
        &[]
    }

    fn changes(&self) -> Changes {
        Changes::NOTHING
    }

    fn run(&self, s: &Settings, out: Output) -> anyhow::Result<Outcome> {
        run(s, out, self.shell == Shell::Fish)
    }
}

fn run(s: &Settings, out: Output, fish: bool) -> anyhow::Result<Outcome> {
    let bin = Profiles::new(s.home.profiles())
        .profile_path(&s.profile)
        .join("bin")
        .display()
        .to_string();
    out.data(&line(&bin, fish)?)?;
    Outcome::of(&Env { bin })
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_shell_gets_its_own_quoting() {
        let evil = r"/h/x\';touch X;echo \'y/bin";
        assert_eq!(
            super::line(evil, true).unwrap(),
            "set -gx PATH '/h/x\\\\\\';touch X;echo \\\\\\'y/bin' $PATH\n"
        );
        assert_eq!(
            super::line("/h/it's/bin", false).unwrap(),
            "export PATH='/h/it'\\''s/bin'${PATH:+:$PATH}\n"
        );
        assert!(super::line("/a:b/bin", false).is_err());
        assert!(super::line("/a\nb/bin", true).is_err());
    }
}
