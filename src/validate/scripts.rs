//! The Python scripts pyswap runs with a new interpreter: the full diagnostic and the short
//! health probe, both embedded in the binary and run isolated (`-I`) without bytecode (`-B`).

use serde::Deserialize;

/// Bumped whenever what the built-in checks test changes: stored results of an older version
/// no longer count as "validated under this policy".
pub(super) const CHECKS_VERSION: u32 = 2;

pub(super) const SCRIPT: &str = r#"
import gc, sys
gc.disable()  # a short-lived process: collecting during the imports only costs time (~20 %)
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
    "abiflags": getattr(sys, "abiflags", ""),
    "platform": sysconfig.get_platform(),
    "prefix": sys.prefix,
    "stdlib": sysconfig.get_paths()["stdlib"],
    "failed": failed,
}))
"#;

/// The health check's probe: no imports beyond what start-up loads (`encodings` among them, and
/// without `site`: `-S`; the prefix is computed before `site` runs), so it costs one bare
/// interpreter start. Writes JSON by hand for the same reason.
pub(super) const HEALTH_SCRIPT: &str = r#"
import sys
v = sys.version_info
tag = {"alpha": "a", "beta": "b", "candidate": "rc"}.get(v.releaselevel, "")
p = sys.prefix.replace("\\", "\\\\").replace('"', '\\"')
print('{"implementation": "%s", "version": "%d.%d.%d%s", "prefix": "%s"}' % (
    sys.implementation.name, v.major, v.minor, v.micro, tag + str(v.serial) if tag else "", p))
"#;

/// What the health probe reports (a full diagnostic report parses as one too).
#[derive(Debug, Deserialize)]
pub(super) struct Probe {
    pub(super) implementation: String,
    pub(super) version: String,
    pub(super) prefix: String,
}
