//! Issue 28: signed catalogues. Real minisign (Debian's package) on one side, pyswap on the
//! other: what `minisign -S` signs is accepted, what pyswap signs `minisign -V` accepts, and
//! every attack (changed bytes, no signature, another key, an older version, an expired
//! signature) is refused with nothing installed and the cached catalogue unchanged.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{Compression, Fake, Run, TestContext};
use crate::server::{Behaviour, Server};

/// The real `minisign` tool and the keys a test made with it, in `DIR/keys`.
struct Minisign {
    tool: PathBuf,
    dir: PathBuf,
}

/// A key pair made by `minisign -G`: its public key `RW...` and its secret key file.
struct KeyPair {
    public: String,
    secret: PathBuf,
}

impl Minisign {
    /// `minisign`, or `None` (outside CI) when this machine lacks it.
    fn find(t: &TestContext) -> Option<Self> {
        let found = ["/usr/bin/minisign", "/usr/local/bin/minisign"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists());
        if found.is_none() {
            assert!(
                std::env::var_os("CI").is_none(),
                "minisign is missing; .ci/run installs it"
            );
            eprintln!("NOTICE (skipped): minisign is not installed");
        }
        let dir = t.dir.path().join("keys");
        std::fs::create_dir_all(&dir).unwrap();
        Some(Self { tool: found?, dir })
    }

    /// Runs minisign with `args` and `stdin`, asserting it succeeds; its stdout.
    fn run(&self, args: &[&std::ffi::OsStr], stdin: &str) -> String {
        use std::io::Write as _;
        let mut child = Command::new(&self.tool)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "minisign {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A key pair `name`: unencrypted (`-W`) without `password`, else encrypted with it (minisign
    /// reads it twice from standard input when that is not a terminal).
    fn keypair(&self, name: &str, password: Option<&str>) -> KeyPair {
        let (pk, sk) = (
            self.dir.join(format!("{name}.pub")),
            self.dir.join(format!("{name}.key")),
        );
        let mut args: Vec<&std::ffi::OsStr> = vec!["-G".as_ref(), "-f".as_ref()];
        if password.is_none() {
            args.push("-W".as_ref());
        }
        args.extend(["-p".as_ref(), pk.as_os_str(), "-s".as_ref(), sk.as_os_str()]);
        let stdin = password.map(|p| format!("{p}\n{p}\n")).unwrap_or_default();
        self.run(&args, &stdin);
        let text = std::fs::read_to_string(&pk).unwrap();
        KeyPair {
            public: text.lines().nth(1).unwrap().trim().to_owned(),
            secret: sk,
        }
    }

    /// Signs `file` with `minisign -S` and the trusted comment `comment` (`file.minisig`).
    fn sign(&self, key: &KeyPair, file: &Path, comment: &str) {
        self.run(
            &[
                "-S".as_ref(),
                "-s".as_ref(),
                key.secret.as_os_str(),
                "-m".as_ref(),
                file.as_os_str(),
                "-t".as_ref(),
                comment.as_ref(),
            ],
            "",
        );
    }

    /// `minisign -V` of `file` against `key`: the trusted comment it printed, or `None` when it
    /// refused the signature.
    fn verify(&self, key: &KeyPair, file: &Path) -> Option<String> {
        let out = Command::new(&self.tool)
            .args(["-V", "-P", &key.public, "-m"])
            .arg(file)
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stdout);
        out.status.success().then(|| {
            said.lines()
                .find_map(|l| l.strip_prefix("Trusted comment: "))
                .unwrap_or_default()
                .to_owned()
        })
    }
}

fn comment(version: u64, expires: &str) -> String {
    format!("pyswap-catalogue version={version} expires={expires}")
}

const FAR: &str = "2099-01-01T00:00:00Z";

/// Runs pyswap with the catalogue the manifest names (not the test's `PYSWAP_CATALOGUE`).
fn remote(t: &TestContext, args: &[&str]) -> Run {
    let mut c = t.cmd();
    c.env_remove("PYSWAP_CATALOGUE").args(args);
    Run::from_output(&c.output().unwrap())
}

