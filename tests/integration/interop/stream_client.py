#!/usr/bin/python3
"""An independent client for ocid's streaming server (the URLs Exec, Attach
and PortForward return), for the integration tests. Debian's python3 only:
zlib, socket, json, struct, and python3-websocket (websocket-client) for
the WebSocket transport. It shares no code with ocid: the SPDY/3.1 framing,
the header compression and the Kubernetes remotecommand and portforward
protocols are written here from their specifications.

  stream_client.py [--transport spdy|websocket] [--protocol NAME]... [--timeout S]
                   [--report FILE] MODE ...

  exec|attach URL [--stdin-file F | --stdin-text T] [--keep-stdin-open] [--tty]
                  [--resize WxH]... [--resize-delay S] [--no-stdout] [--no-stderr]
                  [--until REGEX] [--duration S]
      stdout bytes to stdout, stderr bytes to stderr; the exit code is the
      remote one, taken from the metav1.Status on the error stream (v4/v5):
      Success 0, NonZeroExitCode its ExitCode cause, other failures print
      the message and exit 1. Resizes go first thing, --resize-delay S
      apart (the first at once). --stdin-file - forwards this process's stdin
      as it comes. --keep-stdin-open never closes the remote stdin.
      --until detaches (closes the connection) once stdout matches REGEX,
      --duration after S seconds; a detach exits 0.
  portforward URL PORT [--send-text T | --send-file F] [--half-close] [--idle S]
      one forwarded connection: sends the bytes, prints what comes back.
      An error from the server (error stream / channel) is printed on
      stderr, exit 1.
  raw URL [--upgrade none|spdy|websocket] [--request-text T] [--header 'K: V']...
          [--pad-head N] [--action NAME]... [--wait S]
      for malformed input: sends an upgrade request (or T verbatim), then
      the named actions' bytes, and prints one JSON object describing how
      the server answered: HTTP status, headers, body, the frames it sent
      after the upgrade, whether it closed the connection.

--report FILE writes a JSON summary (HTTP status, the raw Status, close
codes, frames of note) for the tests to inspect.

Exit codes besides the remote one: 1 a failure (the message on stderr),
124 the --timeout passed, 2 usage.
"""

import argparse
import base64
import json
import os
import re
import select
import socket
import struct
import sys
import threading
import time
import zlib
from urllib.parse import urlsplit

# ---- SPDY/3 ----------------------------------------------------------------------------------

