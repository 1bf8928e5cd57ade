#!/usr/bin/python3
"""One line per file of a root file system, sorted, to compare what ocid
unpacked (stacked as overlay lowers) with what the image says:

    rootfs.py layout DIR     the merged file system of an OCI layout written
                             by mkimage.py --output (gzip or uncompressed
                             layers), whiteouts and opaque dirs applied the
                             way `docker export` would show it
    rootfs.py tree DIR       a directory as it is on disk

Line: "path type mode uid:gid detail", type f/d/l/c/b/p, detail the sha256
of a regular file's content, a symlink's target, or a device's major:minor.
Hard links show as the regular files they are. Standard library only.
"""

import hashlib
import json
import os
import stat
import sys
import tarfile


def layout_lines(root):
    def blob(d):
        return os.path.join(root, "blobs", "sha256", d.split(":", 1)[1])
    index = json.load(open(os.path.join(root, "index.json")))
    manifest = json.load(open(blob(index["manifests"][0]["digest"])))
    fs = {}
    for layer in manifest["layers"]:
        with tarfile.open(blob(layer["digest"]), "r:*") as tar:
            members = tar.getmembers()
            # Deletions first: they apply to the layers below only.
            for m in members:
                d, base = os.path.split(m.name)
                if base == ".wh..wh..opq":
                    for p in [p for p in fs if p.startswith(d + "/")]:
                        del fs[p]
                elif base.startswith(".wh."):
                    gone = os.path.join(d, base[4:])
                    for p in [p for p in fs if p == gone or p.startswith(gone + "/")]:
                        del fs[p]
            data = {}
            for m in members:
                if m.isreg():
                    data[m.name] = hashlib.sha256(tar.extractfile(m).read()).hexdigest()
            for m in members:
                if os.path.basename(m.name).startswith(".wh."):
                    continue
                mode = m.mode & 0o7777
                if m.isdir():
                    kind, detail = "d", ""
                elif m.issym():
                    kind, detail = "l", m.linkname
                elif m.islnk():
                    kind, detail = "f", data.get(m.linkname) or fs[m.linkname].split(" ")[4]
                elif m.ischr() or m.isblk():
                    kind, detail = "c" if m.ischr() else "b", "%d:%d" % (m.devmajor, m.devminor)
                elif m.isfifo():
                    kind, detail = "p", ""
                else:
                    kind, detail = "f", data[m.name]
                fs[m.name] = "%s %s %o %d:%d %s" % (m.name, kind, mode, m.uid, m.gid, detail)
    return [fs[p].rstrip() for p in sorted(fs)]


def tree_lines(root):
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            st = os.lstat(path)
            m = st.st_mode
            if stat.S_ISDIR(m):
                kind, detail = "d", ""
            elif stat.S_ISLNK(m):
                kind, detail = "l", os.readlink(path)
            elif stat.S_ISREG(m):
                h = hashlib.sha256()
                with open(path, "rb") as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        h.update(chunk)
                kind, detail = "f", h.hexdigest()
            elif stat.S_ISCHR(m) or stat.S_ISBLK(m):
                kind = "c" if stat.S_ISCHR(m) else "b"
                detail = "%d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))
            elif stat.S_ISFIFO(m):
                kind, detail = "p", ""
            else:
                kind, detail = "?", ""
            out.append((rel, ("%s %s %o %d:%d %s" % (rel, kind, stat.S_IMODE(m), st.st_uid,
                                                     st.st_gid, detail)).rstrip()))
    return [line for _, line in sorted(out)]


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("layout", "tree"):
        sys.exit(__doc__)
    lines = layout_lines(sys.argv[2]) if sys.argv[1] == "layout" else tree_lines(sys.argv[2])
    print("\n".join(lines))


if __name__ == "__main__":
    main()
