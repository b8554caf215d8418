"""Writes seed inputs for the fuzz targets into fuzz/corpus/<target>/ (not committed).

archive: small tar streams (first byte 0 = gzip them, 1 = zstd them; see the target) made with
Python's tarfile in the three formats, with the member kinds an archive can hold.
catalogue: a slice of data/upstream/download-metadata.json and a few small documents.
"""
import io
import json
import pathlib
import tarfile

here = pathlib.Path(__file__).parent
out = here / "corpus"


def tar(fmt, members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for name, kind, data, link in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.mode = 0o755
            info.linkname = link
            if kind == tarfile.REGTYPE:
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
            else:
                t.addfile(info)
    return buf.getvalue()


members = [
    ("python", tarfile.DIRTYPE, b"", ""),
    ("python/bin", tarfile.DIRTYPE, b"", ""),
    ("python/bin/python3.12", tarfile.REGTYPE, b"#!/bin/sh\necho hi\n", ""),
    ("python/bin/python3", tarfile.SYMTYPE, b"", "python3.12"),
    ("python/bin/python", tarfile.LNKTYPE, b"", "python/bin/python3.12"),
    ("python/lib/python3.12/" + "long/" * 30 + "x.py", tarfile.REGTYPE, b"x = 1\n", ""),
    ("python/lib/\u00e9t\u00e9.py", tarfile.REGTYPE, b"", ""),
]
arch = out / "archive"
arch.mkdir(parents=True, exist_ok=True)
for i, fmt in enumerate([tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT]):
    ok = [m for m in members if fmt != tarfile.USTAR_FORMAT or len(m[0]) < 100 and m[0].isascii()]
    data = tar(fmt, ok)
    (arch / f"tar-{i}-gz").write_bytes(b"\x00" + data)
    (arch / f"tar-{i}-zst").write_bytes(b"\x01" + data)

cat = out / "catalogue"
cat.mkdir(parents=True, exist_ok=True)
full = json.loads((here / "../data/upstream/download-metadata.json").read_text())
for n, key in enumerate(list(full)[:8]):
    (cat / f"entry-{n}.json").write_text(json.dumps({key: full[key]}))
(cat / "empty.json").write_text("{}")
(cat / "list.json").write_text("[]")