# The header compression dictionary of SPDY/3 (draft-mbelshe-httpbis-spdy-00
# section 2.6.10.1): these names, each after its 32-bit big-endian length,
# then the tail as is.
_DICT_WORDS = [
    "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset",
    "accept-encoding", "accept-language", "accept-ranges", "age", "allow", "authorization",
    "cache-control", "connection", "content-base", "content-encoding", "content-language",
    "content-length", "content-location", "content-md5", "content-range", "content-type",
    "date", "etag", "expect", "expires", "from", "host", "if-match", "if-modified-since",
    "if-none-match", "if-range", "if-unmodified-since", "last-modified", "location",
    "max-forwards", "pragma", "proxy-authenticate", "proxy-authorization", "range", "referer",
    "retry-after", "server", "te", "trailer", "transfer-encoding", "upgrade", "user-agent",
    "vary", "via", "warning", "www-authenticate", "method", "get", "status", "200 OK",
    "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive", "origin",
]
_DICT_TAIL = (
    b"100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    b"203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request"
    b"401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented"
    b"503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 "
    b"Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
    b"application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
    b"gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)
SPDY_DICT = b"".join(struct.pack(">I", len(w)) + w.encode() for w in _DICT_WORDS) + _DICT_TAIL
assert len(SPDY_DICT) == 1423 and zlib.adler32(SPDY_DICT) == 0xE3C6A7C2

SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FRAME_NAMES = {0: "DATA", 1: "SYN_STREAM", 2: "SYN_REPLY", 3: "RST_STREAM", 4: "SETTINGS",
               6: "PING", 7: "GOAWAY", 8: "HEADERS", 9: "WINDOW_UPDATE"}
FLAG_FIN = 0x01
INITIAL_WINDOW = 65536
DATA_CHUNK = 32 * 1024


def spdy_header_block_raw(headers):
    """The uncompressed name/value block: a 32-bit count, then for each
    pair a 32-bit length and the name, a 32-bit length and the value."""
    out = [struct.pack(">I", len(headers))]
    for name, value in headers:
        n = name.encode() if isinstance(name, str) else name
        v = value.encode() if isinstance(value, str) else value
        out += [struct.pack(">I", len(n)), n, struct.pack(">I", len(v)), v]
    return b"".join(out)


def spdy_control(ftype, flags, payload, version=3):
    return struct.pack(">HHI", 0x8000 | version, ftype, (flags << 24) | len(payload)) + payload


def spdy_data(stream_id, flags, data):
    return struct.pack(">II", stream_id & 0x7FFFFFFF, (flags << 24) | len(data)) + data


class SpdyCodec:
    """One connection's framing: one deflate stream for every header block
    we send, one inflate stream for every block we receive."""

    def __init__(self):
        self.z = zlib.compressobj(9, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY, SPDY_DICT)
        self.dz = zlib.decompressobj(zdict=SPDY_DICT)
        self.buf = bytearray()

    def compress(self, raw):
        return self.z.compress(raw) + self.z.flush(zlib.Z_SYNC_FLUSH)

    def syn_stream(self, stream_id, headers, flags=0, version=3, raw_block=None):
        block = self.compress(raw_block if raw_block is not None else spdy_header_block_raw(headers))
        payload = struct.pack(">IIBB", stream_id & 0x7FFFFFFF, 0, 0, 0) + block
        return spdy_control(SYN_STREAM, flags, payload, version)

    def decode_block(self, block):
        raw = self.dz.decompress(block)
        headers = {}
        if len(raw) < 4:
            return headers
        (count,) = struct.unpack_from(">I", raw, 0)
        off = 4
        for _ in range(count):
            (n,) = struct.unpack_from(">I", raw, off)
            name = raw[off + 4:off + 4 + n].decode("latin-1")
            off += 4 + n
            (n,) = struct.unpack_from(">I", raw, off)
            value = raw[off + 4:off + 4 + n].decode("latin-1")
            off += 4 + n
            headers[name] = value
        return headers

    def feed(self, data):
        self.buf += data

    def frames(self):
        """Whole frames received so far, as dicts."""
        out = []
        while len(self.buf) >= 8:
            length = int.from_bytes(self.buf[5:8], "big")
            if len(self.buf) < 8 + length:
                break
            hdr = bytes(self.buf[:8])
            payload = bytes(self.buf[8:8 + length])
            del self.buf[:8 + length]
            flags = hdr[4]
            if not hdr[0] & 0x80:
                sid = struct.unpack(">I", hdr[:4])[0] & 0x7FFFFFFF
                out.append({"type": 0, "stream_id": sid, "flags": flags, "data": payload})
                continue
            version = struct.unpack(">H", hdr[:2])[0] & 0x7FFF
            ftype = struct.unpack(">H", hdr[2:4])[0]
            f = {"type": ftype, "flags": flags, "version": version}
            if ftype == SYN_STREAM and length >= 10:
                f["stream_id"] = struct.unpack_from(">I", payload, 0)[0] & 0x7FFFFFFF
                f["headers"] = self.decode_block(payload[10:])
            elif ftype in (SYN_REPLY, HEADERS) and length >= 4:
                f["stream_id"] = struct.unpack_from(">I", payload, 0)[0] & 0x7FFFFFFF
                f["headers"] = self.decode_block(payload[4:])
            elif ftype == RST_STREAM and length >= 8:
                sid, status = struct.unpack_from(">II", payload, 0)
                f["stream_id"], f["status"] = sid & 0x7FFFFFFF, status
            elif ftype == SETTINGS and length >= 4:
                (n,) = struct.unpack_from(">I", payload, 0)
                settings = {}
                for i in range(n):
                    if 4 + 8 * i + 8 > length:
                        break
                    idf, value = struct.unpack_from(">II", payload, 4 + 8 * i)
                    settings[idf & 0xFFFFFF] = value
                f["settings"] = settings
            elif ftype == PING and length >= 4:
                f["ping_id"] = struct.unpack_from(">I", payload, 0)[0]
            elif ftype == GOAWAY and length >= 8:
                last, status = struct.unpack_from(">II", payload, 0)
                f["last_stream_id"], f["status"] = last & 0x7FFFFFFF, status
            elif ftype == WINDOW_UPDATE and length >= 8:
                sid, delta = struct.unpack_from(">II", payload, 0)
                f["stream_id"], f["delta"] = sid & 0x7FFFFFFF, delta & 0x7FFFFFFF
            out.append(f)
        return out


# ---- HTTP ------------------------------------------------------------------------------------

class Refused(Exception):
    def __init__(self, status, reason, headers, body):
        super().__init__("HTTP %d %s: %s" % (status, reason, body.decode("utf-8", "replace").strip()))
        self.status, self.reason, self.headers, self.body = status, reason, headers, body


def parse_url(url):
    u = urlsplit(url)
    path = u.path + ("?" + u.query if u.query else "")
    return u.hostname, u.port or 80, path


def add_query(url, key, value):
    return url + ("&" if "?" in url else "?") + "%s=%s" % (key, value)


def read_response_head(sock, deadline):
    """Read until the end of the response head: (status, reason, headers
    with lower-case names, the bytes after the head)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        wait = deadline - time.monotonic()
        if wait <= 0:
            raise TimeoutError("no response head")
        r, _, _ = select.select([sock], [], [], wait)
        if not r:
            continue
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed before a response (%d bytes: %r)" % (len(buf), buf[:200]))
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1])
    reason = parts[2] if len(parts) > 2 else ""
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        key = name.strip().lower()
        headers[key] = (headers[key] + ", " if key in headers else "") + value.strip()
    return status, reason, headers, rest


def read_body(sock, headers, rest, deadline):
    """A non-101 response's body: Content-Length bytes, or up to the close."""
    body = rest
    want = int(headers.get("content-length", "-1"))
    while want < 0 or len(body) < want:
        wait = deadline - time.monotonic()
        if wait <= 0:
            break
        r, _, _ = select.select([sock], [], [], wait)
        if not r:
            continue
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        body += chunk
    return body if want < 0 else body[:want]


def spdy_connect(url, protocols, deadline, method="GET"):
    host, port, path = parse_url(url)
    sock = socket.create_connection((host, port), timeout=max(1.0, deadline - time.monotonic()))
    sock.settimeout(None)
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: %s:%d" % (host, port),
             "Connection: Upgrade", "Upgrade: SPDY/3.1"]
    lines += ["X-Stream-Protocol-Version: %s" % p for p in protocols]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    status, reason, headers, rest = read_response_head(sock, deadline)
    if status != 101:
        body = read_body(sock, headers, rest, deadline)
        sock.close()
        raise Refused(status, reason, headers, body)
    return sock, headers, rest


