//! The validation policy: which modules must import, the operator's own checks, whether the
//! health check runs, and the fingerprint that says whether a stored run still applies.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::scripts::CHECKS_VERSION;

/// Extension modules checked unless the manifest sets `validation.modules`.
pub(crate) const DEFAULT_MODULES: &[&str] = &[
    "ssl",
    "sqlite3",
    "ctypes",
    "zlib",
    "bz2",
    "lzma",
    "_decimal",
    "readline",
    "_uuid",
    "venv",
    "ensurepip",
];

/// Pure-Python standard library modules whose import proves the stdlib is reachable.
pub(crate) const STDLIB: &[&str] = &[
    "encodings",
    "os",
    "json",
    "re",
    "collections",
    "importlib.metadata",
    "subprocess",
    "asyncio",
    "email.parser",
    "http.client",
    "logging",
];

/// When a user check runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum When {
    /// Before activation (and by `pyswap check`).
    #[default]
    Before,
    /// After the swap, through the profile path, as part of the health check.
    After,
    Both,
}

/// A command from the manifest, run with the new interpreter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct UserCheck {
    pub(crate) name: String,
    /// argv; `{python}` is replaced by the interpreter's path.
    pub(crate) run: Vec<String>,
    pub(crate) timeout: Duration,
    pub(crate) when: When,
}

/// What validation checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    /// `false` (`[validation] enabled = false`, manifest only): nothing is validated before or
    /// after a switch; for throw-away CI runners. Never the default.
    pub(crate) enabled: bool,
    pub(crate) modules: Vec<String>,
    pub(crate) checks: Vec<UserCheck>,
    /// Run the post-switch health check (and roll back if it fails).
    pub(crate) health_check: bool,
    /// Timeout of the built-in diagnostic.
    pub(crate) timeout: Duration,
    /// Who runs an archive's interpreter for its compile workers, the diagnostic and the health
    /// probe (`[install] sandbox_user` when pyswap is root). Not part of the fingerprint: it
    /// changes who runs the checks, not what they test.
    pub(crate) sandbox: crate::ground::spawn::Sandbox,
}

impl Default for Plan {
    fn default() -> Self {
        Self {
            enabled: true,
            modules: DEFAULT_MODULES.iter().map(|&m| m.to_owned()).collect(),
            checks: Vec::new(),
            health_check: true,
            timeout: Duration::from_secs(60),
            sandbox: crate::ground::spawn::Sandbox::Caller,
        }
    }
}

impl Plan {
    /// Whether the post-switch health check runs.
    pub(crate) fn health(&self) -> bool {
        self.enabled && self.health_check
    }

    /// A digest of everything the pre-activation validation tests: a stored passing result with
    /// the same fingerprint need not be re-run.
    pub(crate) fn fingerprint(&self) -> String {
        let before: Vec<(&str, &[String])> = self
            .checks
            .iter()
            .filter(|c| c.when != When::After)
            .map(|c| (c.name.as_str(), c.run.as_slice()))
            .collect();
        let doc = serde_json::json!([CHECKS_VERSION, self.modules, STDLIB, before]);
        blake3::hash(doc.to_string().as_bytes()).to_hex()[..32].to_owned()
    }
}