fn trust(t: &TestContext, keys: &[&KeyPair]) {
    let list: Vec<String> = keys.iter().map(|k| format!("\"{}\"", k.public)).collect();
    t.write_config(&format!("[trust]\nkeys = [{}]\n", list.join(", ")));
}

/// The files under `home/catalogues` and their bytes.
fn cached(t: &TestContext) -> BTreeMap<PathBuf, Vec<u8>> {
    let Ok(dir) = std::fs::read_dir(t.home.join("catalogues")) else {
        return BTreeMap::new();
    };
    dir.map(|e| {
        let p = e.unwrap().path();
        let bytes = std::fs::read(&p).unwrap();
        (p, bytes)
    })
    .collect()
}

/// A home whose manifest names the catalogue a local server serves (revalidated on every
/// command, offering 3.11.9, not signed yet) and trusts the key `fleet`.
struct SignedRemote {
    t: TestContext,
    minisign: Minisign,
    server: Server,
    fleet: KeyPair,
}

fn signed_remote() -> Option<SignedRemote> {
    let mut t = TestContext::new();
    let minisign = Minisign::find(&t)?;
    let server = Server::start(&t.served);
    let data = crate::common::synthetic_archive("3.11.9", Fake::Good, Compression::Gz);
    t.serve(&server, "3.11.9", &data, Compression::Gz);
    let fleet = minisign.keypair("fleet", None);
    t.write_config(&format!(
        "catalogue = \"{}\"\n[network]\ncatalogue_ttl = \"0s\"\n[trust]\nkeys = [\"{}\"]\n",
        server.url("catalogue.json"),
        fleet.public
    ));
    Some(SignedRemote {
        t,
        minisign,
        server,
        fleet,
    })
}

// Issue 28.
#[test]
fn a_catalogue_signed_by_minisign_is_used_and_every_forgery_is_refused() {
    let mut t = TestContext::new();
    let Some(minisign) = Minisign::find(&t) else {
        return;
    };
    t.add("3.11.9", Fake::Good, Compression::Gz);
    let fleet = minisign.keypair("fleet", None);
    let other = minisign.keypair("other", None);
    trust(&t, &[&fleet]);
    let cat = t.catalogue_path();

    // Unsigned: refused before anything is downloaded, exit 1, one line naming it.
    t.run(&["switch", "3.11"]).fails(1, "is not signed");
    assert!(t.store_names().is_empty());
    // Signed by a key that is not trusted.
    minisign.sign(&other, &cat, &comment(1, FAR));
    t.run(&["switch", "3.11"])
        .fails(1, "which is not in [trust] keys");
    // Both keys trusted (a rotation): the other key's signature is accepted.
    trust(&t, &[&fleet, &other]);
    t.run(&["list", "--available"]).ok();
    trust(&t, &[&fleet]);
    // Signed by the fleet key, then changed: refused.
    minisign.sign(&fleet, &cat, &comment(2, FAR));
    let signed = std::fs::read(&cat).unwrap();
    let mut changed = signed.clone();
    changed.extend_from_slice(b"\n");
    std::fs::write(&cat, &changed).unwrap();
    t.run(&["switch", "3.11"])
        .fails(1, "does not match its bytes");
    assert!(t.store_names().is_empty());
    // The signed bytes: accepted, and the switch runs.
    std::fs::write(&cat, &signed).unwrap();
    t.run(&["switch", "3.11"]).ok();
    assert_eq!(t.profile_version().as_deref(), Some("3.11.9"));
    let metrics = t.run(&["metrics"]).ok().stdout;
    assert!(
        metrics.contains("pyswap_catalogue_expires_timestamp_seconds{key_id=")
            && metrics.contains("} 4070908800"),
        "{metrics}"
    );
    // A host that follows one catalogue line refuses another line's signature (here: none).
    let production = format!(
        "[trust]\nkeys = [\"{}\"]\nnames = [\"production\"]\n",
        fleet.public
    );
    t.write_config(&production);
    t.run(&["list", "--available"]).fails(
        1,
        "is signed for no catalogue line (no name=), not for production ([trust] names)",
    );
    t.write_config("[trust]\nnames = [\"production\"]\n");
    t.run(&["list", "--available"])
        .fails(1, "config.toml: [trust] names is set without [trust] keys");
    trust(&t, &[&fleet]);
    // An older version after a newer one: refused (a mirror holding hosts on old patches).
    minisign.sign(&fleet, &cat, &comment(1, FAR));
    t.run(&["list", "--available"])
        .fails(1, "version 1 < 2 seen");
    // Expired: refused by the real clock, whatever PYSWAP_NOW says.
    minisign.sign(&fleet, &cat, &comment(3, "2020-01-01T00:00:00Z"));
    t.run_env(
        &["list", "--available"],
        &[("PYSWAP_NOW", "2019-06-01T00:00:00Z")],
    )
    .fails(1, "its signature expired at 2020-01-01T00:00:00Z");
    // The trusted comment must be pyswap's.
    minisign.sign(&fleet, &cat, "timestamp:1700000000");
    t.run(&["list", "--available"]).fails(1, "is not pyswap's");
    // A signature file padded past 64 KiB is refused, not taken as "not signed".
    let sig = t.served.join("catalogue.json.minisig");
    std::fs::write(&sig, vec![b' '; 65 * 1024]).unwrap();
    t.run(&["list", "--available"])
        .fails(1, "catalogue.json.minisig: larger than 64 KiB");
    // config show says whether catalogues are verified.
    let shown = t.run(&["config", "show"]).ok().stdout;
    assert!(
        shown.contains("# catalogues: verified, signed by one of 1 trusted key"),
        "{shown}"
    );
    assert_eq!(t.profile_version().as_deref(), Some("3.11.9"));
    t.assert_consistent();
}

