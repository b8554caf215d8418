"""Packs this machine's CPython as a python-build-standalone `install_only` .tar.gz.

Used by scripts/try-offline.sh and benches/parallel-install.sh:

    from pack_cpython import pack
    info = pack("/path/out.tar.gz", marker=b"patched rebuild\\n")

Returns {"version", "short", "arch", "sha256", "size"}. The tree is python/bin/python3.X,
python/bin/python3 -> python3.X, python/lib/libpython*, and the standard library without tests,
site-packages, caches and GUI modules; `marker`, if given, becomes python/BUILD (so that two
packs of the same interpreter are distinct archives).

`pbs=True` packs it as python-build-standalone ships it (benches/compare-uv.py): bytecode
(`__pycache__/*.cpython-XY.pyc`, not the optimised levels) and python/include too, and
`compression=None` writes a plain .tar for an outside compressor (gzip -9, zstd -19).
"""
import hashlib
import io
import os
import sys
import tarfile

SKIP = {"test", "site-packages", "__pycache__", "idlelib", "tkinter", "turtledemo", "lib2to3"}


def _filter(info, bytecode=False):
    parts = info.name.split("/")
    skip = SKIP - {"__pycache__"} if bytecode else SKIP
    if any(p in skip or p.startswith("config-") for p in parts):
        return None
    if info.isfile() and "__pycache__" in parts and ".opt-" in parts[-1]:
        return None
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def pack(path, marker=None, pbs=False, compression="gz"):
    prefix, v = sys.base_prefix, sys.version_info
    short = f"{v.major}.{v.minor}"
    mode, level = ("w:gz", {"compresslevel": 1}) if compression == "gz" else ("w", {})
    with tarfile.open(path, mode, **level) as tar:
        tar.add(os.path.join(prefix, "bin", f"python{short}"), f"python/bin/python{short}")
        link = tarfile.TarInfo("python/bin/python3")
        link.type = tarfile.SYMTYPE
        link.linkname = f"python{short}"
        tar.addfile(link)
        for entry in sorted(os.listdir(os.path.join(prefix, "lib"))):
            if entry.startswith("libpython"):
                tar.add(os.path.join(prefix, "lib", entry), f"python/lib/{entry}")
        tar.add(os.path.join(prefix, "lib", f"python{short}"), f"python/lib/python{short}",
                filter=lambda info: _filter(info, bytecode=pbs))
        if pbs:
            tar.add(os.path.join(prefix, "include"), "python/include", filter=_filter)
        if marker:
            info = tarfile.TarInfo("python/BUILD")
            info.size = len(marker)
            tar.addfile(info, io.BytesIO(marker))
    with open(path, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    return {"version": f"{v.major}.{v.minor}.{v.micro}", "short": short, "arch": os.uname().machine,
            "sha256": sha, "size": os.path.getsize(path)}
