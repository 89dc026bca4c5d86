#!/usr/bin/env python3
"""Twisted peers for msgframe's interoperability tests (tests/interop_python.rs).

Every peer frames with Twisted's own receivers from twisted.protocols.basic; nothing here frames
bytes by hand. KIND is one of:

    int8       Int8StringReceiver         1-byte length              msgframe `be:1`
    int16      Int16StringReceiver        2-byte big-endian length   msgframe `be:2`
    int32      Int32StringReceiver        4-byte big-endian length   msgframe `be:4`
    le16       IntNStringReceiver, "<H"   2-byte little-endian       msgframe `le:2`
    le32       IntNStringReceiver, "<I"   4-byte little-endian       msgframe `le:4`
    netstring  NetstringReceiver          `5:hello,`                 msgframe `netstring`
    crlf       LineReceiver (b"\\r\\n")   lines ending CR LF         msgframe `lines:crlf`
    lf         LineReceiver, b"\\n"       lines ending LF            msgframe `lines`

    twisted_peer.py serve NAME=KIND:MAX [...]
        Listens on 127.0.0.1 port 0 once per NAME, with the receiver's MAX_LENGTH set to MAX;
        prints `PORT <first port>`, then `LISTEN <name> <port>` for each, then `READY`. Echoes
        every string (line) it receives with sendString (sendLine). What Twisted does with
        input it refuses is printed: `EXCEEDED <name> <n>` when it calls lengthLimitExceeded(n)
        (lineLengthExceeded(line): n = len(line)), `BROKEN-PEER <name>` when a netstring receiver
        lost the connection with brokenPeer set. Runs until killed (or its parent goes away).

    twisted_peer.py client JSON
        JSON is a list of jobs {"name", "kind", "port", "max", "sizes"}. All jobs run at once, each
        on its own connection to 127.0.0.1:port with MAX_LENGTH = max: send a message of each size
        in turn (content: see payload()), wait for its echo, check it. Prints, per job:
        `ECHO <name> <size>` for each good echo, `MISMATCH <name> <size> <got>` for a bad one,
        `REFUSED-SEND <name> <size> <exception>` when Twisted refuses to send a message,
        `EXCEEDED <name> <n>` / `BROKEN-PEER <name>` as above, then `DONE <name>` (all sizes done)
        or `CLOSED <name> <echoes>` (the connection ended first) or `CONNECT-FAILED <name>`.
        Then `FINISHED` and exit 0 (exit 2 after printing `TIMEOUT <names>` when jobs still run
        after CLIENT_TIMEOUT seconds).
"""

import json
import os
import struct
import sys

from twisted.internet import protocol, reactor, task
from twisted.protocols import basic


class LittleEndian16StringReceiver(basic.IntNStringReceiver):
    structFormat = "<H"
    prefixLength = struct.calcsize(structFormat)


class LittleEndian32StringReceiver(basic.IntNStringReceiver):
    structFormat = "<I"
    prefixLength = struct.calcsize(structFormat)


class LfLineReceiver(basic.LineReceiver):
    delimiter = b"\n"


RECEIVERS = {
    "int8": basic.Int8StringReceiver,
    "int16": basic.Int16StringReceiver,
    "int32": basic.Int32StringReceiver,
    "le16": LittleEndian16StringReceiver,
    "le32": LittleEndian32StringReceiver,
    "netstring": basic.NetstringReceiver,
    "crlf": basic.LineReceiver,
    "lf": LfLineReceiver,
}

LINES = ("crlf", "lf")

# Seconds a client may run before it gives up on its jobs.
CLIENT_TIMEOUT = 30

TEXT = b"abcdefghijklmnopqrstuvwxyz0123456789"
BINARY = bytes((i * 31) & 0xFF for i in range(256))


