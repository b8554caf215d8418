"""Packs this machine's CPython as a python-build-standalone `install_only` .tar.gz.

Used by scripts/try-offline.sh and benches/parallel-install.sh:

    from pack_cpython import pack
    info = pack("/path/out.tar.gz", marker=b"patched rebuild\\n")

Returns {"version", "short", "arch", "sha256", "size"}. The tree is python/bin/python3.X,
python/bin/python3 -> python3.X, python/lib/libpython*, and the standard library without tests,
site-packages, caches and GUI modules; `marker`, if given, becomes python/BUILD (so that two
packs of the same interpreter are distinct archives).
"""
import hashlib
import io
import os
import sys
import tarfile

SKIP = {"test", "site-packages", "__pycache__", "idlelib", "tkinter", "turtledemo", "lib2to3"}


def _filter(info):
    if any(p in SKIP or p.startswith("config-") for p in info.name.split("/")):
        return None
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def pack(path, marker=None):
    prefix, v = sys.base_prefix, sys.version_info
    short = f"{v.major}.{v.minor}"
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        tar.add(os.path.join(prefix, "bin", f"python{short}"), f"python/bin/python{short}")
        link = tarfile.TarInfo("python/bin/python3")
        link.type = tarfile.SYMTYPE
        link.linkname = f"python{short}"
        tar.addfile(link)
        for entry in sorted(os.listdir(os.path.join(prefix, "lib"))):
            if entry.startswith("libpython"):
                tar.add(os.path.join(prefix, "lib", entry), f"python/lib/{entry}")
        tar.add(os.path.join(prefix, "lib", f"python{short}"), f"python/lib/python{short}", filter=_filter)
        if marker:
            info = tarfile.TarInfo("python/BUILD")
            info.size = len(marker)
            tar.addfile(info, io.BytesIO(marker))
    with open(path, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    return {"version": f"{v.major}.{v.minor}.{v.micro}", "short": short, "arch": os.uname().machine,
            "sha256": sha, "size": os.path.getsize(path)}