// Issue 28.
#[test]
fn a_refused_remote_catalogue_never_replaces_the_cached_one_and_is_no_fallback() {
    let Some(SignedRemote {
        mut t,
        minisign,
        server,
        fleet,
    }) = signed_remote()
    else {
        return;
    };
    let cat = t.catalogue_path();
    // Unsigned: refused, and nothing is cached.
    remote(&t, &["switch", "3.11"]).fails(1, "is not signed");
    assert!(cached(&t).is_empty(), "{:?}", cached(&t).keys());
    minisign.sign(&fleet, &cat, &comment(5, FAR));
    remote(&t, &["switch", "3.11"]).ok();
    let before = cached(&t);
    assert_eq!(before.len(), 2, "the copy and its signature: {before:?}");
    // The mirror now serves another catalogue under the old signature.
    let data = crate::common::synthetic_archive("3.12.3", Fake::Good, Compression::Gz);
    t.serve(&server, "3.12.3", &data, Compression::Gz);
    let r = remote(&t, &["switch", "3.12"]);
    let r = r.fails(1, "does not match its bytes");
    assert!(
        !r.stderr.contains("among the runtimes already installed"),
        "{}",
        r.stderr
    );
    // Issue 37, item 6: `list` does not word a refusal as a warning or an empty catalogue.
    remote(&t, &["list"]).fails(1, "does not match its bytes");
    remote(&t, &["list", "--available", "--json"]).fails(1, "does not match its bytes");
    assert_eq!(cached(&t), before);
    assert_eq!(t.profile_version().as_deref(), Some("3.11.9"));
    // The new catalogue signed, but its signature is not served (the mirror fails): as when the
    // mirror cannot be reached, the cached copy serves, checked against the signature kept.
    minisign.sign(&fleet, &cat, &comment(6, FAR));
    server.script("catalogue.json.minisig", vec![Behaviour::Status(503); 20]);
    let r = remote(&t, &["list", "--available", "--all-versions"]).ok();
    assert!(
        r.stderr.contains("using the copy of catalogue"),
        "{}",
        r.stderr
    );
    assert!(!r.stdout.contains("3.12.3"), "{}", r.stdout);
    assert_eq!(cached(&t), before);
    server.script("catalogue.json.minisig", Vec::new());
    // A restored database does not reopen a rollback: the signature kept beside the cached copy
    // holds version 5.
    let forget = Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('DELETE FROM trust_seen'); c.commit()",
        ])
        .arg(t.home.join("pyswap.db"))
        .status()
        .unwrap();
    assert!(forget.success());
    t.entries.remove("cpython-3.12.3-linux-x86_64-gnu");
    t.write_catalogue();
    minisign.sign(&fleet, &cat, &comment(4, FAR));
    remote(&t, &["list", "--available"]).fails(1, "version 4 < 5 seen");
    assert_eq!(cached(&t), before);
}