# ---- results ----------------------------------------------------------------------------------

class Outcome:
    """What a remotecommand session ended with."""

    def __init__(self, args):
        self.args = args
        self.report = {"transport": args.transport}
        self.error_data = b""
        self.detached = False
        self.stdout_seen = bytearray()
        self.until = re.compile(args.until.encode()) if getattr(args, "until", None) else None

    def stdout(self, data):
        if not data:
            return
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        if self.until is not None:
            self.stdout_seen += data
            if self.until.search(self.stdout_seen):
                self.detached = True

    def stderr(self, data):
        if data:
            sys.stderr.buffer.write(data)
            sys.stderr.buffer.flush()

    def exit_code(self, status_json):
        """The remote exit code from the error stream's content."""
        if self.detached:
            self.report["detached"] = True
            return 0
        text = self.error_data.decode("utf-8", "replace")
        self.report["error"] = text
        if not status_json:
            # channel.k8s.io up to v3: an error's text, nothing on success.
            if not text:
                return 0
            m = re.search(r"exit status (\d+)", text)
            if m:
                return int(m.group(1))
            print(text, file=sys.stderr)
            return 1
        if not text:
            print("the session ended without a status", file=sys.stderr)
            return 1
        try:
            st = json.loads(text)
        except ValueError:
            print("not a Status: %r" % text, file=sys.stderr)
            return 1
        self.report["status"] = st
        if st.get("status") == "Success":
            return 0
        if st.get("reason") == "NonZeroExitCode":
            for cause in (st.get("details") or {}).get("causes") or []:
                if cause.get("reason") == "ExitCode":
                    return int(cause.get("message"))
            print("NonZeroExitCode without an ExitCode cause: %s" % text, file=sys.stderr)
            return 1
        print(st.get("message") or text, file=sys.stderr)
        return 1


def write_report(args, report):
    if args.report:
        with open(args.report, "w") as f:
            json.dump(report, f, indent=1, default=str)


def stdin_source(args):
    """(bytes to send, fd to forward as it comes) for the remote stdin."""
    if getattr(args, "stdin_text", None) is not None:
        return args.stdin_text.encode(), None
    if getattr(args, "stdin_file", None):
        if args.stdin_file == "-":
            return b"", sys.stdin.buffer.fileno()
        with open(args.stdin_file, "rb") as f:
            return f.read(), None
    return None, None


def parse_resizes(args):
    out = []
    for r in getattr(args, "resize", None) or []:
        w, _, h = r.lower().partition("x")
        out.append(json.dumps({"Width": int(w), "Height": int(h)}).encode())
    return out


# ---- remotecommand over SPDY ----------------------------------------------------------------

class SpdySession:
    """A non-blocking loop over one SPDY connection: queued output with
    flow control on what we send, window updates for what we receive."""

    def __init__(self, sock, rest, deadline):
        self.sock = sock
        self.sock.setblocking(False)
        self.codec = SpdyCodec()
        self.codec.feed(rest)
        self.out = bytearray()
        self.deadline = deadline
        self.next_id = 1
        self.send_initial = INITIAL_WINDOW
        self.session_window = INITIAL_WINDOW
        self.windows = {}
        self.pending = {}       # stream id -> bytearray waiting for the window
        self.pending_fin = set()
        self.recv_unacked = 0
        self.eof = False
        self.goaway = None
        self.pongs = 0
        # As Go's spdystream (kubectl): never a WINDOW_UPDATE.
        self.no_window_updates = False

    def open_stream(self, headers, flags=0):
        sid = self.next_id
        self.next_id += 2
        self.out += self.codec.syn_stream(sid, headers, flags)
        self.windows[sid] = self.send_initial
        self.pending[sid] = bytearray()
        return sid

    def send(self, sid, data, fin=False):
        self.pending[sid] += data
        if fin:
            self.pending_fin.add(sid)
        self.pump()

    def pump(self):
        for sid, buf in self.pending.items():
            while buf:
                n = min(len(buf), DATA_CHUNK, self.session_window, self.windows[sid])
                if n <= 0:
                    break
                self.out += spdy_data(sid, 0, bytes(buf[:n]))
                del buf[:n]
                self.session_window -= n
                self.windows[sid] -= n
            if not buf and sid in self.pending_fin:
                self.pending_fin.discard(sid)
                self.out += spdy_data(sid, FLAG_FIN, b"")

    def unsent(self, sid):
        return len(self.pending.get(sid, b""))

    def handle_control(self, f):
        """Session-level frames; returns False for frames the caller handles."""
        t = f["type"]
        if t == PING:
            # The server's own PINGs have even ids; odd ones answer ours.
            if f["ping_id"] % 2 == 0:
                self.out += spdy_control(PING, 0, struct.pack(">I", f["ping_id"]))
            else:
                self.pongs += 1
        elif t == SETTINGS:
            if 7 in f["settings"]:
                new = f["settings"][7]
                for sid in self.windows:
                    self.windows[sid] += new - self.send_initial
                self.send_initial = new
        elif t == WINDOW_UPDATE:
            if f["stream_id"] == 0:
                self.session_window += f["delta"]
            elif f["stream_id"] in self.windows:
                self.windows[f["stream_id"]] += f["delta"]
            self.pump()
        elif t == GOAWAY:
            self.goaway = f
        else:
            return False
        return True

    def consumed(self, sid, n):
        """Give the window back for n bytes received on sid."""
        if n <= 0 or self.no_window_updates:
            return
        self.out += spdy_control(WINDOW_UPDATE, 0, struct.pack(">II", sid, n))
        self.recv_unacked += n
        if self.recv_unacked >= INITIAL_WINDOW // 2:
            self.out += spdy_control(WINDOW_UPDATE, 0, struct.pack(">II", 0, self.recv_unacked))
            self.recv_unacked = 0

    def step(self, extra_fds=(), timeout=0.2):
        """Wait for I/O once; returns (frames, readable extra fds)."""
        wait = min(timeout, max(0.0, self.deadline - time.monotonic()))
        rl = ([] if self.eof else [self.sock]) + list(extra_fds)
        wl = [self.sock] if self.out and not self.eof else []
        r, w, _ = select.select(rl, wl, [], wait)
        if w:
            try:
                n = self.sock.send(self.out)
                del self.out[:n]
            except BlockingIOError:
                pass
            except OSError:
                self.eof = True
        if self.sock in r:
            try:
                data = self.sock.recv(256 * 1024)
            except BlockingIOError:
                data = None
            except OSError:
                data = b""
            if data == b"":
                self.eof = True
            elif data:
                self.codec.feed(data)
        return self.codec.frames(), [fd for fd in r if fd is not self.sock]

    def flush(self, seconds=2.0):
        end = time.monotonic() + seconds
        while self.out and not self.eof and time.monotonic() < end:
            self.step(timeout=0.1)


