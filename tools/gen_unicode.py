#!/usr/bin/python3
"""Generate engine/tok/unicode_tables.c from Debian's unicode-data package.

The tokenizers' pre-tokenizer rules (GPT-2, Llama 3, Qwen2 regexes) need \\p{L}, \\p{N}, \\s and
friends for every code point.  This script turns UnicodeData.txt (general category) and
PropList.txt (White_Space) into two sorted range tables that engine/tok/unicode.c searches.
The output depends only on those two files, so running it twice gives identical bytes:

    /usr/bin/python3 tools/gen_unicode.py [/usr/share/unicode] > engine/tok/unicode_tables.c
"""
import os
import re
import sys

CATS = ["Cn", "Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc", "Pd",
        "Ps", "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf",
        "Cs", "Co"]


def version(path):
    with open(path, encoding="utf-8") as f:
        m = re.match(r"# PropList-([0-9.]+)\.txt", f.readline())
    return m.group(1) if m else "unknown"


def categories(path):
    """Return {code point: category} for every assigned code point (First/Last ranges expanded)."""
    cat = {}
    first = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            fields = line.split(";")
            cp, name, gc = int(fields[0], 16), fields[1], fields[2]
            if name.endswith(", First>"):
                first = cp
                continue
            if name.endswith(", Last>"):
                for c in range(first, cp + 1):
                    cat[c] = gc
                first = None
                continue
            cat[cp] = gc
    return cat


def ranges(get, lo=0, hi=0x10FFFF):
    """Collapse a per-code-point value into [start, end, value] runs, dropping the default 0."""
    out = []
    cur, start = None, lo
    for cp in range(lo, hi + 2):
        v = get(cp) if cp <= hi else None
        if v != cur:
            if cur:
                out.append((start, cp - 1, cur))
            cur, start = v, cp
    return out


def white_space(path):
    ws = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#")[0].strip()
            if not line:
                continue
            rng, prop = [x.strip() for x in line.split(";")]
            if prop != "White_Space":
                continue
            a, _, b = rng.partition("..")
            for c in range(int(a, 16), int(b or a, 16) + 1):
                ws.add(c)
    return ws


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/unicode"
    cat = categories(os.path.join(src, "UnicodeData.txt"))
    ws = white_space(os.path.join(src, "PropList.txt"))
    ver = version(os.path.join(src, "PropList.txt"))
    idx = {c: i for i, c in enumerate(CATS)}
    cat_runs = ranges(lambda cp: idx[cat[cp]] if cp in cat else 0)
    ws_runs = ranges(lambda cp: 1 if cp in ws else 0)
    o = []
    o.append("/* GENERATED FILE - do not edit.  Made by tools/gen_unicode.py from Debian's unicode-data")
    o.append(f" * (Unicode {ver}: UnicodeData.txt for general categories, PropList.txt for White_Space).")
    o.append(" * Regenerate:  make unicode-tables  (= /usr/bin/python3 tools/gen_unicode.py > this file)")
    o.append(" * The generator is deterministic: the same input files give the same bytes. */")
    o.append('#include "tok/unicode.h"')
    o.append("")
    o.append(f'const char et__uni_version[] = "{ver}";')
    o.append("")
    o.append("/* Runs of code points sharing a general category (enum et_ucat); unlisted = Cn. */")
    o.append(f"const et__uni_range et__uni_cat_ranges[{len(cat_runs)}] = {{")
    for i in range(0, len(cat_runs), 4):   # four runs a line keeps the file short
        o.append("   " + "".join(f" {{0x{a:05X}, 0x{b:05X}, ET_UC_{CATS[v]}}}," for a, b, v in cat_runs[i:i + 4]))
    o.append("};")
    o.append(f"const int et__uni_cat_nranges = {len(cat_runs)};")
    o.append("")
    o.append("/* Runs of code points with the White_Space property (what \\s matches). */")
    o.append(f"const et__uni_range et__uni_ws_ranges[{len(ws_runs)}] = {{")
    for i in range(0, len(ws_runs), 4):
        o.append("   " + "".join(f" {{0x{a:05X}, 0x{b:05X}, 1}}," for a, b, _ in ws_runs[i:i + 4]))
    o.append("};")
    o.append(f"const int et__uni_ws_nranges = {len(ws_runs)};")
    sys.stdout.write("\n".join(o) + "\n")


if __name__ == "__main__":
    main()
