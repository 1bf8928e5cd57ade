#!/usr/bin/python3
"""A faulty front for the test registry: forwards every request to the real
registry on 127.0.0.1 and passes the answer back, except that the bodies of
large blobs can be slowed down or stalled. Faults the real registry cannot
be made to show:

  --rate BPS          send large blob bodies at BPS bytes a second
  --stall-after N     send N bytes of a large blob body, then nothing more
                      (the connection stays open until the client gives up)
  --min-size N        what counts as large: a blob answer with a
                      Content-Length of at least N bytes (default 1 MiB)
  --pad-manifests N   append N spaces to every manifest body (still valid
                      JSON; no longer the digest the registry says)

One line per event goes to --log, flushed at once, for the tests to poll:

  BEGIN GET /v2/x/blobs/sha256:... 200 LENGTH
  END GET /v2/x/blobs/sha256:... SENT             the whole body went out
  CLOSED GET /v2/x/blobs/sha256:... SENT          the client hung up first
  UPSTREAM-LOST GET /v2/x/blobs/sha256:... SENT   the registry went away

The port it listens on (127.0.0.1 only) is written to --port-file.
Standard library only.
"""

import argparse
import http.client
import http.server
import os
import select
import socket
import sys
import threading
import time

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade", "te",
               "trailer"}


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--upstream", required=True, help="HOST:PORT of the real registry (plain HTTP)")
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--rate", type=int, default=0, help="bytes per second for large blobs (0: no limit)")
    p.add_argument("--stall-after", type=int, default=-1, help="stop sending large blobs after N bytes")
    p.add_argument("--min-size", type=int, default=1 << 20)
    p.add_argument("--pad-manifests", type=int, default=0)
    p.add_argument("--redirect-blobs", action="store_true",
                   help="answer blob GETs with a 307 to the registry itself, as registries that keep blobs elsewhere do")
    p.add_argument("--max-stall", type=float, default=120.0, help="give up a stalled answer after S seconds")
    return p.parse_args()


ARGS = parse_args()
LOG_LOCK = threading.Lock()


def log(*words):
    with LOG_LOCK, open(ARGS.log, "a") as f:
        f.write(" ".join(str(w) for w in words) + "\n")
        f.flush()


def client_gone(sock):
    """True when the client closed its end (readable with nothing to read)."""
    try:
        r, _, _ = select.select([sock], [], [], 0)
        if not r:
            return False
        return sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def forward(self):
        if ARGS.redirect_blobs and self.command == "GET" and "/blobs/sha256:" in self.path:
            log("REDIRECT", "%s %s" % (self.command, self.path))
            self.send_response_only(307, "Temporary Redirect")
            self.send_header("Location", "http://%s%s" % (ARGS.upstream, self.path))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        host, port = ARGS.upstream.rsplit(":", 1)
        up = http.client.HTTPConnection(host, int(port), timeout=300)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS | {"host"}}
        headers["Host"] = ARGS.upstream
        try:
            up.request(self.command, self.path, body, headers)
            resp = up.getresponse()
        except OSError as e:
            self.send_error(502, "upstream: %s" % e)
            return
        what = "%s %s" % (self.command, self.path)
        if ARGS.pad_manifests and "/manifests/" in self.path and resp.status == 200:
            self.padded(resp, what)
            up.close()
            return
        clen = resp.getheader("Content-Length")
        large = ("/blobs/" in self.path and self.command == "GET" and resp.status == 200
                 and clen is not None and int(clen) >= ARGS.min_size)
        self.send_response_only(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in HOP_HEADERS:
                self.send_header(k, v)
        if clen is None and self.command != "HEAD":
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if large:
            log("BEGIN", what, resp.status, clen)
        sent = 0
        start = time.monotonic()
        try:
            while self.command != "HEAD":
                chunk_size = 64 * 1024
                if large and ARGS.stall_after >= 0:
                    chunk_size = min(chunk_size, ARGS.stall_after - sent)
                    if chunk_size <= 0:
                        self.stall(what, sent)
                        return
                try:
                    chunk = resp.read(chunk_size)
                except (OSError, http.client.HTTPException):
                    chunk = None
                if chunk is None or (not chunk and clen is not None and sent < int(clen)):
                    if large:
                        log("UPSTREAM-LOST", what, sent)
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if not chunk:
                    break
                self.wfile.write(chunk)
                sent += len(chunk)
                if large and ARGS.rate > 0:
                    ahead = sent / ARGS.rate - (time.monotonic() - start)
                    if ahead > 0:
                        time.sleep(ahead)
            self.wfile.flush()
            if large:
                log("END", what, sent)
        except (BrokenPipeError, ConnectionResetError):
            if large:
                log("CLOSED", what, sent)
            self.close_connection = True
        finally:
            up.close()

    def padded(self, resp, what):
        body = resp.read() + b" " * ARGS.pad_manifests
        self.send_response_only(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in HOP_HEADERS | {"content-length"}:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        log("PADDED", what, len(body))
        try:
            if self.command != "HEAD":
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            log("CLOSED", what, 0)
            self.close_connection = True

    def stall(self, what, sent):
        self.wfile.flush()
        log("STALL", what, sent)
        deadline = time.monotonic() + ARGS.max_stall
        while time.monotonic() < deadline:
            if client_gone(self.connection):
                log("CLOSED", what, sent)
                break
            time.sleep(0.05)
        self.close_connection = True

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = forward


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


def main():
    srv = Server(("127.0.0.1", 0), Handler)
    tmp = ARGS.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, ARGS.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