def spdy_remotecommand(args):
    deadline = time.monotonic() + args.timeout
    protocols = args.protocol or ["v4.channel.k8s.io"]
    out = Outcome(args)
    sock, headers, rest = spdy_connect(args.url, protocols, deadline, args.method)
    negotiated = headers.get("x-stream-protocol-version", "")
    out.report.update(http_status=101, protocol=negotiated)
    status_json = negotiated.startswith("v4.") or negotiated.startswith("v5.")
    s = SpdySession(sock, rest, deadline)
    s.no_window_updates = args.no_window_updates
    data, fd = stdin_source(args)
    want_stdin = data is not None or fd is not None
    resizes = parse_resizes(args)
    streams = {}
    streams["error"] = s.open_stream([("streamtype", "error")])
    if want_stdin:
        streams["stdin"] = s.open_stream([("streamtype", "stdin")])
    if not args.no_stdout:
        streams["stdout"] = s.open_stream([("streamtype", "stdout")])
    if not args.no_stderr and not args.tty:
        streams["stderr"] = s.open_stream([("streamtype", "stderr")])
    if args.tty:
        streams["resize"] = s.open_stream([("streamtype", "resize")])
    # (when, message) for each resize still to send.
    start = time.monotonic()
    resize_plan = [(start + i * (args.resize_delay or 0), r) for i, r in enumerate(resizes)] if args.tty else []
    by_id = {v: k for k, v in streams.items()}
    if data:
        s.send(streams["stdin"], data)
    stdin_done = fd is None
    if want_stdin and fd is None and not args.keep_stdin_open:
        s.send(streams["stdin"], b"", fin=True)
    fins = set()
    resets = {}
    detach_at = time.monotonic() + args.duration if args.duration else None
    next_ping, ping_id = time.monotonic(), 1
    while True:
        now = time.monotonic()
        if now >= deadline:
            write_report(args, out.report)
            print("timed out", file=sys.stderr)
            return 124
        if detach_at and now >= detach_at:
            out.detached = True
        if out.detached:
            break
        while resize_plan and now >= resize_plan[0][0] and s.goaway is None:
            s.send(streams["resize"], resize_plan.pop(0)[1])
        if args.ping_interval and now >= next_ping and s.goaway is None:
            # Client PINGs carry odd ids.
            s.out += spdy_control(PING, 0, struct.pack(">I", ping_id))
            ping_id += 2
            next_ping = now + args.ping_interval
        extra = [fd] if not stdin_done and s.unsent(streams["stdin"]) < 256 * 1024 else []
        frames, ready = s.step(extra)
        if ready:
            chunk = os.read(fd, 65536)
            if chunk:
                s.send(streams["stdin"], chunk)
            else:
                stdin_done = True
                if not args.keep_stdin_open:
                    s.send(streams["stdin"], b"", fin=True)
        for f in frames:
            if s.handle_control(f):
                continue
            if f["type"] == 0:
                name = by_id.get(f["stream_id"])
                s.consumed(f["stream_id"], len(f["data"]))
                if name == "stdout":
                    out.stdout(f["data"])
                elif name == "stderr":
                    out.stderr(f["data"])
                elif name == "error":
                    out.error_data += f["data"]
                if f["flags"] & FLAG_FIN:
                    fins.add(name)
            elif f["type"] == RST_STREAM:
                resets[by_id.get(f["stream_id"], str(f["stream_id"]))] = f["status"]
            elif f["type"] == SYN_STREAM:
                # The server has no business opening streams: refuse.
                s.out += spdy_control(RST_STREAM, 0, struct.pack(">II", f["stream_id"], 3))
        if s.goaway is not None or s.eof:
            break
    if not out.detached:
        # Read what follows a GOAWAY up to the close.
        end = time.monotonic() + 2
        while not s.eof and time.monotonic() < end:
            for f in s.step()[0]:
                if f["type"] == 0 and by_id.get(f["stream_id"]) == "error":
                    out.error_data += f["data"]
    out.report.update(fins=sorted(x for x in fins if x), resets=resets,
                      goaway=s.goaway and {"last_stream_id": s.goaway["last_stream_id"],
                                           "status": s.goaway["status"]},
                      closed=s.eof)
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
    code = out.exit_code(status_json)
    write_report(args, out.report)
    return code


