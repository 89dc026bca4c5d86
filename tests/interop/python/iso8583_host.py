#!/usr/bin/env python3
"""An ISO 8583 card host and terminal for msgframe's interoperability tests (tests/interop_python.rs).

Messages are encoded and decoded by pyiso8583 with its `iso8583.specs.default_ascii` spec (MTI as 4
ASCII digits, primary bitmap as 16 ASCII hex characters, LLVAR/LLLVAR lengths as ASCII digits). The
length headers in front of them are the legacy card-host layouts, one listening port each:

    ascii4  4 ASCII decimal digits, body length            msgframe `ascii:4`
    bcd2    2 bytes packed BCD, body length                  msgframe `bcd:2`
    be2     2-byte big-endian binary, body length            msgframe `be:2`
    tpdu    2-byte big-endian binary; the body starts with a 5-byte TPDU (60, destination, source)
            counted in the length; replies swap destination and source      msgframe `be:2`
    be4     4-byte big-endian binary, body length            msgframe `be:4`

On every layout a zero-length message is a keepalive: the host answers it with a zero-length message.

    iso8583_host.py serve
        Listens on 127.0.0.1 port 0 once per layout; prints `PORT <first port>`, then
        `LISTEN <layout> <port>` for each and `READY`. Answers requests as a host: 0200 -> 0210,
        0800 -> 0810, copying fields 2, 3, 4, 7, 11, 12, 13, 41, 42 and 49 when present, adding
        37 (retrieval reference number) and, when approved, 38 (authorisation code); field 39 is "00",
        or "51" (insufficient funds) for an amount of 999999999999. Prints `REQUEST <layout> <mti>
        <stan> <body length>` per request, `KEEPALIVE <layout>` per keepalive, and closes the
        connection after `FRAMING-ERROR <layout> <header hex>`, `TPDU-ERROR <layout> <hex>` or
        `DECODE-ERROR <layout> <pyiso8583's message>`. Runs until killed (or its parent goes away).

    iso8583_host.py client LAYOUT=PORT [...]
        A terminal against a host on 127.0.0.1:PORT, for each layout in turn on one connection:
        a keepalive, a 0200 (STAN 000101), and the largest request the layout carries (see
        largest_request); checks every reply. Prints `OK <layout> <what> <details>` per exchange or
        `FAIL <layout> <why>`, then `FINISHED`; exits 0 when nothing failed, 1 otherwise.

    iso8583_host.py encode [TARGET]
        Prints, in hex, pyiso8583's encoding of sample_request() (filled to TARGET bytes when given),
        for the Rust side to compare with its own encoder.
"""

import asyncio
import os
import socket
import struct
import sys

import iso8583
from iso8583.specs import default_ascii as SPEC

LAYOUTS = ("ascii4", "bcd2", "be2", "tpdu", "be4")

# The LLLVAR fields of up to 999 characters in default_ascii, in the order large requests use them.
LLLVAR_999 = [f for f in range(2, 129) if SPEC[str(f)]["len_type"] == 3 and SPEC[str(f)]["max_len"] == 999]
COPIED = ("2", "3", "4", "7", "11", "12", "13", "41", "42", "49")
DECLINED_AMOUNT = "999999999999"

TPDU_REQUEST = bytes([0x60, 0x00, 0x03, 0x80, 0x01])  # destination 0003, source 8001


class FramingError(Exception):
    pass


def say(*words):
    print(*words, flush=True)


def header_length(layout):
    return {"ascii4": 4, "bcd2": 2, "be2": 2, "tpdu": 2, "be4": 4}[layout]


def parse_header(layout, header):
    if layout == "ascii4":
        if not all(0x30 <= b <= 0x39 for b in header):
            raise FramingError(header.hex())
        return int(header)
    if layout == "bcd2":
        digits = header.hex()
        if not digits.isdigit():
            raise FramingError(header.hex())
        return int(digits)
    return struct.unpack(">H" if len(header) == 2 else ">I", header)[0]


def frame(layout, body):
    n = len(body)
    if layout == "ascii4":
        if n > 9999:
            raise ValueError(f"{n} bytes do not fit 4 ASCII digits")
        return b"%04d" % n + body
    if layout == "bcd2":
        if n > 9999:
            raise ValueError(f"{n} bytes do not fit 2 BCD bytes")
        return bytes.fromhex("%04d" % n) + body
    if layout in ("be2", "tpdu"):
        return struct.pack(">H", n) + body
    return struct.pack(">I", n) + body


def answer(request):
    """The host's reply to a decoded request."""
    mti = request["t"]
    reply = {"t": mti[:2] + str(int(mti[2]) + 1) + mti[3]}
    for field in COPIED:
        if field in request:
            reply[field] = request[field]
    stan = request.get("11", "000000")
    reply["37"] = "%012d" % int(stan)
    if request.get("4") == DECLINED_AMOUNT:
        reply["39"] = "51"
    else:
        reply["38"] = "A%05d" % (int(stan) % 100000)
        reply["39"] = "00"
    return reply


