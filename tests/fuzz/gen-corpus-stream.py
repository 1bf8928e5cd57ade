#!/usr/bin/env python3
"""Write the seed corpora of fuzz-http-upgrade.c, fuzz-websocket.c and
fuzz-spdy.c into tests/fuzz/corpus/{http-upgrade,websocket,spdy}/.

Each seed starts with the two bytes the targets read first (flags, number
of chunk sizes; see the targets' comments), then the connection's bytes:
what kubectl, crictl and the WebSocket clients send, and the malformed
shapes the issue lists. SPDY header blocks are compressed here with
Python's zlib and the SPDY/3 dictionary read from src/stream/spdy.c, so
the seeds reach the header-block parser. The seeds are kept in the tree;
rerun this only to change them:

    python3 tests/fuzz/gen-corpus-stream.py
"""
import os
import re
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def spdy_dictionary():
    src = open(os.path.join(ROOT, "src", "stream", "spdy.c")).read()
    body = src.split("spdy_dictionary[1423] =", 1)[1].split(";", 1)[0]
    out = b""
    for lit in re.findall(r'"((?:[^"\\]|\\.)*)"', body):
        out += lit.encode().decode("unicode_escape").encode("latin-1")
    assert len(out) == 1423 and zlib.adler32(out) == 0xE3C6A7C2
    return out


def write(corpus, name, data, flags=0, chunks=b""):
    d = os.path.join(HERE, "corpus", corpus)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(bytes([flags, len(chunks)]) + chunks + data)


# ---- HTTP upgrade requests -------------------------------------------------

def http(name, text, **kw):
    write("http-upgrade", name, text if isinstance(text, bytes) else text.encode(), **kw)


SPDY_EXEC = ("POST /exec/3rF9aQ?command=sh&command=-c&command=echo%20hi&input=1&output=1&tty=0 HTTP/1.1\r\n"
             "Host: 127.0.0.1:10010\r\nUser-Agent: kubectl/v1.29.0\r\nContent-Length: 0\r\n"
             "Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
             "X-Stream-Protocol-Version: v5.channel.k8s.io\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n"
             "X-Stream-Protocol-Version: v3.channel.k8s.io\r\nX-Stream-Protocol-Version: v2.channel.k8s.io\r\n"
             "X-Stream-Protocol-Version: channel.k8s.io\r\n\r\n")
WS_EXEC = ("GET /exec/tok?command=ls&output=1&error=1 HTTP/1.1\r\nHost: localhost\r\n"
           "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: v5.channel.k8s.io, v4.channel.k8s.io, "
           "base64.channel.k8s.io\r\n\r\n")
http("spdy-exec", SPDY_EXEC)
http("spdy-exec-chunked", SPDY_EXEC, chunks=bytes([1, 7, 0, 30, 2]))
http("spdy-exec-then-frame", SPDY_EXEC.encode() + b"\x80\x03\x00\x06\x00\x00\x00\x04\x00\x00\x00\x01")
http("ws-exec", WS_EXEC)
http("ws-portforward", "GET /portforward/tok?port=80&port=8080 HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
     "Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\n"
     "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n")
http("spdy-portforward", "POST /portforward/tok HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
     "X-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n")
