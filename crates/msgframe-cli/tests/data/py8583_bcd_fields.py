"""Random ISO 8583 messages in a packed-BCD layout, encoded by py8583 (IsoSpec1987BCD: MTI and
numeric fields in BCD, binary bitmap, lengths in BCD), with where each field lies: an independent
check of the BCD walk of `msgframe replay` (--ignore-field, --key-fields).

Usage: py8583_bcd_fields.py SEED  -> JSON: [{"hex", "fields": [[n, start, end], ...]}, ...]

Where each field lies is found with py8583's public calls only: a message holding just that
field, less its MTI and bitmap, is that field's size. Field 65 is left out: the references
disagree on its size (py8583: 1 byte; pyiso8583 and msgframe: 8).
"""
import json, random, sys

from py8583.py8583 import Iso8583
from py8583.py8583spec import IsoSpec1987BCD, LT

seed = int(sys.argv[1]) if len(sys.argv) > 1 else 7
rnd = random.Random(seed)
spec = IsoSpec1987BCD()


def value(f):
    """A random value for field f, as py8583 takes it."""
    content, fixed = spec.ContentType(f), spec.LengthType(f) == LT.FIXED
    most = spec.MaxLength(f)
    n = most if fixed else rnd.randint(1, min(most, 40))
    if content == "b":
        return bytes(rnd.randrange(256) for _ in range(n)).hex().upper()
    if content == "n":
        if fixed:
            return rnd.randrange(10 ** n)
        return int(str(rnd.randint(1, 9)) + "".join(rnd.choice("0123456789") for _ in range(n - 1)))
    if content == "z":
        digits = "".join(rnd.choice("0123456789") for _ in range(n))
        return digits[: n // 2] + "=" + digits[n // 2 + 1 :] if n > 2 else digits
    return "".join(rnd.choice("ABCDEFGHIJ0123456789 ") for _ in range(n))


def build(mti, fields):
    m = Iso8583(IsoSpec=spec)
    m.MTI(mti)
    for f, v in fields.items():
        m.Field(f, 1)
        if spec.ContentType(f) == "b":
            # FieldData checks a hex string's length against the field's size in bytes: set
            # the hex directly, as BuildField reads it.
            m._Iso8583__FieldData[f] = v
        else:
            m.FieldData(f, v)
    return m.BuildIso()


out = []
for _ in range(300):
    mti = rnd.choice(["0200", "0210", "0800", "0810", "0400"])
    numbers = sorted(rnd.sample([f for f in range(2, 129) if f != 65], rnd.randint(1, 25)))
    fields = {f: value(f) for f in numbers}
    raw = build(mti, fields)
    offset = 2 + (16 if numbers[-1] > 64 else 8)
    where = []
    for f in numbers:
        alone = build(mti, {f: fields[f]})
        size = len(alone) - 2 - (16 if f > 64 else 8)
        where.append([f, offset, offset + size])
        offset += size
    assert offset == len(raw), (raw.hex(), where)
    out.append({"hex": raw.hex(), "fields": where})
print(json.dumps(out))
