//! Issue 28: signed catalogues. Real minisign (Debian's package) on one side, pyswap on the
//! other: what `minisign -S` signs is accepted, what pyswap signs `minisign -V` accepts, and
//! every attack (changed bytes, no signature, another key, an older version, an expired
//! signature) is refused with nothing installed and the cached catalogue unchanged.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{Compression, Fake, TestContext};
use crate::server::Server;

/// `minisign`, or `None` (outside CI) when this machine lacks it.
fn minisign() -> Option<PathBuf> {
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
    found
}

/// A key pair made by `minisign -G` (unencrypted: `-W`): (public key `RW...`, secret key file).
fn keypair(minisign: &Path, dir: &Path, name: &str) -> (String, PathBuf) {
    let (pk, sk) = (
        dir.join(format!("{name}.pub")),
        dir.join(format!("{name}.key")),
    );
    let out = Command::new(minisign)
        .args(["-G", "-W", "-f", "-p"])
        .arg(&pk)
        .arg("-s")
        .arg(&sk)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&pk).unwrap();
    (text.lines().nth(1).unwrap().trim().to_owned(), sk)
}

/// Signs `file` with `minisign -S` and the trusted comment `comment`.
fn minisign_sign(minisign: &Path, sk: &Path, file: &Path, comment: &str) {
    let out = Command::new(minisign)
        .args(["-S", "-s"])
        .arg(sk)
        .arg("-m")
        .arg(file)
        .args(["-t", comment])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn comment(version: u64, expires: &str) -> String {
    format!("pyswap-catalogue version={version} expires={expires}")
}

/// Runs pyswap with the catalogue the manifest names (not the test's `PYSWAP_CATALOGUE`).
fn remote(t: &TestContext, args: &[&str]) -> crate::common::Run {
    let mut c = t.cmd();
    c.env_remove("PYSWAP_CATALOGUE").args(args);
    crate::common::Run::from_output(&c.output().unwrap())
}

fn trust(t: &TestContext, keys: &[&str]) {
    let list: Vec<String> = keys.iter().map(|k| format!("\"{k}\"")).collect();
    t.write_config(&format!("[trust]\nkeys = [{}]\n", list.join(", ")));
}

// Issue 28.
#[test]
fn a_catalogue_signed_by_minisign_is_used_and_every_forgery_is_refused() {
    let Some(minisign) = minisign() else { return };
    let mut t = TestContext::new();
    t.add("3.11.9", Fake::Good, Compression::Gz);
    let keys = t.dir.path().join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let (pk, sk) = keypair(&minisign, &keys, "fleet");
    let (second_pk, second_secret) = keypair(&minisign, &keys, "other");
    trust(&t, &[&pk]);
    let cat = t.catalogue_path();
    let far = "2099-01-01T00:00:00Z";

    // Unsigned: refused before anything is downloaded, exit 1, one line naming it.
    t.run(&["switch", "3.11"]).fails(1, "is not signed");
    assert!(t.store_names().is_empty());
    // Signed by a key that is not trusted.
    minisign_sign(&minisign, &second_secret, &cat, &comment(1, far));
    t.run(&["switch", "3.11"])
        .fails(1, "which is not in [trust] keys");
    // Both keys trusted (a rotation): the other key's signature is accepted.
    trust(&t, &[&pk, &second_pk]);
    t.run(&["list", "--available"]).ok();
    trust(&t, &[&pk]);
    // Signed by the fleet key, then changed: refused.
    minisign_sign(&minisign, &sk, &cat, &comment(2, far));
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
    // An older version after a newer one: refused (a mirror holding hosts on old patches).
    minisign_sign(&minisign, &sk, &cat, &comment(1, far));
    t.run(&["list", "--available"])
        .fails(1, "version 1 < 2 seen");
    // Expired: refused by the real clock, whatever PYSWAP_NOW says.
    minisign_sign(&minisign, &sk, &cat, &comment(3, "2020-01-01T00:00:00Z"));
    t.run_env(
        &["list", "--available"],
        &[("PYSWAP_NOW", "2019-06-01T00:00:00Z")],
    )
    .fails(1, "its signature expired at 2020-01-01T00:00:00Z");
    // The trusted comment must be pyswap's.
    minisign_sign(&minisign, &sk, &cat, "timestamp:1700000000");
    t.run(&["list", "--available"]).fails(1, "is not pyswap's");
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
    let Some(minisign) = minisign() else { return };
    let mut t = TestContext::new();
    let server = Server::start(&t.served);
    let data = crate::common::synthetic_archive("3.11.9", Fake::Good, Compression::Gz);
    t.serve(&server, "3.11.9", &data, Compression::Gz);
    let keys = t.dir.path().join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let (pk, sk) = keypair(&minisign, &keys, "fleet");
    let cat = t.catalogue_path();
    minisign_sign(&minisign, &sk, &cat, &comment(5, "2099-01-01T00:00:00Z"));
    let url = server.url("catalogue.json");
    t.write_config(&format!(
        "catalogue = \"{url}\"\n[network]\ncatalogue_ttl = \"0s\"\n[trust]\nkeys = [\"{pk}\"]\n"
    ));
    remote(&t, &["switch", "3.11"]).ok();
    let cached: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(t.home.join("catalogues"))
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    assert_eq!(cached.len(), 2, "the copy and its signature: {cached:?}");
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
    for (p, bytes) in &cached {
        assert_eq!(
            &std::fs::read(p).unwrap(),
            bytes,
            "{} unchanged",
            p.display()
        );
    }
    assert_eq!(t.profile_version().as_deref(), Some("3.11.9"));
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
    minisign_sign(&minisign, &sk, &cat, &comment(4, "2099-01-01T00:00:00Z"));
    remote(&t, &["list", "--available"]).fails(1, "version 4 < 5 seen");
}

// Issue 28.
#[test]
fn what_pyswap_signs_minisign_verifies_and_versions_grow() {
    let Some(minisign) = minisign() else { return };
    let mut t = TestContext::new();
    t.add("3.11.9", Fake::Good, Compression::Gz);
    let keys = t.dir.path().join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let (pk, sk) = keypair(&minisign, &keys, "fleet");
    let mirror = t.dir.path().join("mirror");
    let sk_arg = sk.to_str().unwrap();
    let doc = t
        .run(&[
            "mirror",
            mirror.to_str().unwrap(),
            "3.11",
            "--sign-key",
            sk_arg,
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
    let verify = |file: &Path| {
        Command::new(&minisign)
            .args(["-V", "-P", &pk, "-m"])
            .arg(file)
            .output()
            .unwrap()
    };
    let out = verify(&cat);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("Trusted comment: pyswap-catalogue name=production version=1 expires="),
        "{said}"
    );
    // Again: the next version, the name kept.
    t.run(&[
        "mirror",
        mirror.to_str().unwrap(),
        "3.11",
        "--sign-key",
        sk_arg,
    ])
    .ok();
    let said = String::from_utf8_lossy(&verify(&cat).stdout).into_owned();
    assert!(said.contains("name=production version=2 "), "{said}");
    // An offline signing machine: `catalogue sign` on a copy.
    let copy = t.dir.path().join("copy.json");
    std::fs::copy(&cat, &copy).unwrap();
    t.run(&[
        "catalogue",
        "sign",
        copy.to_str().unwrap(),
        "--key",
        sk_arg,
        "--version",
        "9",
        "--expires-in",
        "7d",
    ])
    .ok();
    let said = String::from_utf8_lossy(&verify(&copy).stdout).into_owned();
    assert!(
        said.contains("pyswap-catalogue version=9 expires="),
        "{said}"
    );
    // A host trusting the key switches through the signed mirror.
    trust(&t, &[&pk]);
    t.run_env(
        &["switch", "3.11"],
        &[("PYSWAP_CATALOGUE", cat.to_str().unwrap())],
    )
    .ok();
    assert_eq!(t.profile_version().as_deref(), Some("3.11.9"));
}
