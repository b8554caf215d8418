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

/// A venv's check against a runtime it may move to, run by that runtime's interpreter started as
/// the venv would be (see `venv::check`): imports the modules named in `argv[1:]` or, with none,
/// the top-level modules of every distribution installed in the venv's site-packages (from
/// `top_level.txt`, else from the first component of the files `RECORD` lists). Its last line of
/// output is the JSON report: `{"imported": [...], "failed": {name: error}}`.
pub(super) const VENV_SCRIPT: &str = r#"
import sys, site, json, importlib, importlib.metadata as md
names = set(sys.argv[1:])
if not names:
    dirs = [p for p in site.getsitepackages() if p.startswith(sys.prefix)]
    for dist in md.distributions(path=dirs):
        top = (dist.read_text("top_level.txt") or "").split()
        if not top:
            for f in dist.files or ():
                head = f.parts[0] if f.parts else ""
                if head.endswith((".dist-info", ".data", ".egg-info", ".pth")) or head in ("..", "__pycache__", "bin"):
                    continue
                if len(f.parts) == 1:
                    if head.endswith(".py"):
                        head = head[:-3]
                    elif head.endswith(".so"):
                        head = head.split(".")[0]
                    else:
                        continue
                top.append(head)
        names.update(n for n in top if n.isidentifier() and not n.startswith("__"))
# Each module in an interpreter of its own (isolated as this one is, with the venv's directory
# on descriptor 3, which the site-packages links go through), as each service imports its own: one process
# importing everything meets interactions no service does (pip, then pkg_resources, then
# setuptools trips setuptools' own distutils check).
import subprocess
from concurrent.futures import ThreadPoolExecutor
def attempt(name):
    try:
        r = subprocess.run([sys.executable, "-I", "-B", "-W", "ignore", "-c", "import " + name],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
                           cwd="/", pass_fds=(3,))
    except subprocess.TimeoutExpired:
        return name, "timed out after 60 s"
    if r.returncode == 0:
        return name, None
    lines = [l for l in r.stderr.strip().splitlines() if l.strip()]
    return name, (lines[-1] if lines else "exited with %d" % r.returncode)
imported, failed = [], {}
with ThreadPoolExecutor(4) as pool:
    for name, error in pool.map(attempt, sorted(names)):
        if error is None:
            imported.append(name)
        else:
            failed[name] = error
print(json.dumps({"prefix": sys.prefix, "imported": imported, "failed": failed}))
"#;
