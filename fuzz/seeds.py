#!/usr/bin/env python3
"""Writes the seed corpus in fuzz/corpus/<target>/ from the golden protocol layouts.

Each framing seed starts with the configuration bytes that select its layout (see the layout
tables in src/targets.rs and in each target's doc comment), then a chunk plan, then the stream.
Run from anywhere: `python3 fuzz/seeds.py`. Rewrites the seed files it names and nothing else.
"""

import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def body(n):
    return bytes(ord("a") + i % 26 for i in range(n))


def plan(*sizes):
    """Chunk plan: a count byte (< 8), then one size byte each; no sizes = one byte at a time."""
    assert len(sizes) < 8
    return bytes([len(sizes), *sizes])


# ---- length-prefixed targets ----------------------------------------------------------------
# byte 0 width (1 + b % widths), byte 1 flags, byte 2 before/after sizes (bit 4: trailer byte
# follows), before, after, [trailer byte (bits 0-1 length, bit 2 counts-trailer, bit 3
# keep-trailer, bits 4-5 empty form: 1 bare, 2 framed), trailer], adjustment (i8 % 17), strip
# (% header+1), max (u16 LE), plan, stream.
BODY, FROM_LENGTH, WHOLE_FRAME = 0, 1, 2
DISCARD, SKIP_EMPTY, LENIENT, STRIP, MAX, NO_VERIFY = 0x04, 0x08, 0x10, 0x20, 0x40, 0x80
HAS_TRAILER, COUNTS_TRAILER, KEEP_TRAILER = 0x10, 0x04, 0x08
EMPTY_BARE, EMPTY_FRAMED = 0x10, 0x20


def lp(width, counts=BODY, flags=0, before=b"", after=b"", adjust=0, strip=0, max_len=0,
       chunks=(), stream=b"", trailer=None, counts_trailer=False, keep_trailer=False,
       empty_form=0):
    """trailer=None: no trailer byte (the seeds from before trailers, byte for byte); b"" with
    counts_trailer / keep_trailer: a configuration build() refuses."""
    assert 1 <= width and len(before) <= 3 and len(after) <= 3
    sizes = len(before) | len(after) << 2
    trailer_part = b""
    if trailer is not None:
        assert len(trailer) <= 3
        sizes |= HAS_TRAILER
        trailer_part = bytes([len(trailer)
                              | (COUNTS_TRAILER if counts_trailer else 0)
                              | (KEEP_TRAILER if keep_trailer else 0)
                              | empty_form]) + trailer
    else:
        assert not counts_trailer and not keep_trailer
    return (bytes([width - 1, counts | flags, sizes])
            + before + after + trailer_part
            + bytes([adjust & 0xFF, strip]) + struct.pack("<H", max_len)
            + plan(*chunks) + stream)


