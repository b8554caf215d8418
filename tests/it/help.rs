//! Snapshots of the help text, so a change to the CLI surface is a reviewed change.

use crate::common::TestContext;

#[test]
fn help_text() {
    let t = TestContext::new();
    insta::assert_snapshot!("help", t.run(&["--help"]).ok().stdout);
    insta::assert_snapshot!("switch_help", t.run(&["switch", "--help"]).ok().stdout);
    insta::assert_snapshot!("gc_help", t.run(&["gc", "--help"]).ok().stdout);
    insta::assert_snapshot!("verify_help", t.run(&["verify", "--help"]).ok().stdout);
    insta::assert_snapshot!("config_help", t.run(&["config", "--help"]).ok().stdout);
}

// Issue 27: a command's own options come first, the global ones under their heading, the
// network ones only where the network is used; examples close the help.
#[test]
fn help_puts_a_commands_own_options_first_with_examples() {
    let t = TestContext::new();
    for cmd in ["pin", "uninstall", "find"] {
        insta::assert_snapshot!(format!("{cmd}_help"), t.run(&[cmd, "--help"]).ok().stdout);
    }
    let gc = t.run(&["gc", "--help"]).ok().stdout;
    let own = gc.find("--keep").unwrap();
    let global = gc.find("Global options:").unwrap();
    assert!(own < global && gc.find("--json").unwrap() > global, "{gc}");
    assert!(gc.contains("Examples:") && !gc.contains("--proxy"), "{gc}");
    assert!(gc.lines().count() < 50, "{gc}");
    let pin = t.run(&["pin", "--help"]).ok().stdout;
    assert!(
        !pin.contains("--proxy") && !pin.contains("Network:"),
        "{pin}"
    );
    let switch = t.run(&["switch", "--help"]).ok().stdout;
    assert!(
        switch.contains("Network:") && switch.contains("--offline"),
        "{switch}"
    );
    // Network flags are still taken before any command, and by a command that uses them.
    t.run(&["--offline", "list", "--installed"]).ok();
    t.run(&["list", "--installed", "--offline"]).ok();
    t.run(&["pin", "--offline"])
        .fails(1, "unexpected argument '--offline'");
}

// Issue 27: `pyswap man --dir` writes the pages the SUBCOMMANDS sections refer to, and the exit
// statuses are a tagged list roff aligns.
#[test]
fn man_pages_exist_for_every_command_they_name() {
    let t = TestContext::new();
    let dir = t.dir.path().join("man1");
    t.run(&["man", "--dir", dir.to_str().unwrap()]).ok();
    let pages: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(pages.contains(&"pyswap-switch.1".to_owned()));
    assert!(pages.contains(&"pyswap-venv-create.1".to_owned()));
    for page in &pages {
        let text = std::fs::read_to_string(dir.join(page)).unwrap();
        for (i, _) in text.match_indices("(1)") {
            let start = text[..i].rfind('\n').map_or(0, |n| n + 1);
            let name = text[start..i].replace("\\-", "-");
            assert!(
                pages.contains(&format!("{name}.1")),
                "{page} refers to {name}(1)"
            );
        }
    }
    let root = t.run(&["man"]).ok().stdout;
    assert_eq!(root, std::fs::read_to_string(dir.join("pyswap.1")).unwrap());
    let status = &root[root.find(".SH \"EXIT STATUS\"").unwrap()..];
    assert!(status.contains(".TP\n1\na failure to act on"), "{status}");
    let switch = std::fs::read_to_string(dir.join("pyswap-switch.1")).unwrap();
    assert!(switch.contains(".SH EXAMPLES\n.nf\n"), "{switch}");
    // man(1) itself renders it, when this machine has it.
    if let Ok(out) = std::process::Command::new("man")
        .arg("-l")
        .arg(dir.join("pyswap.1"))
        .env("MANWIDTH", "80")
        .output()
        && out.status.success()
    {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("EXIT STATUS"), "{text}");
    }
}

// Issue 39 (item 5): a command's help lists only the setting flags it reads; a flag of a
// lenient group (catalogue, install, validation) is still taken by every command, so a wrapper
// that passes it everywhere keeps working, and a network flag only where the network is used.
#[test]
fn a_commands_help_shows_the_settings_it_reads() {
    let t = TestContext::new();
    let gc = t.run(&["gc", "--help"]).ok().stdout;
    for hidden in [
        "--compile-bytecode",
        "--validate-timeout",
        "--catalogue",
        "--offline",
    ] {
        assert!(!gc.contains(hidden), "gc --help lists {hidden}: {gc}");
    }
    assert!(gc.contains("--keep") && gc.contains("--cache-max"), "{gc}");
    let switch = t.run(&["switch", "--help"]).ok().stdout;
    for shown in [
        "--compile-bytecode",
        "--validate-timeout",
        "--catalogue",
        "--offline",
    ] {
        assert!(
            switch.contains(shown),
            "switch --help lacks {shown}: {switch}"
        );
    }
    let check = t.run(&["check", "--help"]).ok().stdout;
    assert!(
        check.contains("--validate-timeout") && !check.contains("--compile-bytecode"),
        "{check}"
    );
    // Taken, though not shown, before and after the command.
    t.run(&["completions", "bash", "--compile-bytecode", "false"])
        .ok();
    t.run(&["--validate-timeout", "5", "env"]).ok();
    t.run(&["env", "--offline"])
        .fails(1, "unexpected argument '--offline'");
}