async def serve_connection(layout, reader, writer):
    try:
        while True:
            try:
                header = await reader.readexactly(header_length(layout))
                body = await reader.readexactly(parse_header(layout, header))
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            except FramingError as e:
                say("FRAMING-ERROR", layout, e.args[0])
                return
            if not body:
                say("KEEPALIVE", layout)
                writer.write(frame(layout, b""))
                await writer.drain()
                continue
            tpdu = b""
            if layout == "tpdu":
                tpdu, body = body[:5], body[5:]
                if len(tpdu) < 5 or tpdu[0] != 0x60:
                    say("TPDU-ERROR", layout, tpdu.hex())
                    return
                tpdu = bytes([0x60]) + tpdu[3:5] + tpdu[1:3]
            try:
                request, _ = iso8583.decode(bytes(body), SPEC)
            except iso8583.DecodeError as e:
                say("DECODE-ERROR", layout, str(e).replace("\n", " "))
                return
            say("REQUEST", layout, request["t"], request.get("11", "-"), len(body))
            reply, _ = iso8583.encode(answer(request), SPEC)
            writer.write(frame(layout, tpdu + bytes(reply)))
            await writer.drain()
    finally:
        writer.close()


async def serve():
    servers = []
    for layout in LAYOUTS:
        server = await asyncio.start_server(
            lambda r, w, layout=layout: serve_connection(layout, r, w), "127.0.0.1", 0
        )
        servers.append((layout, server.sockets[0].getsockname()[1]))
    say("PORT", servers[0][1])
    for layout, port in servers:
        say("LISTEN", layout, port)
    say("READY")
    parent = os.getppid()
    while os.getppid() == parent:
        await asyncio.sleep(0.5)


def sample_request(stan="000101", amount="000000012345"):
    return {
        "t": "0200",
        "2": "4761739001010010",
        "3": "000000",
        "4": amount,
        "11": stan,
        "41": "TERM0001",
    }


def filled(request, target):
    """`request` with LLLVAR fields added so that it encodes to exactly `target` bytes: the fields of
    LLLVAR_999 in order, as few as possible, their sizes as even as possible (each 3 length digits
    plus data); the secondary bitmap (16 bytes) counts once any of them is above 64. Field f's data
    is the letters A-Z repeated, starting at letter f % 26."""
    request = dict(request)
    remaining = target - len(iso8583.encode(dict(request), SPEC)[0])
    count = 0
    while True:
        count += 1
        if count > len(LLLVAR_999):
            raise ValueError(f"{target} bytes is more than default_ascii can carry")
        fields = LLLVAR_999[:count]
        room = remaining - (16 if fields[-1] > 64 else 0)
        if 3 * count <= room <= 1002 * count:
            break
    sizes = [room // count + (1 if i < room % count else 0) for i in range(count)]
    for field, size in zip(fields, sizes):
        request[str(field)] = letters(field, size - 3)
    return request


def largest(request):
    """`request` with every LLLVAR_999 field full: the largest message default_ascii carries here."""
    request = dict(request)
    for field in LLLVAR_999:
        request[str(field)] = letters(field, 999)
    return request


def letters(field, n):
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    start = field % 26
    return (alphabet * (n // 26 + 2))[start : start + n]


def largest_request(layout):
    """The largest request for a layout: 9999 bytes behind 4 ASCII digits or 2 BCD bytes, and the
    largest default_ascii message behind binary lengths."""
    if layout in ("ascii4", "bcd2"):
        return filled(sample_request("000102"), 9999)
    return largest(sample_request("000102"))


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError(f"closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def exchange(sock, layout, body):
    sock.sendall(frame(layout, body))
    header = recv_exact(sock, header_length(layout))
    return recv_exact(sock, parse_header(layout, header))


def client(targets):
    failed = False
    for target in targets:
        layout, _, port = target.partition("=")
        try:
            with socket.create_connection(("127.0.0.1", int(port)), timeout=5) as sock:
                reply = exchange(sock, layout, b"")
                if reply != b"":
                    raise AssertionError(f"keepalive answered with {reply.hex()}")
                say("OK", layout, "keepalive")
                for request in (sample_request(), largest_request(layout)):
                    raw = bytes(iso8583.encode(dict(request), SPEC)[0])
                    tpdu = TPDU_REQUEST if layout == "tpdu" else b""
                    reply = exchange(sock, layout, tpdu + raw)
                    if tpdu:
                        swapped = bytes([0x60]) + tpdu[3:5] + tpdu[1:3]
                        if reply[:5] != swapped:
                            raise AssertionError(f"reply TPDU {reply[:5].hex()}, expected {swapped.hex()}")
                        reply = reply[5:]
                    decoded, _ = iso8583.decode(reply, SPEC)
                    for field, expected in (("t", "0210"), ("39", "00"), ("2", request["2"]),
                                            ("4", request["4"]), ("11", request["11"]),
                                            ("41", request["41"])):
                        if decoded.get(field) != expected:
                            raise AssertionError(f"field {field} is {decoded.get(field)!r}, expected {expected!r}")
                    say("OK", layout, decoded["t"], "stan=" + decoded["11"], "request=%d" % len(raw),
                        "reply=%d" % len(reply), "auth=" + decoded.get("38", "-"))
        except Exception as e:  # report and go on with the next layout
            say("FAIL", layout, type(e).__name__, str(e).replace("\n", " "))
            failed = True
    say("FINISHED")
    sys.exit(1 if failed else 0)


def encode(args):
    request = sample_request("000042")
    if args:
        request = filled(request, int(args[0]))
    raw = bytes(iso8583.encode(request, SPEC)[0])
    print(raw.hex(), flush=True)


if __name__ == "__main__":
    command, args = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ("", [])
    if command == "serve" and not args:
        asyncio.run(serve())
    elif command == "client" and args:
        client(args)
    elif command == "encode" and len(args) <= 1:
        encode(args)
    else:
        sys.exit(__doc__)
