"""Issue 40 groundwork: what storing each file once and hard-linking it into entries costs on this
filesystem, against writing every file again (what an install does today). Takes an installed
entry (a directory tree), and times, each several times in a scratch directory on the same
filesystem:
  copy:  every regular file written again (read + write + fsync of each file, as an unpack does);
  hash:  every file read and hashed (what finding the shared files costs);
  link:  every file hard-linked from an objects directory sharded by hash prefix (the objects
         already there: a later build whose files are all shared);
  first: the objects written (each file copied into objects/, then linked into the entry): what
         a first install would pay if it went through objects/;
  adopt: the entry written as today, then each of its files linked into objects/ (no second
         write: the object is the entry's own inode), what a first install pays in this design.
Also prints the filesystem's link maximum (pathconf PC_LINK_MAX).
usage: python3 benches/link-cost.py ENTRY_DIR [ROUNDS]"""
import hashlib, os, shutil, statistics, sys, tempfile, time

src = sys.argv[1]
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
files = []
for d, _, names in os.walk(src):
    for n in names:
        p = os.path.join(d, n)
        if os.path.isfile(p) and not os.path.islink(p):
            files.append(os.path.relpath(p, src))
total = sum(os.path.getsize(os.path.join(src, f)) for f in files)
scratch = tempfile.mkdtemp(dir=os.path.dirname(os.path.abspath(src)) if os.access(os.path.dirname(os.path.abspath(src)), os.W_OK) else None)

def digest(path):
    h = hashlib.blake2b()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()

def copy(dst):
    for f in files:
        out = os.path.join(dst, f)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(os.path.join(src, f), "rb") as i, open(out, "wb") as o:
            shutil.copyfileobj(i, o, 1 << 20)
            o.flush(); os.fsync(o.fileno())

def hashes():
    return {f: digest(os.path.join(src, f)) for f in files}

def objects_from(hs, objects):
    for f, h in hs.items():
        obj = os.path.join(objects, h[:2], h)
        if not os.path.exists(obj):
            os.makedirs(os.path.dirname(obj), exist_ok=True)
            with open(os.path.join(src, f), "rb") as i, open(obj, "wb") as o:
                shutil.copyfileobj(i, o, 1 << 20)
                o.flush(); os.fsync(o.fileno())

def link(hs, objects, dst):
    for f, h in hs.items():
        out = os.path.join(dst, f)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        os.link(os.path.join(objects, h[:2], h), out)

def adopt(hs, entry, objects):
    for f, h in hs.items():
        obj = os.path.join(objects, h[:2], h)
        os.makedirs(os.path.dirname(obj), exist_ok=True)
        if not os.path.exists(obj):
            os.link(os.path.join(entry, f), obj)

def timed(fn):
    t = time.perf_counter(); fn(); return time.perf_counter() - t

res = {"copy": [], "hash": [], "link": [], "first": [], "adopt": []}
hs = hashes()
for r in range(rounds):
    base = os.path.join(scratch, str(r)); os.makedirs(base)
    res["copy"].append(timed(lambda: copy(os.path.join(base, "copy"))))
    res["hash"].append(timed(hashes))
    objects = os.path.join(base, "objects")
    res["first"].append(timed(lambda: (objects_from(hs, objects), link(hs, objects, os.path.join(base, "first")))))
    res["link"].append(timed(lambda: link(hs, objects, os.path.join(base, "linked"))))
    entry, objects2 = os.path.join(base, "adopted"), os.path.join(base, "objects2")
    res["adopt"].append(timed(lambda: (copy(entry), adopt(hs, entry, objects2))))
    os.sync()
print(f"{len(files)} files, {total / 2**20:.1f} MiB, {rounds} rounds (median seconds):")
for k, v in res.items():
    print(f"  {k:6} {statistics.median(v):7.3f}")
print(f"  link maximum here: {os.pathconf(scratch, 'PC_LINK_MAX')}")
shutil.rmtree(scratch)