// Issue 28.
#[test]
fn an_unchanged_catalogue_is_checked_against_the_signature_served_now() {
    let Some(SignedRemote {
        mut t,
        minisign,
        server,
        fleet,
    }) = signed_remote()
    else {
        return;
    };
    let cat = t.catalogue_path();
    let sig = t.served.join("catalogue.json.minisig");
    minisign.sign(&fleet, &cat, &comment(1, FAR));
    remote(&t, &["switch", "3.11"]).ok();
    let first = cached(&t);
    let kept = first
        .keys()
        .find(|p| p.extension().is_some_and(|e| e == "minisig"))
        .unwrap()
        .clone();
    let asked = server.requests_for("catalogue.json");
    // The same bytes (the server answers 304) under a signature that has expired: refused, the
    // kept signature stays.
    minisign.sign(&fleet, &cat, &comment(2, "2020-01-01T00:00:00Z"));
    remote(&t, &["list", "--available"]).fails(1, "its signature expired at 2020-01-01T00:00:00Z");
    assert!(
        server.requests_for("catalogue.json") > asked,
        "the catalogue was revalidated"
    );
    assert_eq!(cached(&t), first);
    // Renewed with a higher version: accepted, and kept beside the cached copy.
    minisign.sign(&fleet, &cat, &comment(3, FAR));
    let renewed = std::fs::read(&sig).unwrap();
    remote(&t, &["list", "--available"]).ok();
    assert_eq!(std::fs::read(&kept).unwrap(), renewed);
    // The mirror serves the first signature again: the same bytes, an older version.
    minisign.sign(&fleet, &cat, &comment(1, FAR));
    remote(&t, &["list", "--available"]).fails(1, "version 1 < 3 seen");
    assert_eq!(std::fs::read(&kept).unwrap(), renewed);
    // The mirror serves no signature for the unchanged copy: the one kept for it still holds.
    std::fs::remove_file(&sig).unwrap();
    remote(&t, &["list", "--available"]).ok();
    // Offline: the cached copy is checked against the kept signature.
    remote(&t, &["--offline", "list", "--available"]).ok();
    // The kept signature is gone and the server has none: refused even offline, never the
    // fallback.
    std::fs::remove_file(&kept).unwrap();
    remote(&t, &["--offline", "list", "--available"]).fails(1, "is not signed");
    // A new catalogue without a signature: refused, the cached copy kept.
    let data = crate::common::synthetic_archive("3.12.3", Fake::Good, Compression::Gz);
    t.serve(&server, "3.12.3", &data, Compression::Gz);
    let before = cached(&t);
    remote(&t, &["switch", "3.12"]).fails(1, "is not signed");
    assert_eq!(cached(&t), before);
    assert_eq!(t.profile_version().as_deref(), Some("3.11.9"));
}

// Issue 28.
#[test]
fn what_pyswap_signs_minisign_verifies_and_versions_grow() {
    let mut t = TestContext::new();
    let Some(minisign) = Minisign::find(&t) else {
        return;
    };
    t.add("3.11.9", Fake::Good, Compression::Gz);
    let fleet = minisign.keypair("fleet", None);
    let mirror = t.dir.path().join("mirror");
    let sk = fleet.secret.to_str().unwrap();
    let doc = t
        .run(&[
            "mirror",
            mirror.to_str().unwrap(),
            "3.11",
            "--sign-key",
            sk,
            "--name",
            "production",
            "--json",
        ])
        .ok()
        .json();
    let cat = mirror.join("download-metadata.json");
    assert_eq!(
        doc["signature"].as_str(),
        Some(format!("{}.minisig", cat.display()).as_str())
    );
    let said = minisign
        .verify(&fleet, &cat)
        .expect("minisign -V accepts it");
    assert!(
        said.starts_with("pyswap-catalogue name=production version=1 expires="),
        "{said}"
    );
    // Again: the next version, the name kept.
    t.run(&["mirror", mirror.to_str().unwrap(), "3.11", "--sign-key", sk])
        .ok();
    let said = minisign.verify(&fleet, &cat).unwrap();
    assert!(said.contains("name=production version=2 "), "{said}");
    // An offline signing machine: `catalogue sign` on a copy.
    let copy = t.dir.path().join("copy.json");
    std::fs::copy(&cat, &copy).unwrap();
    let sign = ["catalogue", "sign", copy.to_str().unwrap(), "--key", sk];
    t.run(&[&sign[..], &["--version", "9", "--expires-in", "7d"]].concat())
        .ok();
    let said = minisign.verify(&fleet, &copy).unwrap();
    assert!(
        said.starts_with("pyswap-catalogue version=9 expires="),
        "{said}"
    );
    // A host trusting the key switches through the signed mirror.
    trust(&t, &[&fleet]);
    t.run_env(
        &["switch", "3.11"],
        &[("PYSWAP_CATALOGUE", cat.to_str().unwrap())],
    )
    .ok();
    assert_eq!(t.profile_version().as_deref(), Some("3.11.9"));
}

