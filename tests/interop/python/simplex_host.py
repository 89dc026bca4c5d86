#!/usr/bin/env python3
"""A simplex (two-link) host written with Python's standard library only, for msgframe's
interoperability tests (tests/interop_simplex.rs): one socket per direction, as card-switch links
run.

    simplex_host.py

Listens on two loopback ports and prints `PORT <out>`, `LISTEN back <back>`, `READY`. The client
dials `out` (its outbound link: requests come in here, nothing is ever written on it) and then
`back` (its inbound link: everything this host sends goes there). Messages are framed by a 2-byte
big-endian length (msgframe's `be:2`). The host first sends one message of its own (0xFFFFFFFF
then `hello`), then answers each request with itself, in batches whose order is reversed (up to
25 requests, or whatever came within 10 ms), so replies come back in another order than the
requests went. It serves one pair, then exits when the client closes the outbound link.
"""

import socket
import struct
import sys


def listener():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(4)
    return s


def read_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def frame(body):
    return struct.pack(">H", len(body)) + body


def main():
    out_listener, back_listener = listener(), listener()
    print(f"PORT {out_listener.getsockname()[1]}")
    print(f"LISTEN back {back_listener.getsockname()[1]}")
    print("READY")
    sys.stdout.flush()
    requests, _ = out_listener.accept()
    replies, _ = back_listener.accept()
    replies.sendall(frame(b"\xff\xff\xff\xffhello"))
    answered = 0
    batch = []
    while True:
        requests.settimeout(0.01 if batch else None)
        try:
            head = read_exact(requests, 2)
        except socket.timeout:
            head = b""
        if head is None:
            break
        if head:
            (length,) = struct.unpack(">H", head)
            body = read_exact(requests, length)
            if body is None:
                break
            batch.append(body)
            if len(batch) < 25:
                continue
        for body in reversed(batch):
            replies.sendall(frame(body))
            answered += 1
        batch = []
    print(f"OK answered {answered}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