http("absolute-form", "GET http://127.0.0.1:10010/attach/t?tty=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
http("folded", "GET / HTTP/1.1\r\nHost: h\r\nX-Folded: a\r\n  b\r\n\tc\r\n\r\n")
http("leading-crlf", "\r\n\r\nGET / HTTP/1.0\r\n\r\n")
http("bare-lf", "GET / HTTP/1.1\nHost: h\n\n")
http("bad-version", "GET / HTTP/2.0\r\nHost: h\r\n\r\n")
http("bad-query", "GET /x?token=%zz&a=%00 HTTP/1.1\r\nHost: h\r\n\r\n")
http("te-chunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
http("ws-bad-key", "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
     "Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 8\r\n\r\n")
http("ws-unknown-subprotocol", WS_EXEC.replace("v5.channel.k8s.io, v4.channel.k8s.io, base64.channel.k8s.io",
                                               "v9.channel.k8s.io"))
http("space-before-colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n")
http("many-headers", "GET / HTTP/1.1\r\nHost: h\r\n" + "".join("X-%d: v\r\n" % i for i in range(101)) + "\r\n")
http("big-head", "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + "a" * 16400 + "\r\n\r\n")
http("base64", "dGhlIHNhbXBsZSBub25jZQ==")

# ---- WebSocket frames ------------------------------------------------------

MASK = b"\x37\xfa\x21\x3d"


def ws_frame(op, payload, fin=True, mask=MASK):
    b0 = (0x80 if fin else 0) | op
    m = 0x80 if mask else 0
    n = len(payload)
    if n <= 125:
        h = bytes([b0, m | n])
    elif n <= 0xFFFF:
        h = bytes([b0, m | 126]) + struct.pack(">H", n)
    else:
        h = bytes([b0, m | 127]) + struct.pack(">Q", n)
    if not mask:
        return h + payload
    return h + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload))


def ws(name, data, role_client=False, limit=7, fail_at=0, chunks=b""):
    write("websocket", name, data, flags=(1 if role_client else 0) | (limit << 1) | (fail_at << 4), chunks=chunks)


ws("rfc-masked-hello", bytes.fromhex("818537fa213d7f9f4d5158"))
ws("rfc-unmasked-fragments", bytes.fromhex("010348656c80026c6f890548656c6c6f"), role_client=True)
ws("k8s-v4-session", ws_frame(2, b"\x00ls -l\n") + ws_frame(2, b'\x04{"Width":80,"Height":24}') +
   ws_frame(9, b"ping") + ws_frame(8, b"\x03\xe8bye"))
ws("k8s-v5-close-stdin", ws_frame(2, b"\x00data") + ws_frame(2, b"\xff\x00"))
ws("k8s-base64", ws_frame(1, b"0aGVsbG8=") + ws_frame(1, b"4eyJXaWR0aCI6ODAsIkhlaWdodCI6MjR9"))
ws("server-frames", ws_frame(2, b"\x01output", mask=None) + ws_frame(2, b'\x03{"status":"Success"}', mask=None) +
   ws_frame(8, b"\x03\xe8", mask=None), role_client=True)
ws("len16", ws_frame(2, bytes(range(256)) * 2))
ws("len64", ws_frame(2, b"x" * 65536))
ws("fragmented-text-ping", ws_frame(1, "caf\u00e9 ".encode()[:4], fin=False) + ws_frame(9, b"") +
   ws_frame(0, "caf\u00e9 ".encode()[4:], fin=True))
ws("chunked", ws_frame(2, b"\x00" + b"y" * 300) + ws_frame(10, b"pong"), chunks=bytes([1, 2, 3, 13, 0]))
ws("invalid-utf8", ws_frame(1, b"\xc0\x80"))
ws("unmasked-from-client", ws_frame(2, b"\x00x", mask=None))
ws("oversized", ws_frame(2, b"z" * 200), limit=1)
ws("control-too-long", bytes([0x89, 0xFE, 0x00, 0x7E]) + MASK + b"\x00" * 126)
ws("bad-close", ws_frame(8, b"\x03"))
ws("callback-fails", ws_frame(2, b"\x00a") + ws_frame(2, b"\x00b"), fail_at=1)

# ---- SPDY frames -------------------------------------------------------------

DICT = spdy_dictionary()


class Deflater:
    """One zlib stream for all the header blocks one side sends."""

    def __init__(self):
        self.z = zlib.compressobj(9, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY, DICT)

    def block(self, headers):
        raw = struct.pack(">I", len(headers))
        for k, v in headers:
            raw += struct.pack(">I", len(k)) + k + struct.pack(">I", len(v)) + v
        return self.z.compress(raw) + self.z.flush(zlib.Z_SYNC_FLUSH)


def control(type_, flags, payload, version=3):
    return struct.pack(">HHI", 0x8000 | version, type_, (flags << 24) | len(payload)) + payload


def syn_stream(d, sid, headers, flags=0, pri=0):
    return control(1, flags, struct.pack(">IIBB", sid, 0, pri << 5, 0) + d.block(headers))


def syn_reply(d, sid, headers, flags=0):
    return control(2, flags, struct.pack(">I", sid) + d.block(headers))


def data(sid, payload, flags=0):
    return struct.pack(">II", sid, (flags << 24) | len(payload)) + payload


def spdy(name, frames, client=False, limit=7, fail_at=0, chunks=b""):
    write("spdy", name, frames, flags=(1 if client else 0) | (limit << 1) | (fail_at << 4), chunks=chunks)


d = Deflater()
exec_session = b"".join(syn_stream(d, 1 + 2 * i, [(b"streamtype", t)]) for i, t in
                        enumerate([b"error", b"stdin", b"stdout", b"stderr", b"resize"]))
exec_session += data(3, b"echo hi\n") + data(3, b"", 1) + data(9, b'{"Width":80,"Height":24}')
exec_session += control(6, 0, struct.pack(">I", 1))
exec_session += control(4, 0, struct.pack(">III", 1, 7, 65536))
exec_session += control(9, 0, struct.pack(">II", 0, 32768))
exec_session += control(3, 0, struct.pack(">II", 7, 5))
exec_session += control(7, 0, struct.pack(">II", 9, 0))
spdy("exec-session", exec_session)
spdy("exec-session-chunked", exec_session, chunks=bytes([1, 5, 0, 64, 3]))

d = Deflater()
pf = b""
for i, (t, port) in enumerate([(b"error", b"80"), (b"data", b"80"), (b"error", b"8080"), (b"data", b"8080")]):
    pf += syn_stream(d, 1 + 2 * i, [(b"streamtype", t), (b"port", port), (b"requestid", str(i // 2).encode())])
pf += data(3, b"GET / HTTP/1.0\r\n\r\n")
spdy("portforward", pf)

spdy("node-spdy-vector", bytes.fromhex("800300010000002c0000000100000000000078f9e3c6a7c202e50e507ab442a45a77d7105006"
                                       "b32a4804974d8cfa00000000ffff"))
d = Deflater()
spdy("client-side", syn_reply(d, 1, [(b":status", b"200"), (b"multi", b"a\x00b")]) +
     control(8, 1, struct.pack(">I", 1) + d.block([])) + data(1, b"out"), client=True)

d = Deflater()
spdy("reused-stream-id", syn_stream(d, 3, [(b"streamtype", b"stdin")]) + syn_stream(d, 3, [(b"streamtype", b"stdout")]))
d = Deflater()
spdy("zlib-bomb", syn_stream(d, 1, [(b"x", b"a" * (1 << 20))]))
d = Deflater()
spdy("uppercase-duplicate", syn_stream(d, 1, [(b"Host", b"h")]) + syn_stream(d, 3, [(b"a", b"1"), (b"a", b"2")]))
spdy("unknown-control", control(10, 0, b"\x01\x02\x03") + control(6, 0, struct.pack(">I", 5)))
spdy("oversized-data", data(1, b"q" * 200), limit=2)
spdy("bad-lengths", control(3, 0, b"\x00" * 7) + control(2, 0, b"", version=2))
spdy("callback-fails", control(6, 0, struct.pack(">I", 1)) * 3, fail_at=2)
