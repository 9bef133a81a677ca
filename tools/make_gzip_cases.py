#!/usr/bin/env python3
"""Writes the gzip test cases for Tests/RefSAMTests/InflateTests.swift.

Each case is compressed by Python's zlib (an independent DEFLATE encoder), so the
Swift inflater is checked against files it did not write. Every case has its raw
content beside it (`NAME.raw`), which the test compares byte for byte.

    python3 tools/make_gzip_cases.py     # writes Tests/RefSAMTests/Resources/gzip/

Cases (the block type is the one the first DEFLATE block header announces; the test
reads the header bits to confirm it):
    stored.gz        level 0: stored blocks, two of them (> 65,535 bytes)
    fixed.gz         strategy Z_FIXED: fixed-Huffman blocks
    dynamic.gz       default strategy on varied text: dynamic-Huffman blocks,
                     with long matches and distances past 16 KiB
    multi.gz         two gzip members back to back (gunzip concatenates them)
    empty.gz         a member of 0 bytes
    header_fields.gz FEXTRA, FNAME, FCOMMENT and FHCRC all present
"""
import os
import struct
import zlib

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "RefSAMTests", "Resources", "gzip")


def member(data: bytes, level: int = 9, strategy: int = zlib.Z_DEFAULT_STRATEGY, flags: int = 0,
           extra: bytes = b"", name: bytes = b"", comment: bytes = b"") -> bytes:
    """One gzip member (RFC 1952) around a raw DEFLATE stream from zlib."""
    header = bytearray(b"\x1f\x8b\x08" + bytes([flags]) + b"\x00\x00\x00\x00" + b"\x00\xff")
    if flags & 4:
        header += struct.pack("<H", len(extra)) + extra
    if flags & 8:
        header += name + b"\x00"
    if flags & 16:
        header += comment + b"\x00"
    if flags & 2:
        header += struct.pack("<H", zlib.crc32(bytes(header)) & 0xFFFF)
    c = zlib.compressobj(level, zlib.DEFLATED, -15, 9, strategy)
    body = c.compress(data) + c.flush()
    return bytes(header) + body + struct.pack("<II", zlib.crc32(data) & 0xFFFFFFFF, len(data) & 0xFFFFFFFF)


def varied_text(n_lines: int) -> bytes:
    """Text with repeats near and far (matches of many lengths and distances)."""
    words = [b"sharpness", b"aware", b"minimization", b"overparameterization", b"width", b"sparsity",
             b"gradient", b"perturbation", b"momentum", b"batch", b"norm", b"MNIST", b"CIFAR"]
    lines = []
    state = 12345
    for i in range(n_lines):
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        k = 3 + state % 9
        line = b" ".join(words[(state >> (3 * j)) % len(words)] for j in range(k))
        lines.append(b"%05d " % i + line + b"\n")
    return b"".join(lines)


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    binary = bytes((i * 7 + (i >> 8) * 13) & 0xFF for i in range(70_000))
    short = b"Critical influence of overparameterization on sharpness-aware minimization. " * 3
    text = varied_text(1500)
    cases = {
        "stored": (binary, member(binary, level=0)),
        "fixed": (short + text[:3000], member(short + text[:3000], strategy=zlib.Z_FIXED)),
        "dynamic": (text, member(text)),
        "multi": (short + text[:5000], member(short, strategy=zlib.Z_FIXED) + member(text[:5000])),
        "empty": (b"", member(b"")),
        "header_fields": (short, member(short, flags=2 | 4 | 8 | 16, extra=b"XY\x02\x00ab",
                                        name=b"name.txt", comment=b"a comment")),
    }
    for name, (raw, gz) in cases.items():
        assert zlib.decompress(gz, 31) == raw[: len(zlib.decompress(gz, 31))]
        with open(os.path.join(OUT, name + ".gz"), "wb") as f:
            f.write(gz)
        with open(os.path.join(OUT, name + ".raw"), "wb") as f:
            f.write(raw)
        print(f"{name}: {len(raw)} bytes raw, {len(gz)} gzip")


if __name__ == "__main__":
    main()