// Issue 28.
#[test]
fn an_encrypted_key_signs_with_its_password_and_only_with_it() {
    let mut t = TestContext::new();
    let Some(minisign) = Minisign::find(&t) else {
        return;
    };
    t.add("3.11.9", Fake::Good, Compression::Gz);
    let key = minisign.keypair("offline", Some("correct horse"));
    let copy = t.dir.path().join("copy.json");
    std::fs::copy(t.catalogue_path(), &copy).unwrap();
    let sign = [
        "catalogue",
        "sign",
        copy.to_str().unwrap(),
        "--key",
        key.secret.to_str().unwrap(),
    ];
    // No password and no terminal: refused before anything is written.
    t.run(&sign).fails(
        1,
        "it is encrypted and no password was given (PYSWAP_SIGN_PASSWORD)",
    );
    let wrong = t.run_env(&sign, &[("PYSWAP_SIGN_PASSWORD", "battery staple")]);
    wrong.fails(1, "cannot read the minisign secret key");
    assert!(!t.dir.path().join("copy.json.minisig").exists());
    t.run_env(&sign, &[("PYSWAP_SIGN_PASSWORD", "correct horse")])
        .ok();
    let said = minisign
        .verify(&key, &copy)
        .expect("minisign -V accepts it");
    assert!(
        said.starts_with("pyswap-catalogue version=1 expires="),
        "{said}"
    );
}

// Issue 28.
#[test]
fn a_mirror_is_made_only_from_a_catalogue_the_trusted_key_signed() {
    let mut t = TestContext::new();
    let Some(minisign) = Minisign::find(&t) else {
        return;
    };
    t.add("3.11.9", Fake::Good, Compression::Gz);
    let fleet = minisign.keypair("fleet", None);
    trust(&t, &[&fleet]);
    let mirror = t.dir.path().join("mirror");
    let dir = mirror.to_str().unwrap();
    t.run(&["mirror", dir, "3.11"]).fails(1, "is not signed");
    assert!(!mirror.join("download-metadata.json").exists());
    minisign.sign(&fleet, &t.catalogue_path(), &comment(1, FAR));
    t.run(&[
        "mirror",
        dir,
        "3.11",
        "--sign-key",
        fleet.secret.to_str().unwrap(),
    ])
    .ok();
    let published = mirror.join("download-metadata.json");
    let said = minisign
        .verify(&fleet, &published)
        .expect("minisign -V accepts the mirror's catalogue");
    assert!(said.contains("version=1 "), "{said}");
    // Hosts reading the shared directory by a file:// URL (read as a path): the signature beside
    // it is checked, and one missing is "not signed", not an unreadable catalogue.
    let url = format!("file://{}", published.display());
    let sig = t.dir.path().join("mirror.minisig");
    std::fs::rename(format!("{}.minisig", published.display()), &sig).unwrap();
    let r = t.run_env(&["switch", "3.11"], &[("PYSWAP_CATALOGUE", &url)]);
    r.fails(1, "is not signed");
    assert!(t.store_names().is_empty());
    std::fs::rename(&sig, format!("{}.minisig", published.display())).unwrap();
    t.run_env(&["switch", "3.11"], &[("PYSWAP_CATALOGUE", &url)])
        .ok();
    assert_eq!(t.profile_version().as_deref(), Some("3.11.9"));
}

