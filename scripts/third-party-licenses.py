#!/usr/bin/env python3
"""The licences of every crate linked into the pyswap binary, as one text file for the Debian
package (`/usr/share/doc/pyswap/THIRD-PARTY-LICENSES`) and the wheel: for each package that the
binary's normal dependencies reach on this host's target (`cargo metadata --locked`, build and
dev dependencies left out: they are not linked), its name, version, licence expression and
the text of each licence file its crate ships (LICENSE*, LICENCE*, COPYING*, NOTICE*, UNLICENSE).

    python3 scripts/third-party-licenses.py OUT
"""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NAMES = ("LICENSE", "LICENCE", "COPYING", "NOTICE", "UNLICENSE")


def host_target() -> str:
    out = subprocess.run(["rustc", "-vV"], check=True, capture_output=True, text=True).stdout
    return next(l.split(": ", 1)[1] for l in out.splitlines() if l.startswith("host: "))


def linked(meta: dict) -> list[dict]:
    """The packages the root's normal dependencies reach, the root excluded."""
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    root = meta["resolve"]["root"]
    seen, todo = set(), [root]
    while todo:
        node = nodes[todo.pop()]
        for dep in node["deps"]:
            if any(k["kind"] is None for k in dep["dep_kinds"]) and dep["pkg"] not in seen:
                seen.add(dep["pkg"])
                todo.append(dep["pkg"])
    packages = {p["id"]: p for p in meta["packages"]}
    return sorted((packages[i] for i in seen), key=lambda p: (p["name"], p["version"]))


def main() -> None:
    out = Path(sys.argv[1])
    meta = json.loads(subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked", "--filter-platform",
         host_target(), "--manifest-path", str(REPO / "Cargo.toml")],
        check=True, capture_output=True, text=True).stdout)
    parts = ["The pyswap binary links the following crates. Each is listed with its licence as "
             "its Cargo.toml declares it, followed by the licence files it ships.\n"]
    missing = []
    for p in linked(meta):
        crate_dir = Path(p["manifest_path"]).parent
        files = sorted(f for f in crate_dir.iterdir()
                       if f.is_file() and f.name.upper().startswith(NAMES))
        parts.append("=" * 78)
        parts.append(f"{p['name']} {p['version']}: {p.get('license') or 'see its files'}")
        parts.append(p.get("repository") or "")
        if not files:
            missing.append(p["name"])
            parts.append(f"(the crate ships no licence file; its licence is {p.get('license')})")
        for f in files:
            parts.append(f"--- {f.name}")
            parts.append(f.read_text(errors="replace").rstrip())
        parts.append("")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(parts) + "\n")
    print(f"{out}: {len(linked(meta))} crates; without a licence file: {', '.join(missing) or 'none'}")


if __name__ == "__main__":
    main()