def payload(kind, size):
    """The message of `size` bytes the tests send (the Rust side builds the same bytes):
    byte i is BINARY[(i + size) % 256], or TEXT[(i + size) % 36] for line kinds."""
    table = TEXT if kind in LINES else BINARY
    start = size % len(table)
    repeated = table * (size // len(table) + 2)
    return repeated[start : start + size]


def say(*words):
    print(*words, flush=True)


def receiver(kind, name, max_length):
    """A subclass of the kind's receiver that reports what Twisted refuses."""

    class Receiver(RECEIVERS[kind]):
        MAX_LENGTH = max_length

        def send(self, message):
            if kind in LINES:
                self.sendLine(message)
            else:
                self.sendString(message)

        def lengthLimitExceeded(self, length):
            say("EXCEEDED", name, length)
            super().lengthLimitExceeded(length)

        def lineLengthExceeded(self, line):
            say("EXCEEDED", name, len(line))
            return super().lineLengthExceeded(line)

        def connectionLost(self, reason=protocol.connectionDone):
            if getattr(self, "brokenPeer", 0):
                say("BROKEN-PEER", name)
            self.lost(reason)
            super().connectionLost(reason)

        def lost(self, reason):
            pass

    return Receiver


def echo_server(kind, name, max_length):
    base = receiver(kind, name, max_length)

    class Echo(base):
        def stringReceived(self, string):
            self.send(string)

        def lineReceived(self, line):
            self.send(line)

    return Echo


def watch_parent():
    """Stops the reactor when the process that started this one goes away."""
    parent = os.getppid()

    def check():
        if os.getppid() != parent:
            reactor.stop()

    task.LoopingCall(check).start(0.5, now=False)


def serve(args):
    ports = []
    for arg in args:
        name, _, rest = arg.partition("=")
        kind, _, max_length = rest.partition(":")
        factory = protocol.Factory.forProtocol(echo_server(kind, name, int(max_length)))
        port = reactor.listenTCP(0, factory, interface="127.0.0.1")
        ports.append((name, port.getHost().port))
    say("PORT", ports[0][1])
    for name, port in ports:
        say("LISTEN", name, port)
    say("READY")
    watch_parent()
    reactor.run()


def start_job(job, finished, failed):
    """Connects one client job (see the module docs)."""
    name, kind, sizes = job["name"], job["kind"], job["sizes"]

    class Client(receiver(kind, name, job["max"])):
        def connectionMade(self):
            self.next = 0
            self.echoes = 0
            self.done = False
            self.send_next()

        def send_next(self):
            while self.next < len(sizes):
                size = sizes[self.next]
                self.expected = payload(kind, size)
                try:
                    self.send(self.expected)
                except Exception as e:  # StringTooLongError, struct.error
                    say("REFUSED-SEND", name, size, type(e).__name__)
                    self.next += 1
                    continue
                return
            self.done = True
            say("DONE", name)
            self.transport.loseConnection()

        def stringReceived(self, string):
            size = sizes[self.next]
            if string == self.expected:
                say("ECHO", name, size)
            else:
                say("MISMATCH", name, size, len(string))
                failed.append(name)
            self.echoes += 1
            self.next += 1
            self.send_next()

        def lineReceived(self, line):
            self.stringReceived(line)

        def lost(self, reason):
            if not self.done:
                say("CLOSED", name, self.echoes)
            finished(name)

    class Factory(protocol.ClientFactory):
        def buildProtocol(self, addr):
            return Client()

        def clientConnectionFailed(self, connector, reason):
            say("CONNECT-FAILED", name, reason.getErrorMessage())
            failed.append(name)
            finished(name)

    reactor.connectTCP("127.0.0.1", job["port"], Factory(), timeout=5)


def client(jobs_json):
    jobs = json.loads(jobs_json)
    pending = {job["name"] for job in jobs}
    failed = []

    def finished(name):
        pending.discard(name)
        if not pending and reactor.running:
            say("FINISHED")
            reactor.stop()

    for job in jobs:
        start_job(job, finished, failed)

    def timeout():
        say("TIMEOUT", *sorted(pending))
        failed.append("timeout")
        reactor.stop()

    reactor.callLater(CLIENT_TIMEOUT, timeout)
    watch_parent()
    reactor.run()
    sys.exit(2 if "timeout" in failed else 0)


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "serve":
        serve(sys.argv[2:])
    elif len(sys.argv) == 3 and sys.argv[1] == "client":
        client(sys.argv[2])
    else:
        sys.exit(__doc__)