// Issue 28: "a fleet's regional mirrors serve the same signed file". With relative archive
// URLs, one signed catalogue serves from every region, and each host downloads from the region
// it reads the catalogue from.
#[test]
fn regional_mirrors_serve_one_signed_catalogue_with_relative_urls() {
    let mut t = TestContext::new();
    let Some(minisign) = Minisign::find(&t) else {
        return;
    };
    t.add("3.11.9", Fake::Good, Compression::Gz);
    let fleet = minisign.keypair("fleet", None);
    let mirror = t.dir.path().join("mirror");
    t.run(&[
        "mirror",
        mirror.to_str().unwrap(),
        "3.11",
        "--relative-urls",
        "--sign-key",
        fleet.secret.to_str().unwrap(),
    ])
    .ok();
    let published = mirror.join("download-metadata.json");
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&published).unwrap()).unwrap();
    let url = doc["cpython-3.11.9-linux-x86_64-gnu"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!url.contains("://"), "a relative URL: {url}");
    let archive = percent_encoding::percent_decode_str(&url)
        .decode_utf8()
        .unwrap()
        .into_owned();
    let regions = [Server::start(&mirror), Server::start(&mirror)];
    for (i, region) in regions.iter().enumerate() {
        let host = TestContext::new();
        host.write_config(&format!(
            "catalogue = \"{}\"\n[trust]\nkeys = [\"{}\"]\n",
            region.url("download-metadata.json"),
            fleet.public
        ));
        remote(&host, &["switch", "3.11"]).ok();
        assert_eq!(host.profile_version().as_deref(), Some("3.11.9"));
        for (j, r) in regions.iter().enumerate() {
            let expected = usize::from(j <= i);
            assert_eq!(
                r.requests_for(&archive),
                expected,
                "region {j} after host {i} switched"
            );
        }
    }
    // The same catalogue read as a file (a shared directory) resolves its URLs there.
    let host = TestContext::new();
    host.write_config(&format!("[trust]\nkeys = [\"{}\"]\n", fleet.public));
    host.run_env(
        &["switch", "3.11"],
        &[("PYSWAP_CATALOGUE", published.to_str().unwrap())],
    )
    .ok();
    assert_eq!(host.profile_version().as_deref(), Some("3.11.9"));
}

// Issue 35, item 10: the floor was kept per key: with the old and the new key both trusted (the
// README's rotation), a mirror replayed the old key's last catalogue (v5) after hosts had taken
// v6 from the new key, and `switch 3.11` went back to the older build. The floor is the line's.
#[test]
fn a_key_rotation_does_not_reopen_a_rollback() {
    let mut t = TestContext::new();
    let Some(minisign) = Minisign::find(&t) else {
        return;
    };
    t.add("3.11.8", Fake::Good, Compression::Gz);
    let old = minisign.keypair("old", None);
    let new = minisign.keypair("new", None);
    trust(&t, &[&old, &new]);
    let cat = t.catalogue_path();
    let sig = {
        let mut p = cat.as_os_str().to_owned();
        p.push(".minisig");
        PathBuf::from(p)
    };
    minisign.sign(&old, &cat, &comment(5, FAR));
    t.run(&["switch", "3.11"]).ok();
    assert_eq!(t.profile_version().as_deref(), Some("3.11.8"));
    let (v5, v5_sig) = (std::fs::read(&cat).unwrap(), std::fs::read(&sig).unwrap());
    // The rotation: a newer catalogue (3.11.9), signed by the new key as version 6.
    t.add("3.11.9", Fake::Good, Compression::Gz);
    minisign.sign(&new, &cat, &comment(6, FAR));
    t.run(&["switch", "3.11"]).ok();
    assert_eq!(t.profile_version().as_deref(), Some("3.11.9"));
    // The mirror replays the old key's v5: refused, whichever key signed it.
    std::fs::write(&cat, &v5).unwrap();
    std::fs::write(&sig, &v5_sig).unwrap();
    t.run(&["switch", "3.11"]).fails(1, "version 5 < 6 seen");
    assert_eq!(t.profile_version().as_deref(), Some("3.11.9"));
}
