#!/usr/bin/env python3
"""Write the seed corpus of fuzz-unpack.c into tests/fuzz/corpus/unpack/.

Small layers with the shapes an attacker would use (escapes by "..",
absolute names, symlinks, hard links, whiteouts, forged overlay xattrs)
next to ordinary ones, as plain tar, gzip and zstd. The seeds are kept in
the tree; rerun this only to change them:

    python3 tests/fuzz/gen-corpus-unpack.py

Needs GNU tar (sparse seed) and the zstd command.
"""
import gzip
import io
import os
import subprocess
import sys
import tarfile
import tempfile

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "unpack")

# Keep seeds small: end the archive right after its two zero blocks
# instead of padding to a 10 KiB record (one seed keeps the padding).
tarfile.RECORDSIZE = tarfile.BLOCKSIZE


def info(name, kind=tarfile.REGTYPE, data=b"", mode=None, link="", uid=0, gid=0,
         devmajor=0, devminor=0, pax=None):
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.mode = mode if mode is not None else (0o755 if kind == tarfile.DIRTYPE else 0o644)
    ti.linkname = link
    ti.uid, ti.gid = uid, gid
    ti.uname = ti.gname = ""
    ti.mtime = 1600000000
    ti.devmajor, ti.devminor = devmajor, devminor
    ti.size = len(data) if kind in (tarfile.REGTYPE, tarfile.AREGTYPE) else 0
    if pax:
        ti.pax_headers = pax
    return ti, data


def F(name, data=b"x", **kw):
    return info(name, tarfile.REGTYPE, data, **kw)


def D(name, **kw):
    return info(name, tarfile.DIRTYPE, **kw)


def S(name, target, **kw):
    return info(name, tarfile.SYMTYPE, link=target, **kw)


def H(name, target):
    return info(name, tarfile.LNKTYPE, link=target)


def make_tar(entries, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for ti, data in entries:
            t.addfile(ti, io.BytesIO(data) if ti.size else None)
    return buf.getvalue()


def zstd(data):
    return subprocess.run(["zstd", "-q", "-c", "-19"], input=data, stdout=subprocess.PIPE,
                          check=True).stdout


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def sparse_tar():
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "sparse")
        with open(path, "wb") as f:
            f.write(b"head")
            f.seek(60000)
            f.write(b"tail")
        return subprocess.run(
            ["tar", "--format=gnu", "-S", "-c", "-f", "-", "-C", tmp, "--mtime=@0",
             "--owner=0", "--group=0", "--numeric-owner", "--record-size=512", "sparse"],
            stdout=subprocess.PIPE, check=True).stdout


def main():
    os.makedirs(OUT, exist_ok=True)
    basic = make_tar([
        D("bin"), F("bin/sh", b"#!/bin/sh\n", mode=0o4755, uid=1000, gid=1000),
        S("bin/ash", "sh"), H("bin/hard", "bin/sh"),
        info("dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666),
        info("dev/loop0", tarfile.BLKTYPE, devmajor=7, devminor=0),
        info("run/fifo", tarfile.FIFOTYPE),
        D("tmp", mode=0o1777),
    ])
    write("basic.tar", basic)
    write("basic.tar.gz", gzip.compress(basic, mtime=0))
    write("basic.tar.zst", zstd(basic))
    write("dotdot.tar", make_tar([F("../../escape"), F("a/../../../canary"), F("..")]))
    write("absolute.tar", make_tar([F("/abs/path"), F("/etc/evil"), D("/"), D("./")]))
    symlink_root = make_tar([S("link", "/"), F("link/etc/evil"), D("link/tmp")])
    write("symlink-root.tar", symlink_root)
    write("symlink-root.tar.zst", zstd(symlink_root))
    write("symlink-dotdot.tar", make_tar([S("link", "../../.."), F("link/x"),
                                          S("up", "../canary"), F("up", b"over")]))
    write("symlink-chain.tar", make_tar([S("a", "b"), S("b", "sub/c"),
                                         S("sub/c", "../../../.."), F("a/x"), S("loop", "loop"),
                                         F("loop/x")]))
    write("hardlink-outside.tar", make_tar([H("pw", "/etc/passwd"), H("o", "../canary"),
                                            S("l", "../.."), H("p", "l/canary"), F("f"),
                                            H("g", "f"), H("d", "bin")]))
    write("dir-then-symlink.tar", make_tar([D("d"), F("d/f"), S("d", "../../.."), F("d/x"),
                                            D("d/y")]))
    write("whiteouts.tar", make_tar([D("d"), F("d/f"), F(".wh.d", b""), D("etc"),
                                     F("etc/.wh..wh..opq", b""), F(".wh..wh.plnk", b""),
                                     F("x/.wh.", b""), S("l", "../.."), F("l/.wh.canary", b"")]))
    write("xattrs.tar", make_tar([
        F("ping", b"p", pax={"SCHILY.xattr.security.capability":
                             "\x01\x00\x00\x02\x00\x20" + "\x00" * 14,
                             "SCHILY.xattr.user.note": "hello"}),
        D("etc", pax={"SCHILY.xattr.user.dir": "d", "SCHILY.xattr.security.selinux": "x"}),
        S("l", "ping", pax={"SCHILY.xattr.trusted.mark": "t"}),
        D("opq", pax={"SCHILY.xattr.trusted.overlay.opaque": "y"}),
    ]))
    write("replace.tar", make_tar([D("x"), F("x/y/z"), F("x", b"file"), F("f"), D("f"),
                                   S("s", "x"), info("s", tarfile.FIFOTYPE), F("a", b"old"),
                                   H("b", "a"), F("a", b"new")]))
    write("longnames-gnu.tar", make_tar([F("d/" + "n" * 120 + "/" + "m" * 120),
                                         S("long-link", "t" * 300)], fmt=tarfile.GNU_FORMAT))
    write("utf8-names.tar", make_tar([F("caf\u00e9"), F("\u65e5\u672c/\u8a9e")]))
    write("sparse.tar", sparse_tar())
    padded = make_tar([F("f", b"data")]) + b"\0" * 10240
    write("padded.tar.gz", gzip.compress(padded[:700], mtime=0) +
          gzip.compress(padded[700:], mtime=0))
    write("empty.tar", b"\0" * 1024)


if __name__ == "__main__":
    sys.exit(main())