SEEDS = {
    "length_ascii": {
        "ascii4_123": lp(4, stream=b"0123" + body(123)),
        "ascii4_two_frames_chunked": lp(4, chunks=(3, 1, 7), stream=b"0005hello0003abc"),
        "ascii4_lenient_spaces": lp(4, flags=LENIENT, stream=b"  12hello world!   2hi"),
        "ascii4_counts_header": lp(4, counts=WHOLE_FRAME, stream=b"0009hello0004"),
        "ascii4_max5_discard": lp(4, flags=MAX | DISCARD, max_len=5,
                                  stream=b"0010xxxxxxxxxx0002ok"),
        "ascii2_empty_skip": lp(2, flags=SKIP_EMPTY, stream=b"0002hi0000"),
        "ascii4_invalid_digit": lp(4, stream=b"0005hello00a5hello"),
        # trailers: ETX counted by the length, an empty keepalive in between skipped
        "ascii4_etx_counted_empty_skip": lp(4, flags=SKIP_EMPTY, trailer=b"\x03",
                                            counts_trailer=True, chunks=(3, 2),
                                            stream=b"0006hello\x030001\x030003ab\x03"),
        "ascii4_etx_not_counted": lp(4, stream=b"0003abc\x030002de\x03", trailer=b"\x03"),
    },
    "length_hex": {
        "hex4_007B": lp(4, stream=b"007B" + body(123)),
        "hex4_lower_case": lp(4, chunks=(2, 5), stream=b"000ahelloworld000Ahelloworld"),
        "hex4_ffff_truncated": lp(4, stream=b"FFFF" + body(40)),
        "hex2_after_0000": lp(2, after=b"\x00\x00", stream=b"05\x00\x00hello"),
        "hex4_invalid": lp(4, stream=b"00g1x"),
        # trailer kept, not verified: any bytes in its place
        "hex4_trailer_keep_no_verify": lp(4, flags=NO_VERIFY, trailer=b"\r\n", keep_trailer=True,
                                          stream=b"0003abc\r\n0002de\xff\xff"),
    },
    "length_bcd": {
        "bcd2_0123": lp(2, stream=b"\x01\x23" + body(123)),
        "bcd2_two_frames": lp(2, chunks=(1, 3), stream=b"\x00\x05hello\x00\x03abc"),
        "bcd1_llvar_pan": lp(1, stream=b"\x164111111111111111"),
        "bcd2_bad_nibble": lp(2, stream=b"\x01\x2a\xff"),
        "bcd2_max9999": lp(2, flags=MAX, max_len=9999, stream=b"\x99\x99" + body(20)),
        "bcd2_trailer_0d0a_keep": lp(2, trailer=b"\r\n", keep_trailer=True, chunks=(1,),
                                     stream=b"\x00\x03abc\r\n\x00\x02de\r\n"),
        # the stream ends inside the second frame's trailer
        "bcd2_trailer_cut": lp(2, trailer=b"\x03\x04", counts_trailer=True,
                               stream=b"\x00\x04ab\x03\x04\x00\x04cd\x03"),
    },
    "length_be": {
        "be2_0800": lp(2, stream=b"\x00\x040800\x00\x040810"),
        "be2_counting_itself": lp(2, counts=WHOLE_FRAME, stream=b"\x00\x060800\x00\x060810"),
        "be2_adjust_minus2": lp(2, adjust=-2, stream=b"\x00\x060800"),
        "tpkt_0300_LLLL": lp(2, counts=WHOLE_FRAME, before=b"\x03\x00", chunks=(3, 1, 4),
                             stream=b"\x03\x00\x00\x09hello\x03\x00\x00\x05x\x04\x00\x00\x05"),
        "smpp_cmpp_be4_counts_header": lp(4, counts=WHOLE_FRAME,
                                          stream=bytes.fromhex("00000010" "00000015"
                                                               "00000000" "00000001")),
        "visa_LLLL_0000": lp(2, after=b"\x00\x00", stream=b"\x00\x7b\x00\x00" + body(123)),
        "card_0000_LLLL": lp(2, before=b"\x00\x00", stream=b"\x00\x00\x00\x040800"),
        "be4_0800": lp(4, stream=b"\x00\x00\x00\x040800"),
        "be3_strip0": lp(3, flags=STRIP, strip=0, stream=b"\x00\x00\x05hello"),
        "be2_max4_discard": lp(2, flags=MAX | DISCARD, max_len=4,
                               stream=b"\x00\x0atoolongbod\x00\x02ok"),
        # BASE24-style: LL LL counts the ETX after the body
        "base24_be2_etx_counted": lp(2, trailer=b"\x03", counts_trailer=True,
                                     stream=b"\x00\x0b0200 hello\x03\x00\x05abcd\x03"),
        # a wrong trailer after a good frame: FixedBytesMismatch (trailer), poisoned
        "be2_etx_wrong_trailer": lp(2, trailer=b"\x03", counts_trailer=True, chunks=(2, 3),
                                    stream=b"\x00\x03ab\x03\x00\x03ab\x04"),
        # oversized frames skipped with their trailer; the stream ends inside the second one
        "be2_trailer_max4_discard": lp(2, flags=MAX | DISCARD, max_len=4, trailer=b"\x03",
                                       stream=b"\x00\x0atoolongbod\x03\x00\x02ok\x03"
                                       b"\x00\x08cutshort"),
        # counts-trailer with whole-frame counting and a TPKT-like header, trailer kept
        "be2_before_counts_header_trailer_keep": lp(2, counts=WHOLE_FRAME, before=b"\x03\x00",
                                                    trailer=b"\x0d\x0a", counts_trailer=True,
                                                    keep_trailer=True, chunks=(4, 1),
                                                    stream=b"\x03\x00\x00\x0bhello\r\n"),
        # BASE24-TCP keep-alives: a bare zero length (no ETX) between frames, delivered; then the
        # framed empty form read as well, and keep-trailer leaving the bare one without an ETX
        "base24_bare_keepalive": lp(2, trailer=b"\x03", counts_trailer=True, chunks=(1, 3, 1),
                                    stream=b"\x00\x05abcd\x03\x00\x00\x00\x01\x03\x00\x02x\x03"),
        "base24_bare_keepalive_skip_keep": lp(2, flags=SKIP_EMPTY, trailer=b"\x03",
                                              counts_trailer=True, keep_trailer=True,
                                              stream=b"\x00\x00\x00\x02x\x03\x00\x00"),
        # an explicit bare form where the length does not count the trailer
        "be2_etx_not_counted_bare": lp(2, trailer=b"\x03", empty_form=EMPTY_BARE,
                                       stream=b"\x00\x00\x00\x01x\x03\x00\x00"),
        # counts-trailer without a trailer: build() refuses it
        "be2_counts_trailer_without_trailer": lp(2, trailer=b"", counts_trailer=True,
                                                 stream=b"\x00\x02ok"),
    },
    "length_le": {
        "le2_300": lp(2, stream=b"\x2c\x01" + body(300)),
        "le4_two_frames": lp(4, chunks=(5, 2), stream=b"\x05\x00\x00\x00hello\x03\x00\x00\x00abc"),
        "le2_counts_from_length": lp(2, counts=FROM_LENGTH, after=b"\xaa",
                                     stream=b"\x08\x00\xaahello"),
        "le8_huge_claim": lp(8, stream=b"\x00\x00\x00\x00\x00\x01\x00\x00" + body(16)),
        "le2_trailer3_strip0_adjust": lp(2, flags=STRIP, strip=0, adjust=3, trailer=b"END",
                                         counts_trailer=True,
                                         stream=b"\x02\x00hiEND\x00\x00END"),
        # keep-trailer without a trailer: build() refuses it
        "le2_keep_trailer_without_trailer": lp(2, trailer=b"", keep_trailer=True,
                                               stream=b"\x02\x00ok"),
    },
    # byte 0-1 max (u16 LE, 0xFFFF = default 8 MiB), plan, stream
    "until_eof": {
        "http_reply": b"\xff\xff" + plan() + b"HTTP/1.0 200 OK\r\n\r\nbody",
        "max8_nine_bytes": b"\x08\x00" + plan(4) + b"123456789",
        "empty": b"\xff\xff" + plan(),
        "max64_chunked": b"\x40\x00" + plan(7, 0, 13) + body(64),
    },
    # byte 0 len (255: bytes 1-3 u24 LE), bytes 1-3, plan, stream
    "fixed_length": {
        "fixed3_abcdefg": b"\x03\x00\x00\x00" + plan() + b"abcdefg",
        "fixed4_chunked": b"\x04\x00\x00\x00" + plan(3, 6) + body(16),
        "fixed_65536_partial": b"\xff\x00\x00\x01" + plan(100) + body(300),
        "fixed_zero": b"\x00\x00\x00\x00" + plan() + b"abc",
    },
    # byte 0 delimiter length - 1, delimiter, flags (1 keep, 2 crlf, 4 eof=deliver,
    # 8 oversize=discard, 16 explicit max), max byte, plan, stream
    "delimiter": {
        "etx": b"\x00\x03" + b"\x00\x00" + plan() + b"0800\x030810\x03",
        "etx_keep": b"\x00\x03" + b"\x01\x00" + plan(2, 3) + b"0800\x030810\x03",
        "crlf_bytes": b"\x01\r\n" + b"\x00\x00" + plan() + b"HELO a\r\nQUIT\r\n",
        "end_3_bytes": b"\x02END" + b"\x04\x00" + plan(2) + b"oneENDtwoENtail",
        "lf_crlf_max4_discard": b"\x00\n" + b"\x1a\x04" + plan(3) + b"ok\r\ntoolong\nab\n",
        "stx_etx_max8": b"\x00\x03" + b"\x10\x08" + plan(5) + b"\x02short\x03\x02muchtoolong\x03",
        # eof=deliver, crlf, max 0: the unterminated "%" is above the maximum, so FrameTooLong
        # (the library once delivered it; found by this target)
        "eof_deliver_above_max": b"\x00\xfe" + b"\xfe\x00" + plan() + b"%",
    },
    # byte 0 bit 0 crlf, plan, stream
    "lines": {
        "lines": b"\x00" + plan() + b"one\r\ntwo\n\nlast",
        "crlf_lines": b"\x01" + plan() + b"one\r\ntwo\n\r\n",
        "crlf_lines_smtp_chunked": b"\x01" + plan(4, 1) + b"HELO a\r\nMAIL FROM:<a@b>\r\nQUIT\n",
    },
    # byte 0 max mode (0 m&0xFF, 1 m&0xFFFF, 2 m, 3 10^(byte 1 % 20) + byte 2 % 7 - 3, 4 usize::MAX - m&0xFF,
    # 5 Netstring::MAX + m&0xFF - 128, 6 default 8 MiB), bytes 1-8 m (u64 LE), plan, stream
    "netstring": {
        "hello_empty_twelve": b"\x06" + struct.pack("<Q", 0) + plan()
        + b"5:hello,0:,12:xxxxxxxxxxxx,",
        "max99_chunked": b"\x00" + struct.pack("<Q", 99) + plan(2, 5, 1)
        + b"2:hi,10:0123456789,99:" + body(99) + b",",
        "max99_refuses_100": b"\x00" + struct.pack("<Q", 99) + plan() + b"3:abc,100:",
        "leading_zero": b"\x06" + struct.pack("<Q", 0) + plan() + b"05:hello,",
        "missing_comma": b"\x06" + struct.pack("<Q", 0) + plan() + b"2:ok,2:ok;",
        "no_colon": b"\x06" + struct.pack("<Q", 0) + plan() + b"12x:",
        "truncated_data": b"\x06" + struct.pack("<Q", 0) + plan(3) + b"5:hel",
        # maximum 10^18 - 1 (18 digits): an 18-digit length waits for its data, a 19th digit fails
        "max_1e18_minus_1": b"\x03" + struct.pack("<Q", 18 | 2 << 8) + plan(4)
        + b"1:a,999999999999999999:abc",
        # usize::MAX, lowered to Netstring::MAX (19 digits): a length of 19 digits within it
        "max_usize_max": b"\x04" + struct.pack("<Q", 0) + plan() + b"1000000000000000000:ab",
        "max_netstring_max": b"\x05" + struct.pack("<Q", 128) + plan(7)
        + b"9223372036854775775:",
    },
    "spec_parser": {
        "be4_counts_header": b"be:4,counts-header",
        "ascii4_lenient": b"ascii:4,lenient",
        "bcd2_max": b"bcd:2,max=9999",
        "tpkt": b"be:2,before=0300,counts-header",
        "visa": b"be:2,after=0000",
        "le2_all_options": b"le:2,before=00,after=0000,no-verify,counts-from-length,adjust=-2,"
                           b"strip=1,max=64k,oversize=discard,empty=skip",
        "hex4": b"hex:4",
        "delim_etx_keep": b"delim:03,keep,max=4096,oversize=discard,eof=deliver",
        "lines_crlf": b"lines:crlf",
        "eof_fixed_netstring": b"eof,max=1m",
        "fixed": b"fixed:128",
        "netstring": b"netstring,max=100",
        "bad_adjust": b"be:2,adjust=x",
        "base24_trailer": b"be:2,trailer=03,counts-trailer",
        "trailer_all_options": b"be:4,before=0300,trailer=0d0a,no-verify,counts-header,"
                               b"counts-trailer,keep-trailer",
        "counts_trailer_without_trailer": b"be:2,counts-trailer",
    },
    "header_ascii": {
        "0123": b"0123",
        "space_padded": b"  12",
        "ten_digits": b"9999999999",
        "invalid": b"12a4",
        "llvar": b"164111111111111111",
    },
    "header_hex": {
        "007B": b"007B",
        "lower_ffff": b"ffff",
        "sixteen_f": b"FFFFFFFFFFFFFFFF",
        "invalid": b"00g1",
    },
    "header_bcd": {
        "0123": b"\x01\x23",
        "max5": b"\x99\x99\x99\x99\x99",
        "bad_low_nibble": b"\x01\x2a",
        "bad_high_nibble": b"\xa1\x23",
    },
    "header_binary": {
        "be2_007B": b"\x00\x7b",
        "le4_7B": b"\x7b\x00\x00\x00",
        "all_ff": b"\xff" * 8,
        "tpkt": b"\x03\x00\x00\x09",
    },
}

