#!/usr/bin/python3
"""Push a hostile one-layer image that mkimage.py will not build, to test
what ocid does with it. The blob digests are right (the registry checks
them); what is wrong is inside the layer:

  truncated-gzip    a gzip stream cut short (the config's diff_id is that
                    of the whole tar)
  dotdot            entries "../../escape-TAG" and "a/../../../escape-TAG"
  symlink-escape    a symlink "link" -> TARGET (absolute, --target), then a
                    file "link/pwned" through it
  hardlink-escape   a hard link "h" to "../../../..<TARGET>" (--target, a
                    file outside)

    pushraw.py --registry 127.0.0.1:PORT --kind dotdot [--target PATH] NAME:TAG

Prints {"reference", "digest", "image_id", "layer"} as JSON. Uses
mkimage.py's registry client. Standard library only.
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import random
import sys
import tarfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fixtures"))
import mkimage  # noqa: E402


def tar_bytes(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for ti, data in entries:
            ti.mtime = mkimage.EPOCH
            tar.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def entry(name, kind=tarfile.REGTYPE, data=None, link="", mode=0o644):
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.linkname = kind, mode, link
    ti.size = len(data) if data is not None else 0
    return ti, data


def build(kind, target, tag):
    """(compressed layer bytes, diff_id)"""
    if kind == "truncated-gzip":
        data = random.Random(1).randbytes(256 * 1024)
        tar = tar_bytes([entry("etc", tarfile.DIRTYPE, mode=0o755), entry("etc/data.bin", data=data)])
        gz = gzip.compress(tar, mtime=0)
        return gz[: len(gz) * 2 // 3], "sha256:" + hashlib.sha256(tar).hexdigest()
    if kind == "dotdot":
        entries = [entry("../../escape-%s" % tag, data=b"escaped\n"),
                   entry("a/../../../escape-%s" % tag, data=b"escaped\n"),
                   entry("inside.txt", data=b"inside\n")]
    elif kind == "symlink-escape":
        entries = [entry("link", tarfile.SYMTYPE, link=target, mode=0o777),
                   entry("link/pwned", data=b"written through a symlink\n")]
    elif kind == "hardlink-escape":
        entries = [entry("h", tarfile.LNKTYPE, link="../../../../../../../.." + target)]
    else:
        sys.exit("unknown --kind " + kind)
    tar = tar_bytes(entries)
    return gzip.compress(tar, mtime=0), "sha256:" + hashlib.sha256(tar).hexdigest()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--registry", required=True)
    p.add_argument("--kind", required=True)
    p.add_argument("--target", default="/nonexistent")
    p.add_argument("name")
    args = p.parse_args()
    name, _, tag = args.name.rpartition(":")
    layer, diff_id = build(args.kind, args.target, tag)
    config = mkimage.canonical_json({
        "created": mkimage.CREATED, "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]}})
    sha = lambda b: "sha256:" + hashlib.sha256(b).hexdigest()  # noqa: E731
    manifest = mkimage.canonical_json({
        "schemaVersion": 2, "mediaType": mkimage.DOCKER_MANIFEST,
        "config": {"mediaType": mkimage.DOCKER_CONFIG, "size": len(config), "digest": sha(config)},
        "layers": [{"mediaType": mkimage.DOCKER_LAYER["gzip"], "size": len(layer), "digest": sha(layer)}]})
    reg = mkimage.Registry(args.registry, "http", None, None, name)
    reg.login()
    for blob in (layer, config):
        path = os.path.join(os.environ.get("TMPDIR", "/tmp"), "pushraw-%d-%s" % (os.getpid(), sha(blob)[7:]))
        with open(path, "wb") as f:
            f.write(blob)
        try:
            reg.push_blob(sha(blob), path)
        finally:
            os.unlink(path)
    digest = reg.push_manifest(tag, manifest, mkimage.DOCKER_MANIFEST)
    print(json.dumps({"reference": "%s/%s:%s" % (args.registry, name, tag), "digest": digest,
                      "image_id": sha(config), "layer": sha(layer)}))


if __name__ == "__main__":
    main()
