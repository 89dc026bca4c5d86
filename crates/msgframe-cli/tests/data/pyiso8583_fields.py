"""Random ISO 8583 messages encoded by pyiso8583, with where it put each field: an independent
check of the bitmap walk of `msgframe replay` (--ignore-field, --key-fields).

Usage: pyiso8583_fields.py SEED  -> JSON: [{"spec", "hex", "fields": [[n, start, end], ...]}, ...]
for the default_ascii spec (hex bitmap, binary fields as hex) and the default spec (binary
bitmap and binary fields), fields 2-128 at random, variable fields of random length.
"""
import json, random, sys

import iso8583
from iso8583.specs import default, default_ascii

seed = int(sys.argv[1]) if len(sys.argv) > 1 else 7
out = []
for name, spec in (("ascii", default_ascii), ("binary", default)):
    rnd = random.Random(seed)
    for _ in range(150):
        doc = {"t": rnd.choice(["0200", "0210", "0800", "0810", "0400"])}
        for f in sorted(rnd.sample(range(2, 129), rnd.randint(1, 25))):
            s = spec[str(f)]
            n = s["max_len"] if s["len_type"] == 0 else rnd.randint(0, min(s["max_len"], 40))
            if s["data_enc"] == "b":
                doc[str(f)] = bytes(rnd.randrange(256) for _ in range(n)).hex().upper()
            else:
                doc[str(f)] = "".join(rnd.choice("0123456789") for _ in range(n))
        raw, enc = iso8583.encode(doc, spec)
        offset, fields = 0, []
        for k in ["h", "t", "p", "1"] + [str(i) for i in range(2, 129)]:
            if k in enc:
                length = len(enc[k]["len"]) + len(enc[k]["data"])
                if k not in ("h", "t", "p", "1"):
                    fields.append([int(k), offset, offset + length])
                offset += length
        assert offset == len(raw)
        out.append({"spec": name, "hex": bytes(raw).hex(), "fields": fields})
print(json.dumps(out))