# ---- remotecommand over WebSocket -------------------------------------------------------------

def ws_url(url):
    return "ws" + url[len("http"):] if url.startswith("http") else url


def ws_connect(url, protocols, deadline):
    import websocket
    ws = websocket.WebSocket(skip_utf8_validation=True)
    try:
        ws.connect(ws_url(url), subprotocols=protocols, timeout=max(1.0, deadline - time.monotonic()))
    except websocket.WebSocketBadStatusException as e:
        raise Refused(e.status_code, "", getattr(e, "resp_headers", None) or {}, str(e).encode())
    ws.settimeout(None)
    return ws


class WsSender(threading.Thread):
    """Stdin and resize messages, from a thread so that a blocking source
    never holds up what the server sends."""

    def __init__(self, ws, proto, data, fd, resizes, keep_open, resize_delay=0):
        super().__init__(daemon=True)
        self.ws, self.proto, self.data, self.fd = ws, proto, data, fd
        self.resizes, self.keep_open, self.resize_delay = resizes, keep_open, resize_delay
        self.b64 = "base64" in proto

    def message(self, channel, payload):
        import websocket
        if self.b64:
            self.ws.send(str(channel) + base64.b64encode(payload).decode(), websocket.ABNF.OPCODE_TEXT)
        else:
            self.ws.send(bytes([channel]) + payload, websocket.ABNF.OPCODE_BINARY)

    def send_resizes(self):
        import websocket
        try:
            for i, r in enumerate(self.resizes):
                if i and self.resize_delay:
                    time.sleep(self.resize_delay)
                self.message(4, r)
        except (OSError, websocket.WebSocketException):
            pass

    def run(self):
        import websocket
        try:
            if self.resize_delay:
                threading.Thread(target=self.send_resizes, daemon=True).start()
            else:
                self.send_resizes()
            if self.data is None and self.fd is None:
                return
            if self.data:
                for i in range(0, len(self.data), DATA_CHUNK):
                    self.message(0, self.data[i:i + DATA_CHUNK])
            if self.fd is not None:
                while True:
                    chunk = os.read(self.fd, DATA_CHUNK)
                    if not chunk:
                        break
                    self.message(0, chunk)
            if not self.keep_open and self.proto.startswith("v5."):
                self.ws.send(b"\xff\x00", websocket.ABNF.OPCODE_BINARY)
        except (OSError, websocket.WebSocketException):
            pass


def ws_split(proto, opcode, data):
    """(channel, payload) of one received message."""
    if "base64" in proto:
        text = data.decode("ascii") if isinstance(data, bytes) else data
        if not text:
            return None, b""
        return int(text[0]), base64.b64decode(text[1:])
    if not data:
        return None, b""
    return data[0], data[1:]


def ws_recv(ws, timeout):
    """One message or control frame, or None after timeout seconds."""
    import websocket
    r, _, _ = select.select([ws.sock], [], [], max(0.0, timeout))
    if not r:
        return None
    try:
        opcode, frame = ws.recv_data_frame(control_frame=True)
    except (websocket.WebSocketConnectionClosedException, OSError):
        return ("eof", None)
    return opcode, frame.data


def ws_remotecommand(args):
    import websocket
    deadline = time.monotonic() + args.timeout
    protocols = args.protocol or ["v5.channel.k8s.io"]
    out = Outcome(args)
    ws = ws_connect(args.url, protocols, deadline)
    proto = ws.getsubprotocol() or ""
    out.report.update(http_status=101, protocol=proto)
    status_json = proto.startswith("v4.") or proto.startswith("v5.")
    data, fd = stdin_source(args)
    sender = WsSender(ws, proto, data, fd, parse_resizes(args) if args.tty else [], args.keep_stdin_open,
                      args.resize_delay)
    sender.start()
    detach_at = time.monotonic() + args.duration if args.duration else None
    close_code = None
    next_ping = time.monotonic()
    while True:
        now = time.monotonic()
        if now >= deadline:
            write_report(args, out.report)
            print("timed out", file=sys.stderr)
            return 124
        if detach_at and now >= detach_at:
            out.detached = True
        if out.detached:
            break
        if args.ping_interval and now >= next_ping:
            try:
                ws.ping(b"stream_client")
            except (OSError, websocket.WebSocketException):
                pass
            next_ping = now + args.ping_interval
        m = ws_recv(ws, min(0.2, args.ping_interval or 0.2))
        if m is None:
            continue
        opcode, payload = m
        if opcode == "eof":
            break
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            close_code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 1005
            out.report["close_reason"] = payload[2:].decode("utf-8", "replace")
            break
        if opcode not in (websocket.ABNF.OPCODE_BINARY, websocket.ABNF.OPCODE_TEXT):
            continue
        ch, body = ws_split(proto, opcode, payload)
        if ch == 1:
            out.stdout(body)
        elif ch == 2:
            out.stderr(body)
        elif ch == 3:
            out.error_data += body
    out.report["close_code"] = close_code
    try:
        ws.sock.shutdown(socket.SHUT_RDWR)
    except (OSError, AttributeError):
        pass
    ws.shutdown()
    code = out.exit_code(status_json)
    write_report(args, out.report)
    return code


