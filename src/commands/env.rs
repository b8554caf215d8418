//! `pyswap env`: the shell line that puts the profile's `bin` on PATH.

use serde::Serialize;

use crate::profile::Profiles;
use crate::settings::Settings;

#[derive(Serialize)]
struct Env {
    bin: String,
}

pub fn run(s: &Settings, fish: bool) -> anyhow::Result<()> {
    let bin = Profiles::new(s.home.profiles())
        .profile_path(&s.profile)
        .join("bin")
        .display()
        .to_string();
    let quoted = format!("'{}'", bin.replace('\'', r"'\''"));
    let line = if fish {
        format!("set -gx PATH {quoted} $PATH\n")
    } else {
        format!("export PATH={quoted}:\"$PATH\"\n")
    };
    s.out.data(&line)?;
    s.out.json(&Env { bin })
}
