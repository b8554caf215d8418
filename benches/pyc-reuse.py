"""Would a .pyc compiled by pyswap be byte-identical across patch releases of one minor, for the
sources the two releases share? Packs two CPython trees as upstream archives, installs both with
pyswap (its own compile recipe), and compares the .pyc of every stdlib source whose bytes match.
usage: python3 benches/pyc-reuse.py REPO PYSWAP PYTHON_A PYTHON_B   (issue 40: what a store keyed
on the magic number alone would reuse across patch releases; the numbers are in its closing note)"""
import json, os, subprocess, sys, pathlib, shutil
REPO, PYSWAP = pathlib.Path(sys.argv[1]), sys.argv[2]
sys.path.insert(0, str(REPO / "scripts"))
from pack_cpython import pack
work = pathlib.Path(os.environ.get("TMPDIR", "/tmp")) / "pyc-reuse"; shutil.rmtree(work, ignore_errors=True); work.mkdir(parents=True)
cat = {}
for py in sys.argv[3:5]:
    arc = work / (pathlib.Path(py).resolve().name + "-" + str(len(cat)) + ".tar.gz")
    info = pack(str(arc), python=py)
    v = info["version"]; major, minor, patch = v.split(".")[:3]
    key = f"cpython-{v}-linux-x86_64-gnu"
    cat[key] = {"name": "cpython", "arch": {"family": "x86_64", "variant": None}, "os": "linux",
                "libc": "gnu", "major": int(major), "minor": int(minor), "patch": int(patch),
                "prerelease": "", "url": arc.as_uri(), "sha256": info["sha256"], "variant": None,
                "build": "20260101"}
(work / "catalogue.json").write_text(json.dumps(cat))
home = work / "home"
env = dict(os.environ, PYSWAP_HOME=str(home), PYSWAP_CATALOGUE=str(work / "catalogue.json"))
env.pop("PYTHONDONTWRITEBYTECODE", None)
keys = sorted(cat)
subprocess.run([PYSWAP, "install", *keys], env=env, check=True)
entries = {k: next(p for p in (home / "store").iterdir() if p.name.endswith(k)) for k in keys}
a, b = (entries[k] / "lib" / f"python{major}.{minor}" for k in keys)
same_src = diff_src = same_pyc = diff_pyc = 0; examples = []
for src in sorted(a.rglob("*.py")):
    rel = src.relative_to(a); other = b / rel
    if not other.is_file():
        continue
    if src.read_bytes() != other.read_bytes():
        diff_src += 1; continue
    same_src += 1
    tag = f"cpython-{major}{minor}"
    pa = src.parent / "__pycache__" / f"{src.stem}.{tag}.pyc"; pb = other.parent / "__pycache__" / f"{src.stem}.{tag}.pyc"
    if not (pa.is_file() and pb.is_file()):
        continue
    if pa.read_bytes() == pb.read_bytes():
        same_pyc += 1
    else:
        diff_pyc += 1
        if len(examples) < 5: examples.append(str(rel))
print(json.dumps({"a": keys[0], "b": keys[1], "shared_identical_sources": same_src,
                  "sources_that_differ": diff_src, "pyc_identical": same_pyc,
                  "pyc_different": diff_pyc, "examples": examples}, indent=1))

# What storing each file once (content and mode) would share between the two entries.
import hashlib
def files(root):
    out = {}
    for p in root.rglob("*"):
        if p.is_file() and not p.is_symlink():
            st = p.stat()
            out[str(p.relative_to(root))] = (hashlib.blake2b(p.read_bytes()).digest(), st.st_size, st.st_mode & 0o777)
    return out
fa, fb = files(entries[keys[0]]), files(entries[keys[1]])
seen = {(h, m) for h, _, m in fa.values()}
total = sum(s for _, s, _ in fb.values())
shared = sum(s for h, s, m in fb.values() if (h, m) in seen)
print(json.dumps({"second_entry_files": len(fb), "second_entry_mib": round(total / 2**20, 1),
                  "identical_to_a_file_of_the_first_mib": round(shared / 2**20, 1)}, indent=1))