# ---- port forwarding ----------------------------------------------------------------------------

def send_bytes(args):
    if args.send_text is not None:
        return args.send_text.encode().decode("unicode_escape").encode("latin-1")
    if args.send_file:
        with open(args.send_file, "rb") as f:
            return f.read()
    return b""


def spdy_portforward(args):
    deadline = time.monotonic() + args.timeout
    protocols = args.protocol or ["portforward.k8s.io"]
    report = {"transport": "spdy"}
    sock, headers, rest = spdy_connect(args.url, protocols, deadline, args.method)
    report.update(http_status=101, protocol=headers.get("x-stream-protocol-version", ""))
    s = SpdySession(sock, rest, deadline)
    s.no_window_updates = args.no_window_updates
    port = str(args.port)
    err_id = s.open_stream([("streamtype", "error"), ("port", port), ("requestid", "0")])
    # As kubectl does: nothing is ever written on the error stream.
    s.send(err_id, b"", fin=True)
    data_id = s.open_stream([("streamtype", "data"), ("port", port), ("requestid", "0")])
    s.send(data_id, send_bytes(args), fin=args.half_close)
    error = b""
    fins, resets = set(), {}
    # kubectl reads the error stream to its end for every connection:
    # after the data stream ended, wait for that too (a while).
    data_done_at = None
    while not s.eof and s.goaway is None:
        now = time.monotonic()
        if now >= deadline:
            break
        if data_done_at is not None and ("error" in fins or now - data_done_at > args.error_wait):
            break
        frames, _ = s.step()
        for f in frames:
            if s.handle_control(f):
                continue
            if f["type"] == 0:
                s.consumed(f["stream_id"], len(f["data"]))
                if f["stream_id"] == data_id:
                    sys.stdout.buffer.write(f["data"])
                    sys.stdout.buffer.flush()
                elif f["stream_id"] == err_id:
                    error += f["data"]
                if f["flags"] & FLAG_FIN:
                    fins.add("data" if f["stream_id"] == data_id else "error")
                    if f["stream_id"] == data_id:
                        data_done_at = time.monotonic()
            elif f["type"] == RST_STREAM:
                resets["data" if f["stream_id"] == data_id else "error"] = f["status"]
                if f["stream_id"] == data_id:
                    data_done_at = data_done_at or time.monotonic()
    timed_out = time.monotonic() >= deadline
    report.update(fins=sorted(fins), resets=resets, error=error.decode("utf-8", "replace"),
                  goaway=s.goaway and {"last_stream_id": s.goaway["last_stream_id"], "status": s.goaway["status"]},
                  closed=s.eof, timed_out=timed_out)
    sock.close()
    write_report(args, report)
    if error:
        print(error.decode("utf-8", "replace"), file=sys.stderr)
        return 1
    if timed_out:
        print("timed out", file=sys.stderr)
        return 124
    return 0


def ws_portforward(args):
    import websocket
    deadline = time.monotonic() + args.timeout
    protocols = args.protocol or ["v4.channel.k8s.io"]
    report = {"transport": "websocket"}
    ws = ws_connect(add_query(args.url, "port", args.port), protocols, deadline)
    proto = ws.getsubprotocol() or ""
    report.update(http_status=101, protocol=proto)
    b64 = "base64" in proto
    payload = send_bytes(args)
    for i in range(0, len(payload), DATA_CHUNK):
        piece = payload[i:i + DATA_CHUNK]
        if b64:
            ws.send("0" + base64.b64encode(piece).decode(), websocket.ABNF.OPCODE_TEXT)
        else:
            ws.send(b"\x00" + piece, websocket.ABNF.OPCODE_BINARY)
    # The first two bytes on each channel are the port, little-endian.
    skip = {0: 2, 1: 2}
    ports = {0: b"", 1: b""}
    error = b""
    got_data = False
    last = time.monotonic()
    close_code = None
    while True:
        now = time.monotonic()
        if now >= deadline or (got_data and now - last >= args.idle):
            break
        m = ws_recv(ws, 0.1)
        if m is None:
            continue
        opcode, data = m
        if opcode == "eof":
            break
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            close_code = struct.unpack(">H", data[:2])[0] if len(data) >= 2 else 1005
            break
        if opcode not in (websocket.ABNF.OPCODE_BINARY, websocket.ABNF.OPCODE_TEXT):
            continue
        ch, body = ws_split(proto, opcode, data)
        if ch in skip and skip[ch]:
            n = min(skip[ch], len(body))
            ports[ch] += body[:n]
            skip[ch] -= n
            body = body[n:]
        if ch == 0 and body:
            sys.stdout.buffer.write(body)
            sys.stdout.buffer.flush()
            got_data = True
            last = time.monotonic()
        elif ch == 1 and body:
            error += body
    report.update(close_code=close_code, error=error.decode("utf-8", "replace"),
                  ports={str(k): (int.from_bytes(v, "little") if len(v) == 2 else None) for k, v in ports.items()},
                  timed_out=time.monotonic() >= deadline and not got_data)
    try:
        ws.sock.shutdown(socket.SHUT_RDWR)
    except (OSError, AttributeError):
        pass
    ws.shutdown()
    write_report(args, report)
    if error:
        print(error.decode("utf-8", "replace"), file=sys.stderr)
        return 1
    if report["timed_out"]:
        print("timed out", file=sys.stderr)
        return 124
    return 0


