//! `pyswap env`: the line each shell sources, quoted by that shell's own rules.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::TestContext;

/// A shell of the machine, or a skip (a CI failure: `.ci/run` installs them).
fn shell(name: &str) -> Option<PathBuf> {
    let found = ["/usr/bin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} is missing; .ci/run installs it"
        );
        eprintln!("NOTICE (skipped): {name} is not installed");
    }
    found
}

// Issue 25 (the third hardening round): an attack that worked before.
#[test]
fn env_is_quoted_by_each_shells_own_rules() {
    let mut t = TestContext::new();
    // A home name that runs a command when a fish user sources POSIX quoting (fish 3.6 reads
    // `\'` in single quotes as an escaped quote), and one that breaks POSIX quoting naively.
    for evil in [
        r"x\';/usr/bin/touch PWNED;echo \'y",
        "it's $(touch PWNED) `touch PWNED` \\ \"q\"",
    ] {
        t.home = t.dir.path().join(evil);
        let bin = t.home.join("profiles/default/bin");
        for (sh, flag) in [
            ("sh", None),
            ("dash", Some("sh")),
            ("bash", None),
            ("bash", Some("bash")),
            ("zsh", Some("zsh")),
            ("fish", Some("fish")),
        ] {
            let Some(program) = shell(sh) else { continue };
            let mut args = vec!["env"];
            if let Some(f) = flag {
                args.extend(["--shell", f]);
            }
            let line = t.run(&args).ok().stdout;
            let work = tempfile::tempdir().unwrap();
            let script = work.path().join("env.sh");
            std::fs::write(&script, &line).unwrap();
            let print = if sh == "fish" {
                "source ./env.sh; printf '%s\\n' $PATH[1]"
            } else {
                ". ./env.sh; printf '%s\\n' \"${PATH%%:*}\""
            };
            let out = Command::new(&program)
                .args(["-c", print])
                .current_dir(work.path())
                .env("PATH", "/usr/bin:/bin")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{sh}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                !work.path().join("PWNED").exists(),
                "{sh} ran a command from {line}"
            );
            assert_eq!(
                String::from_utf8_lossy(&out.stdout).trim_end_matches('\n'),
                bin.to_str().unwrap(),
                "{sh}: {line}"
            );
        }
    }
    // With PATH unset or empty the line adds no empty element (the working directory).
    t.home = t.dir.path().join("plain");
    let line = t.run(&["env"]).ok().stdout;
    for unset in ["unset PATH", "PATH="] {
        let out = Command::new("/bin/sh")
            .args(["-c", &format!("{unset}\n{line}printf '%s' \"$PATH\"")])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            t.home.join("profiles/default/bin").to_str().unwrap(),
            "{unset}"
        );
    }
    // A `:` would split PATH: refused with the reason.
    t.home = t.dir.path().join("a:b");
    t.run(&["env"])
        .fails(1, "PATH separates its directories with `:`");
}