# ---- differential_tokio -----------------------------------------------------------------------
# byte 0: n = [1, 2, 3, 4, 8][b % 5]; byte 1: max mode (0 m&0xFF, 1 m&0xFFFF, 2 field max - m&0xFF,
# 3 m); bytes 2-9: m (u64 LE); plan; stream


def diff(n, mode, m, chunks=(), stream=b""):
    return bytes([[1, 2, 3, 4, 8].index(n), mode]) + struct.pack("<Q", m) + plan(*chunks) + stream


SEEDS["differential_tokio"] = {
    "be2_two_frames": diff(2, 1, 0xFFFF, (3, 2), b"\x00\x05hello\x00\x03abc\x00\x00"),
    # a claim equal to the maximum is delivered by both, one above it fails in both
    "be4_max5_boundary": diff(4, 0, 5, (), b"\x00\x00\x00\x05hello\x00\x00\x00\x06sixsix"),
    # maximum above the 1-byte field's range: tokio-util clips, msgframe refuses
    "be1_max300_clipped": diff(1, 3, 300, (), b"\x05hello\xff" + body(255)),
    # 8-byte field, maximum u64::MAX, then a 2^40 claim
    "be8_max_u64": diff(8, 3, 0xFFFF_FFFF_FFFF_FFFF, (9,),
                        b"\x00" * 7 + b"\x05hello" + b"\x00\x00\x01" + b"\x00" * 5 + b"x"),
    "be3_field_max": diff(3, 2, 0, (1,), b"\x00\x00\x040800\x00\x00\x10abc"),
    "be2_truncated": diff(2, 1, 0xFFFF, (), b"\x00\x10abc"),
    # ends right after a header: msgframe UnexpectedEof, tokio-util silent (difference 5)
    "be2_ends_after_header": diff(2, 3, 0xFF0000, (), b"\x00\x00\x10\x63"),
}


def main():
    for target, seeds in SEEDS.items():
        folder = os.path.join(CORPUS, target)
        os.makedirs(folder, exist_ok=True)
        for name, data in seeds.items():
            assert len(data) < 1024, (target, name, len(data))
            with open(os.path.join(folder, name), "wb") as f:
                f.write(data)
    print(f"{sum(len(s) for s in SEEDS.values())} seeds in {len(SEEDS)} targets")


if __name__ == "__main__":
    main()
