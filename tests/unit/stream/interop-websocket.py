#!/usr/bin/python3
"""Cross-check test-websocket.c's vectors against an independent WebSocket
implementation, Debian's python3-websockets (10.x):

  - the client frames test_interop_vectors feeds our reader are what that
    library writes (with the mask fixed to 01020304);
  - the server frames our encoder must produce byte for byte are read by
    that library as the intended messages.

Optional (the library is not a build dependency); run by hand:

    apt-get install python3-websockets && /usr/bin/python3 tests/unit/stream/interop-websocket.py
"""
import sys
from unittest import mock

try:
    import websockets.frames as F
    from websockets.streams import StreamReader
except ImportError:
    print("skipped: python3-websockets is not installed")
    sys.exit(0)

ok = True


def check(what, cond):
    global ok
    print(("ok   " if cond else "FAIL ") + what)
    ok = ok and cond


# The client side of test_interop_vectors.
CLIENT = [
    (F.Frame(F.Opcode.BINARY, b"\x00ls -l\n"), "828701020304016e70242c6e09"),
    (F.Frame(F.Opcode.TEXT, "h\u00e9llo".encode(), fin=False), "01860102030469c1aa686d6d"),
    (F.Frame(F.Opcode.PING, b"pp"), "8982010203047172"),
    (F.Frame(F.Opcode.CONT, " w\u00f6rld".encode()), "8087010203042175c0b2736e67"),
    (F.Frame(F.Opcode.CLOSE, F.Close(1000, "bye").serialize()), "88850102030402ea617d64"),
]
with mock.patch("secrets.token_bytes", return_value=b"\x01\x02\x03\x04"):
    for frame, want in CLIENT:
        check("client %s frame" % frame.opcode.name, frame.serialize(mask=True).hex() == want)
    f = F.Frame(F.Opcode.BINARY, bytes(range(200))).serialize(mask=True).hex()
    check("client 200-byte frame", f.startswith("82fe00c801020304010301070507"))

# The server side: what ws_channel_frame, ws_close_encode and
# ws_frame_encode must write, read back by the library.
SERVER = bytes.fromhex("82060168656c6c6f" "810931614756736247383d" "880a03f3696e7465726e616c" "8a00")
reader = StreamReader()
reader.feed_data(SERVER)
reader.feed_eof()
got = []
while True:
    gen = F.Frame.parse(reader.read_exact, mask=False)
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        got.append(stop.value)
    except EOFError:
        break
check("server v4 stdout frame", got[0].opcode == F.Opcode.BINARY and got[0].data == b"\x01hello")
check("server base64 frame", got[1].opcode == F.Opcode.TEXT and got[1].data == b"1aGVsbG8=")
close = F.Close.parse(got[2].data)
check("server close frame", close.code == 1011 and close.reason == "internal")
check("server pong frame", got[3].opcode == F.Opcode.PONG and got[3].data == b"")
print("all passed" if ok else "some failed")
sys.exit(0 if ok else 1)