# ---- raw: malformed input ------------------------------------------------------------------------

def ws_client_frame(opcode, payload, masked=True, fin=True, length=None):
    """A client frame; length overrides the announced payload length."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | opcode])
    mbit = 0x80 if masked else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 65536:
        head += bytes([mbit | 126]) + struct.pack(">H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack(">Q", n)
    if not masked:
        return head + payload
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def raw_actions(name, codec):
    """The bytes one --action sends after the upgrade."""
    if name == "ws-huge-length":
        # A binary frame announcing 2^62 bytes of payload, and a few of them.
        return ws_client_frame(2, b"\x00abc", length=1 << 62)[:14] + b"\x00abc"
    if name == "ws-unmasked":
        return ws_client_frame(2, b"\x00hello", masked=False)
    if name == "ws-ping":
        return ws_client_frame(9, b"raw-ping")
    if name == "spdy-bad-version":
        return codec.syn_stream(1, [("streamtype", "error")], version=2)
    if name == "spdy-stream":
        return codec.syn_stream(1, [("streamtype", "error")])
    if name == "spdy-reused-id":
        return (codec.syn_stream(1, [("streamtype", "error")]) +
                codec.syn_stream(1, [("streamtype", "stdout")]))
    if name == "spdy-zlib-bomb":
        # One header whose value is 10 MB of zeros: about 10 KB compressed,
        # inside the control frame bound, 10 MB once inflated.
        raw = spdy_header_block_raw([("streamtype", "error"), ("x-bomb", b"\0" * (10 << 20))])
        return codec.syn_stream(1, None, raw_block=raw)
    if name == "spdy-ping":
        return spdy_control(PING, 0, struct.pack(">I", 7))
    if name.startswith("hex:"):
        return bytes.fromhex(name[4:])
    raise SystemExit("unknown action %s" % name)


def raw(args):
    host, port, path = parse_url(args.url)
    deadline = time.monotonic() + args.timeout
    sock = socket.create_connection((host, port), timeout=args.timeout)
    sock.settimeout(None)
    if args.request_text is not None:
        request = args.request_text.encode().decode("unicode_escape").encode("latin-1")
    else:
        lines = ["%s %s HTTP/1.1" % (args.method, path), "Host: %s:%d" % (host, port)]
        if args.upgrade == "spdy":
            lines += ["Connection: Upgrade", "Upgrade: SPDY/3.1"]
            lines += ["X-Stream-Protocol-Version: %s" % p for p in args.protocol or ["v4.channel.k8s.io"]]
        elif args.upgrade == "websocket":
            lines += ["Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13",
                      "Sec-WebSocket-Key: " + base64.b64encode(os.urandom(16)).decode()]
            lines.append("Sec-WebSocket-Protocol: " + ", ".join(args.protocol or ["v5.channel.k8s.io"]))
        lines += args.header or []
        if args.pad_head:
            lines.append("X-Pad: " + "a" * args.pad_head)
        request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    report = {"sent": len(request)}
    try:
        sock.sendall(request)
    except OSError as e:
        report["send_error"] = str(e)
    try:
        status, reason, headers, rest = read_response_head(sock, deadline)
    except (ConnectionError, TimeoutError, OSError) as e:
        report.update(status=None, error=str(e))
        print(json.dumps(report))
        return 0
    report.update(status=status, reason=reason, headers=headers)
    if status != 101:
        report["body"] = read_body(sock, headers, rest, deadline).decode("utf-8", "replace")
        # Does the server close after the refusal?
        report["eof"] = wait_eof(sock, min(deadline, time.monotonic() + args.wait))
        print(json.dumps(report))
        return 0
    codec = SpdyCodec()
    payload = b"".join(raw_actions(a, codec) for a in args.action or [])
    try:
        sock.sendall(payload)
    except OSError as e:
        report["send_error"] = str(e)
    frames, eof, reset = [], False, False
    buf = bytearray(rest)
    end = time.monotonic() + args.wait
    while True:
        wait = end - time.monotonic()
        if wait <= 0:
            break
        r, _, _ = select.select([sock], [], [], wait)
        if not r:
            continue
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            reset = True
            break
        if not chunk:
            eof = True
            break
        buf += chunk
    if args.upgrade == "spdy":
        codec.feed(bytes(buf))
        try:
            for f in codec.frames():
                d = {"type": FRAME_NAMES.get(f["type"], f["type"])}
                for k in ("stream_id", "status", "last_stream_id", "delta", "ping_id"):
                    if k in f:
                        d[k] = f[k]
                if f["type"] == 0:
                    d["len"] = len(f["data"])
                    d["fin"] = bool(f["flags"] & FLAG_FIN)
                    d["text"] = f["data"][:300].decode("utf-8", "replace")
                frames.append(d)
        except (zlib.error, struct.error) as e:
            frames.append({"undecodable": str(e)})
    elif args.upgrade == "websocket":
        frames = parse_server_ws_frames(bytes(buf))
    report.update(frames=frames, eof=eof, reset=reset, received=len(buf))
    print(json.dumps(report))
    return 0


def wait_eof(sock, deadline):
    while True:
        wait = deadline - time.monotonic()
        if wait <= 0:
            return False
        r, _, _ = select.select([sock], [], [], wait)
        if not r:
            continue
        try:
            if not sock.recv(65536):
                return True
        except OSError:
            return True


def parse_server_ws_frames(buf):
    """Unmasked frames as a server sends them."""
    out, off = [], 0
    while off + 2 <= len(buf):
        b0, b1 = buf[off], buf[off + 1]
        n, hl = b1 & 0x7F, 2
        if n == 126:
            if off + 4 > len(buf):
                break
            n, hl = struct.unpack_from(">H", buf, off + 2)[0], 4
        elif n == 127:
            if off + 10 > len(buf):
                break
            n, hl = struct.unpack_from(">Q", buf, off + 2)[0], 10
        if b1 & 0x80:
            hl += 4
        if off + hl + n > len(buf):
            out.append({"truncated": True})
            break
        payload = buf[off + hl:off + hl + n]
        d = {"opcode": b0 & 0x0F, "fin": bool(b0 & 0x80), "masked": bool(b1 & 0x80), "len": n}
        if b0 & 0x0F == 8 and n >= 2:
            d["close_code"] = struct.unpack(">H", payload[:2])[0]
            d["reason"] = payload[2:].decode("utf-8", "replace")
        elif b0 & 0x0F in (1, 2) and n:
            d["channel"] = payload[0]
        out.append(d)
        off += hl + n
    return out


# ---- main ----------------------------------------------------------------------------------------

def common_options(p, defaults):
    """Options given before or after the mode."""
    d = (lambda v: v) if defaults else (lambda v: argparse.SUPPRESS)
    p.add_argument("--transport", choices=["spdy", "websocket"], default=d("spdy"))
    p.add_argument("--protocol", action="append", default=d(None), help="offer this protocol (repeatable)")
    p.add_argument("--timeout", type=float, default=d(60.0), help="for the whole session, seconds")
    p.add_argument("--method", default=d("GET"), help="of the upgrade request (SPDY: kubectl posts)")
    p.add_argument("--report", default=d(None), help="write a JSON summary here")
    p.add_argument("--no-window-updates", action="store_true", default=d(False),
                   help="SPDY: never send WINDOW_UPDATE, as Go's spdystream (kubectl)")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common_options(p, True)
    common = argparse.ArgumentParser(add_help=False)
    common_options(common, False)
    sub = p.add_subparsers(dest="mode", required=True)
    for mode in ("exec", "attach"):
        m = sub.add_parser(mode, parents=[common])
        m.add_argument("url")
        g = m.add_mutually_exclusive_group()
        g.add_argument("--stdin-file", help="send this file ('-': our stdin, as it comes)")
        g.add_argument("--stdin-text")
        m.add_argument("--keep-stdin-open", action="store_true", help="never close the remote stdin")
        m.add_argument("--tty", action="store_true")
        m.add_argument("--resize", action="append", metavar="WxH")
        m.add_argument("--resize-delay", type=float, default=0.0, help="seconds between the resizes")
        m.add_argument("--no-stdout", action="store_true")
        m.add_argument("--no-stderr", action="store_true")
        m.add_argument("--until", help="detach once stdout matches this regex")
        m.add_argument("--duration", type=float, help="detach after this many seconds")
        m.add_argument("--ping-interval", type=float, help="send a PING this often (SPDY PING frames, WebSocket pings)")
    f = sub.add_parser("portforward", parents=[common])
    f.add_argument("url")
    f.add_argument("port", type=int)
    g = f.add_mutually_exclusive_group()
    g.add_argument("--send-text", help="backslash escapes allowed (\\r\\n)")
    g.add_argument("--send-file")
    f.add_argument("--half-close", action="store_true", help="SPDY: FIN the data stream after sending")
    f.add_argument("--idle", type=float, default=2.0,
                   help="WebSocket: stop after this long without data once some came")
    f.add_argument("--error-wait", type=float, default=5.0,
                   help="SPDY: after the data stream ended, how long to wait for the error stream's end")
    r = sub.add_parser("raw", parents=[common])
    r.add_argument("url")
    r.add_argument("--upgrade", choices=["none", "spdy", "websocket"], default="none")
    r.add_argument("--request-text", help="send this instead of a request (backslash escapes allowed)")
    r.add_argument("--header", action="append", help="an extra header line")
    r.add_argument("--pad-head", type=int, default=0, help="add a header of this many bytes")
    r.add_argument("--action", action="append",
                   help="after a 101: ws-huge-length, ws-unmasked, ws-ping, spdy-bad-version, spdy-stream, "
                        "spdy-reused-id, spdy-zlib-bomb, spdy-ping, hex:BYTES")
    r.add_argument("--wait", type=float, default=5.0, help="read the server's answer this long at most")
    args = p.parse_args()
    try:
        if args.mode == "raw":
            return raw(args)
        if args.mode == "portforward":
            return spdy_portforward(args) if args.transport == "spdy" else ws_portforward(args)
        if args.transport == "spdy":
            return spdy_remotecommand(args)
        return ws_remotecommand(args)
    except Refused as e:
        write_report(args, {"transport": args.transport, "http_status": e.status, "body": e.body.decode("utf-8", "replace"),
                            "headers": e.headers})
        print(str(e), file=sys.stderr)
        return 1
    except (OSError, ConnectionError, TimeoutError) as e:
        write_report(args, {"transport": args.transport, "failure": str(e)})
        print("%s: %s" % (type(e).__name__, e), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
