//! The documented output shapes: `--json` documents deserialized strictly (an added, removed or
//! renamed field fails here), and snapshots of the human output with paths, digests and times
//! masked.

use std::fmt::Write;

use serde::Deserialize;

use crate::common::{Compression, Fake, TestContext};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Generation {
    number: u64,
    version: String,
    build: Option<String>,
    key: String,
    store_path: String,
    created: String,
    current: bool,
    request: String,
    command: String,
    validation: Option<GenerationValidation>,
    intact: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct GenerationValidation {
    phase: String,
    ok: bool,
    at: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct Switched {
    pub profile: String,
    pub generation: u64,
    pub previous: Option<u64>,
    pub version: String,
    pub build: Option<String>,
    pub variant: String,
    pub older_than_build: Option<String>,
    pub key: String,
    pub store_path: String,
    pub installed: bool,
    pub changed: bool,
    pub validated: Option<String>,
    pub health_check: Option<bool>,
    pub created: String,
    pub minor_path: Option<String>,
    pub minor_change: Option<MinorChange>,
    pub previous_runtime_processes: Option<u64>,
    pub following_venv_processes: Vec<FollowingProcess>,
    pub venvs: Vec<VenvOutcome>,
    pub repaired: Vec<String>,
    pub dry_run: bool,
}

/// A running process of a venv made from a profile or minor path (`switch`, `rollback`).
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct FollowingProcess {
    pub pid: u32,
    pub venv: String,
    pub home: String,
}

/// What a change of the profile did to a registered venv.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct VenvOutcome {
    pub path: String,
    pub state: String,
    pub minor: String,
    pub from: String,
    pub to: String,
    pub detail: Option<String>,
}

/// One element of `venv list --json`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct VenvListed {
    pub path: String,
    pub profile: String,
    pub minor: String,
    pub entry: String,
    pub version: Option<String>,
    pub build: Option<String>,
    pub state: String,
    pub detail: Option<String>,
    pub held: Option<String>,
    pub other_minor: Option<String>,
}

