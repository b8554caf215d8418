//! Proving a runtime works before it can become current: run its `bin/python3` with a short
//! diagnostic that reports its version and `SOABI`, and imports the modules operators lose most
//! often (`encodings`, `json`, `ssl`, `sqlite3`, `zlib`, `ctypes`, `decimal`). The check runs
//! isolated (`-I`: no user site, no `PYTHON*` variables), writes no bytecode into the read-only
//! tree (`-B`), and is killed after a timeout. A later issue grows this into a policy; the
//! [`Diagnostic`] it returns is stored with the entry.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::version::PythonVersion;

pub const MODULES: &[&str] = &[
    "encodings",
    "json",
    "ssl",
    "sqlite3",
    "zlib",
    "ctypes",
    "decimal",
];

const SCRIPT: &str = r#"
import sys
failed = {}
for name in sys.argv[1:]:
    try:
        __import__(name)
    except BaseException as e:
        failed[name] = "%s: %s" % (type(e).__name__, e)
import json, sysconfig
v = sys.version_info
tag = {"alpha": "a", "beta": "b", "candidate": "rc"}.get(v.releaselevel, "")
print(json.dumps({
    "implementation": sys.implementation.name,
    "version": "%d.%d.%d%s" % (v.major, v.minor, v.micro, tag + str(v.serial) if tag else ""),
    "soabi": sysconfig.get_config_var("SOABI"),
    "prefix": sys.prefix,
    "failed": failed,
}))
"#;

#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    #[error("validation of {} could not start it: {error}", python.display())]
    Spawn {
        python: PathBuf,
        error: std::io::Error,
    },
    #[error("validation of {} timed out after {}s; output: {output}", python.display(), timeout.as_secs())]
    Timeout {
        python: PathBuf,
        timeout: Duration,
        output: String,
    },
    #[error("validation of {} failed: {why}; output: {output}", python.display())]
    Failed {
        python: PathBuf,
        why: String,
        output: String,
    },
}

/// What the diagnostic reported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Diagnostic {
    pub implementation: String,
    pub version: String,
    pub soabi: Option<String>,
    pub prefix: String,
    pub failed: std::collections::BTreeMap<String, String>,
}

/// Runs the diagnostic on the runtime rooted at `root`.
pub fn check(
    root: &Path,
    expected: &PythonVersion,
    timeout: Duration,
) -> Result<Diagnostic, ValidateError> {
    let python = root.join("bin/python3");
    let mut child = Command::new(&python)
        .args(["-I", "-B", "-c", SCRIPT])
        .args(MODULES)
        .env_remove("PYTHONHOME")
        .env_remove("PYTHONPATH")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| ValidateError::Spawn {
            python: python.clone(),
            error,
        })?;
    let pipe = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            if let Some(mut r) = r {
                let _ = r.by_ref().take(64 << 10).read_to_end(&mut s);
            }
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let out = pipe(child.stdout.take().map(|s| Box::new(s) as _));
    let err = pipe(child.stderr.take().map(|s| Box::new(s) as _));
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if start.elapsed() < timeout => std::thread::sleep(Duration::from_millis(2)),
            Ok(None) | Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    let output = one_line(&format!("{stdout} {stderr}"));
    let Some(status) = status else {
        return Err(ValidateError::Timeout {
            python,
            timeout,
            output,
        });
    };
    let fail = |why: String| ValidateError::Failed {
        python: python.clone(),
        why,
        output: output.clone(),
    };
    if !status.success() {
        return Err(fail(format!("it exited with {status}")));
    }
    let diag: Diagnostic = serde_json::from_str(stdout.trim())
        .map_err(|e| fail(format!("unreadable report ({e})")))?;
    if diag.implementation != "cpython" {
        return Err(fail(format!("it is {}, not CPython", diag.implementation)));
    }
    if diag.version != expected.to_string() {
        return Err(fail(format!(
            "it reports version {}, expected {expected}",
            diag.version
        )));
    }
    if !diag.failed.is_empty() {
        let names: Vec<&str> = diag.failed.keys().map(String::as_str).collect();
        return Err(fail(format!("cannot import {}", names.join(", "))));
    }
    if diag.soabi.as_deref().is_none_or(str::is_empty) {
        return Err(fail("it reports no SOABI".into()));
    }
    let real = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned());
    if real(Path::new(&diag.prefix)) != real(root) {
        return Err(fail(format!(
            "its sys.prefix is {}, not its own tree",
            diag.prefix
        )));
    }
    Ok(diag)
}

/// Folds output to one line of bounded length for an error message.
fn one_line(s: &str) -> String {
    let folded: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if folded.len() > 600 {
        let cut = (0..=600)
            .rev()
            .find(|&i| folded.is_char_boundary(i))
            .unwrap_or(0);
        format!("{}…", &folded[..cut])
    } else if folded.is_empty() {
        "(none)".into()
    } else {
        folded
    }
}
