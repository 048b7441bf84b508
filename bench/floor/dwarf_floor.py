#!/usr/bin/env python3
"""Floor for reading DWARF: how long it takes just to get the bytes.

For each .debug_* section of an ELF binary, reads it from the (warm) page
cache and, when it is compressed (Go's linker writes SHF_COMPRESSED zlib
sections by default, -ldflags=-compressdwarf), inflates it with zlib (C).
This is the least any debugger pays for a section it touches; a debugger that
loads all DWARF eagerly (Delve) pays at least the total, one that indexes
lazily pays only for the sections and compile units it needs.  Also times
reading .gopclntab and .symtab, which is all that is needed to resolve
`main.main` and set a breakpoint.

Usage: dwarf_floor.py BINARY [REPS]   -> one JSON object on stdout
"""

import json
import struct
import sys
import time
import zlib

SHF_COMPRESSED = 0x800


def sections(data):
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise SystemExit("not a little-endian ELF64 file")
    e_shoff, = struct.unpack_from("<Q", data, 0x28)
    e_shentsize, e_shnum, e_shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    hdrs = []
    for i in range(e_shnum):
        off = e_shoff + i * e_shentsize
        name, typ, flags, addr, offset, size = struct.unpack_from("<IIQQQQ", data, off)
        hdrs.append((name, flags, offset, size))
    stroff = hdrs[e_shstrndx][2]
    out = {}
    for name, flags, offset, size in hdrs:
        end = data.index(b"\0", stroff + name)
        out[data[stroff + name:end].decode()] = (flags, offset, size)
    return out


def read_section(path, flags, offset, size):
    with open(path, "rb") as f:
        f.seek(offset)
        raw = f.read(size)
    if flags & SHF_COMPRESSED:
        # Elf64_Chdr: ch_type (u32), reserved (u32), ch_size (u64), ch_addralign (u64)
        ch_type, _, ch_size, _ = struct.unpack_from("<IIQQ", raw, 0)
        if ch_type != 1:
            raise SystemExit(f"unknown compression type {ch_type}")
        return zlib.decompress(raw[24:])
    return raw


def main():
    path = sys.argv[1]
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    with open(path, "rb") as f:
        data = f.read()
    secs = sections(data)
    del data
    res = {"binary": path, "sections": {}}
    total_t = 0.0
    total_c = total_u = 0
    for name, (flags, offset, size) in sorted(secs.items()):
        if not (name.startswith(".debug_") or name in (".gopclntab", ".symtab")):
            continue
        best = None
        for _ in range(reps):
            t = time.perf_counter()
            b = read_section(path, flags, offset, size)
            dt = time.perf_counter() - t
            best = dt if best is None else min(best, dt)
        res["sections"][name] = {"stored": size, "bytes": len(b), "compressed": bool(flags & SHF_COMPRESSED),
                                 "ms": round(best * 1000, 2)}
        if name.startswith(".debug_"):
            total_t += best
            total_c += size
            total_u += len(b)
    res["debug_total"] = {"stored": total_c, "bytes": total_u, "ms": round(total_t * 1000, 1)}
    need = [n for n in (".gopclntab", ".symtab") if n in res["sections"]]
    res["to_main_main"] = {"sections": need, "ms": round(sum(res["sections"][n]["ms"] for n in need), 2)}
    print(json.dumps(res))


if __name__ == "__main__":
    main()