/// `venv create --json`, `venv adopt --json`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct VenvRegistered {
    pub path: String,
    pub profile: String,
    pub minor: String,
    pub entry: String,
    pub version: String,
    pub store_path: String,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct MinorChange {
    pub from: String,
    pub to: String,
    pub from_path: String,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct Running {
    pub pid: u32,
    pub user: String,
    pub command: String,
    pub entry: String,
    pub version: Option<String>,
    pub build: Option<String>,
    pub profile: Option<String>,
    pub generation: Option<u64>,
    pub current: bool,
    pub old_runtime: bool,
    pub unit: Option<String>,
    pub user_unit: Option<String>,
    pub venv: Option<String>,
    pub venv_follows_profile: bool,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct MinorPath {
    pub minor: String,
    pub path: String,
    pub generation: Option<u64>,
    pub version: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ErrorDoc {
    pub error: ErrorBody,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ErrorBody {
    pub message: String,
    pub help: Option<String>,
    pub exit_code: u8,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct Checked {
    pub profile: String,
    pub generation: u64,
    pub version: String,
    pub current: bool,
    pub ok: bool,
    pub reports: Vec<pyswap::domain::validate::Report>,
    /// Set when a check failed: the document carries the error too.
    #[serde(default)]
    pub error: Option<ErrorBody>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct Verified {
    pub ok: bool,
    pub repair: bool,
    pub entries_checked: u64,
    pub files_hashed: u64,
    pub bytes_hashed: u64,
    pub files_read: u64,
    pub bytes_read: u64,
    pub problems: Vec<VerifyProblem>,
    #[serde(default)]
    pub error: Option<ErrorBody>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct VerifyProblem {
    pub kind: String,
    pub path: String,
    pub entry: Option<String>,
    pub profile: Option<String>,
    pub generation: Option<u64>,
    pub detail: String,
    pub repaired: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ConfigShown {
    pub file: Option<String>,
    pub settings: Vec<ConfigSetting>,
    pub catalogues_verified: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ConfigSetting {
    pub key: String,
    pub value: serde_json::Value,
    pub source: String,
    pub origin: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ConfigChecked {
    file: String,
    ok: bool,
    settings: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Completions {
    shell: String,
    script: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ManPage {
    page: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct RolledBack {
    profile: String,
    from: u64,
    generation: u64,
    version: String,
    build: Option<String>,
    key: String,
    changed: bool,
    store_path: String,
    minor_path: Option<String>,
    minor_change: Option<MinorChange>,
    previous_runtime_processes: Option<u64>,
    following_venv_processes: Vec<FollowingProcess>,
    venvs: Vec<VenvOutcome>,
    repaired: Vec<String>,
    dry_run: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct RemovedGeneration {
    profile: String,
    number: u64,
    version: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct GcReport {
    dry_run: bool,
    skipped: bool,
    generations_removed: Vec<RemovedGeneration>,
    entries_removed: Vec<String>,
    leftover_dirs: u64,
    leftover_links: u64,
    bytes_freed: u64,
    cache_files_removed: u64,
    cache_bytes_freed: u64,
    entries_in_use: Vec<InUse>,
    kept_for_minor_paths: Vec<KeptForMinor>,
    kept: Vec<KeptGeneration>,
    unregistered_entries: Vec<String>,
    unregistered_generations: Vec<GenerationKey>,
    foreign: Vec<String>,
    venvs_forgotten: Vec<VenvForgotten>,
    kept_unseen: Vec<String>,
    unseen_why: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct VenvForgotten {
    path: String,
    entry: String,
    why: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct KeptGeneration {
    profile: String,
    generation: u64,
    reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct GenerationKey {
    profile: String,
    number: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct KeptForMinor {
    profile: String,
    generation: u64,
    minor: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct InUse {
    entry: String,
    pid: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct InstallReport {
    installed: Vec<InstalledRuntime>,
    failed: Vec<FailedRuntime>,
    dry_run: bool,
    #[serde(default)]
    error: Option<ErrorBody>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct InstalledRuntime {
    request: String,
    key: String,
    version: String,
    store_path: String,
    source: String,
    downloaded_bytes: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct FailedRuntime {
    request: String,
    key: Option<String>,
    error: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct MirrorReport {
    dir: String,
    catalogue: String,
    entries: Vec<MirroredArchive>,
    signature: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct MirroredArchive {
    key: String,
    path: String,
    url: String,
    sha256: String,
    size: u64,
    downloaded: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct CatalogueUpdated {
    catalogue: String,
    status: String,
    entries: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Current {
    profile: String,
    generation: Option<u64>,
    version: Option<String>,
    build: Option<String>,
    key: Option<String>,
    store_path: Option<String>,
    python: Option<String>,
}

pub fn strict<T: serde::de::DeserializeOwned>(text: &str) -> T {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn json_documents_have_their_documented_shape() {
    let mut t = TestContext::new();
    t.add("3.11.9", Fake::Good, Compression::Gz);
    t.add("3.12.3", Fake::Good, Compression::Gz);
    let first: Switched = strict(&t.run(&["switch", "3.11", "--json"]).ok().stdout);
    assert!(first.installed && first.changed && first.generation == 1);
    assert_eq!(
        (
            first.previous,
            first.validated.as_deref(),
            first.health_check
        ),
        (None, Some("install"), Some(true))
    );
    let second: Switched = strict(&t.run(&["switch", "3.12", "--json"]).ok().stdout);
    assert_eq!((second.generation, second.version.as_str()), (2, "3.12.3"));
    let change = second
        .minor_change
        .as_ref()
        .expect("3.11 -> 3.12 is announced");
    assert_eq!((change.from.as_str(), change.to.as_str()), ("3.11", "3.12"));
    assert!(change.from_path.ends_with("profiles/default@3.11"));
    assert!(
        second
            .minor_path
            .as_deref()
            .unwrap()
            .ends_with("profiles/default@3.12")
    );
    assert_eq!(second.previous_runtime_processes, Some(0));
    let gens: Vec<Generation> = strict(&t.run(&["generations", "--json"]).ok().stdout);
    assert_eq!(
        gens.iter()
            .map(|g| (g.number, g.current))
            .collect::<Vec<_>>(),
        vec![(1, false), (2, true)]
    );
    assert!(humantime::parse_rfc3339(&gens[0].created).is_ok());
    let v = gens[1]
        .validation
        .as_ref()
        .expect("the health check is recorded");
    assert!(v.ok && v.phase == "health");
    let up: Switched = strict(&t.run(&["upgrade", "--json"]).ok().stdout);
    assert!(!up.changed && up.generation == 2);
    let checked: Checked = strict(&t.run(&["check", "--json"]).ok().stdout);
    assert!(checked.ok && checked.current && checked.reports.len() == 2);
    let verified: Verified = strict(&t.run(&["verify", "--json"]).ok().stdout);
    assert!(verified.ok && verified.entries_checked == 2 && verified.problems.is_empty());
    let shown: ConfigShown = strict(&t.run(&["config", "show", "--json"]).ok().stdout);
    assert!(shown.file.is_none() && shown.settings.iter().any(|s| s.key == "network.retries"));
    let cfg = t.dir.path().join("c.toml");
    std::fs::write(&cfg, "[gc]\nkeep = 3\n").unwrap();
    let checked: ConfigChecked = strict(
        &t.run(&["config", "check", cfg.to_str().unwrap(), "--json"])
            .ok()
            .stdout,
    );
    assert!(checked.ok && checked.settings == 1);
    let completions: Completions = strict(&t.run(&["completions", "bash", "--json"]).ok().stdout);
    assert!(completions.shell == "bash" && completions.script.contains("pyswap"));
    let man: ManPage = strict(&t.run(&["man", "--json"]).ok().stdout);
    assert!(man.page.contains(".TH pyswap"));
    let back: RolledBack = strict(&t.run(&["rollback", "--to", "1", "--json"]).ok().stdout);
    assert_eq!((back.from, back.generation), (2, 1));
    let current: Current = strict(&t.run(&["current", "--json"]).ok().stdout);
    assert_eq!(current.generation, Some(1));
    let ps: Vec<Running> = strict(&t.run(&["ps", "--json"]).ok().stdout);
    assert!(ps.is_empty(), "{ps:?}");
    let minors: Vec<MinorPath> = strict(&t.run(&["minors", "--json"]).ok().stdout);
    assert_eq!(
        minors
            .iter()
            .map(|m| (m.minor.as_str(), m.generation))
            .collect::<Vec<_>>(),
        vec![("3.11", Some(1)), ("3.12", Some(2))]
    );
    t.run(&["minors", "--remove", "3.12"]).ok();
    // Current is 1 after the rollback; --keep 0 keeps only the current generation.
    let report: GcReport = strict(&t.run(&["gc", "--keep", "0", "--json"]).ok().stdout);
    assert_eq!(report.generations_removed.len(), 1);
    assert_eq!(report.generations_removed[0].number, 2);
    assert_eq!(report.entries_removed.len(), 1);
}

#[test]
fn json_documents_of_install_mirror_and_catalogue_update() {
    let mut t = TestContext::new();
    t.add("3.11.9", Fake::Good, Compression::Gz);
    t.add("3.12.3", Fake::Good, Compression::Zst);
    // Each request on its own: 3.13 does not resolve, the other two are installed.
    let r = t
        .run(&["install", "3.11", "3.12", "3.13", "--json"])
        .fails(1, "1 of 3 runtimes could not be installed");
    let r: InstallReport = strict(&r.stdout);
    assert_eq!(
        r.installed
            .iter()
            .map(|i| (i.version.as_str(), i.source.as_str()))
            .collect::<Vec<_>>(),
        vec![("3.11.9", "file"), ("3.12.3", "file")]
    );
    assert!(
        r.failed[0].error.contains("`3.13`"),
        "{}",
        r.failed[0].error
    );
    assert_eq!(r.error.map(|e| e.exit_code), Some(1));
    assert_eq!(t.store_names().len(), 2);
    let dir = t.dir.path().join("mirror");
    let m: MirrorReport = strict(
        &t.run(&["mirror", dir.to_str().unwrap(), "3.12", "--json"])
            .ok()
            .stdout,
    );
    assert_eq!(m.entries.len(), 1);
    assert!(m.entries[0].downloaded && m.entries[0].url.starts_with("file://"));
    let u: CatalogueUpdated = strict(&t.run(&["catalogue", "update", "--json"]).ok().stdout);
    assert_eq!(u.status, "not-remote");
}

#[test]
fn human_output_snapshots() {
    let mut t = TestContext::new();
    t.add("3.11.9", Fake::Good, Compression::Gz);
    t.add("3.12.3", Fake::Good, Compression::Gz);
    let mut transcript = String::new();
    for args in [
        &["switch", "3.11"][..],
        &["switch", "3.12"],
        &["switch", "3.12"],
        &["generations"],
        &["rollback", "--to", "1"],
        &["list"],
        &["list", "3.12"],
        &["list", "--available"],
        &["list", "--installed"],
        &["gc", "--keep", "1"],
        &["generations"],
        &["rollback", "--to", "999"],
        &["find"],
        &["find", "3.12"],
        &["uninstall", "3.11"],
        &["uninstall", "3.12", "--dry-run"],
        &["uninstall", "3.12"],
    ] {
        let r = t.run(args);
        let _ = write!(
            transcript,
            "$ pyswap {}\n[exit {:?}]\n{}{}",
            args.join(" "),
            r.code,
            r.stdout,
            r.stderr
        );
    }
    let home = t.home.display().to_string();
    let served = t.served.display().to_string();
    insta::with_settings!({filters => vec![
        (home.as_str(), "[HOME]"),
        (served.as_str(), "[SERVED]"),
        (r"\b[0-9a-f]{64}\b", "[DIGEST]"),
        (r"\b[0-9a-f]{12}…", "[DIGEST]…"),
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "[TIME]"),
        (r"\d+(\.\d)? (B|KiB|MiB)\b", "[SIZE]"),
        (r" in \d+\.\d s\b", " in [SECS] s"),
    ]}, {
        insta::assert_snapshot!("human_transcript", transcript);
    });
}

/// The `--json` documents themselves, with paths, digests, times and durations masked: a
/// reviewed change when a field or its spelling moves.
#[test]
fn json_snapshots() {
    let mut t = TestContext::new();
    t.add("3.11.9", Fake::Good, Compression::Gz);
    t.add("3.12.3", Fake::Good, Compression::Gz);
    t.write_config("[policy]\nmax_minor = 12\n\n[gc]\nkeep = 3\n");
    let mut transcript = String::new();
    for args in [
        &["switch", "3.11", "--json"][..],
        &["switch", "3.12", "--json"],
        &["generations", "--json"],
        &["rollback", "--to", "1", "--json"],
        &["verify", "--json"],
        &["switch", "3.13", "--json"],
    ] {
        let r = t.run(args);
        let _ = write!(transcript, "$ pyswap {}\n{}", args.join(" "), r.stdout);
    }
    let shown: ConfigShown = strict(&t.run(&["config", "show", "--json"]).ok().stdout);
    for s in shown.settings.iter().filter(|s| s.source != "default") {
        let _ = writeln!(transcript, "config: {} = {} ({})", s.key, s.value, s.source);
    }
    let home = t.home.display().to_string();
    let served = t.served.display().to_string();
    insta::with_settings!({filters => vec![
        (home.as_str(), "[HOME]"),
        (served.as_str(), "[SERVED]"),
        (r"\b[0-9a-f]{64}\b", "[DIGEST]"),
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "[TIME]"),
        (r#""(files|bytes)_hashed": \d+"#, "\"${1}_hashed\": [N]"),
    ]}, {
        insta::assert_snapshot!("json_transcript", transcript);
    });
}

/// `uninstall --json` (docs/json.md).
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Uninstalled {
    removed: Vec<RemovedEntry>,
    generations_removed: Vec<String>,
    minor_paths_removed: Vec<String>,
    venvs_broken: Vec<String>,
    kept: Vec<String>,
    bytes_freed: u64,
    dry_run: bool,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct RemovedEntry {
    entry: String,
    version: String,
    build: Option<String>,
    bytes: u64,
}

/// `find --json` (docs/json.md).
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Found {
    path: String,
    kind: String,
    version: String,
    build: Option<String>,
    entry: String,
}

/// One element of `list --installed --json` (docs/json.md).
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ListedEntry {
    name: String,
    version: String,
    build: Option<String>,
    platform: String,
    store_path: String,
    bytes: u64,
    alone_bytes: u64,
    files: u64,
    generations: Vec<String>,
    staged: bool,
    current: bool,
    processes: u32,
}

// Issue 27.
#[test]
fn uninstall_find_and_list_documents_have_their_documented_shape() {
    let mut t = TestContext::new();
    t.add("3.11.9", Fake::Good, Compression::Gz);
    t.add("3.12.3", Fake::Good, Compression::Gz);
    t.run(&["switch", "3.12"]).ok();
    t.run(&["install", "3.11"]).ok();
    let listed: Vec<ListedEntry> = strict(&t.run(&["list", "--installed", "--json"]).ok().stdout);
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].version, "3.12.3", "newest first");
    let found: Found = strict(&t.run(&["find", "3.12", "--json"]).ok().stdout);
    assert_eq!(found.kind, "minor");
    let plan: Uninstalled = strict(
        &t.run(&["uninstall", "3.11", "--dry-run", "--json"])
            .ok()
            .stdout,
    );
    assert!(plan.dry_run && plan.removed.len() == 1 && plan.bytes_freed > 0);
    let done: Uninstalled = strict(&t.run(&["uninstall", "3.11", "--json"]).ok().stdout);
    assert_eq!(done.removed[0].version, "3.11.9");
    assert!(done.generations_removed.is_empty() && done.kept.is_empty());
}

/// Runs `pyswap args` on a pseudo-terminal 80 columns wide (util-linux `script`), as a person
/// at a terminal does; everything it wrote, escape sequences included.
fn on_a_terminal(t: &TestContext, args: &str) -> String {
    let base = t.cmd();
    let mut c = std::process::Command::new("script");
    for (k, v) in base.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    let line = format!(
        "stty cols 80 rows 24; exec {} {args}",
        env!("CARGO_BIN_EXE_pyswap")
    );
    let out = c
        .args(["-qec", &line, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("util-linux `script` runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

// Issue 37 (item 11): after the download, a terminal shows each phase (unpacked, compiling,
// validating) instead of a blank screen; a pipe or a log file gets none of it.
#[test]
fn a_terminal_sees_each_phase_of_an_install_and_a_pipe_sees_none() {
    let mut t = TestContext::new();
    t.add("3.11.9", Fake::Good, Compression::Gz);
    t.add("3.12.3", Fake::Good, Compression::Gz);
    let shown = on_a_terminal(&t, "switch 3.11.9");
    assert!(shown.contains("3.11.9: unpacked "), "{shown}");
    assert!(
        shown.contains("3.11.9: validating the interpreter"),
        "{shown}"
    );
    let piped = t.run(&["switch", "3.12.3"]).ok();
    assert!(
        !piped.stderr.contains("unpacked") && !piped.stderr.contains("validating the"),
        "{}",
        piped.stderr
    );
}

// Issue 37 (item 10): at 80 columns no listing wraps, and human output names runtimes as they
// type back (`3.11.9+20260101`), never by their 85-character store entry names.
#[test]
fn listings_fit_80_columns_and_name_runtimes_by_label() {
    let mut t = TestContext::new();
    t.add("3.11.9", Fake::Good, Compression::Gz);
    t.add("3.12.3", Fake::Good, Compression::Gz);
    t.run(&["switch", "3.11"]).ok();
    t.run(&["switch", "3.12"]).ok();
    t.run(&["check"]).ok();
    for args in [
        &["generations"][..],
        &["list", "--installed"],
        &["list"],
        &["minors"],
        &["check"],
    ] {
        let wide = t.run(args).ok();
        let narrow = t.run_env(args, &[("COLUMNS", "80")]).ok();
        for text in [&narrow.stdout, &narrow.stderr] {
            assert!(
                text.lines().all(|l| l.chars().count() <= 80),
                "{args:?} at 80 columns:\n{text}"
            );
        }
        // Without a width (a pipe), nothing is cut.
        assert!(
            !wide.stdout.contains('…') || args == ["generations"],
            "{}",
            wide.stdout
        );
    }
    let narrow = t
        .run_env(&["generations"], &[("COLUMNS", "80")])
        .ok()
        .stdout;
    assert!(
        narrow.contains("3.11.9+20260101") && narrow.contains("3.12.3+20260101"),
        "{narrow}"
    );
    // gc says what it removed by label.
    t.run(&["minors", "--remove", "3.11"]).ok();
    let gc = t.run(&["gc", "--keep", "1"]).ok();
    assert!(
        gc.stderr.contains("the runtime CPython 3.11.9+20260101 (")
            && !gc.stderr.contains("-cpython-"),
        "{}",
        gc.stderr
    );
}
