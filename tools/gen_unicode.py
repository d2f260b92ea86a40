#!/usr/bin/python3
"""Generate engine/tok/unicode_tables.c from Debian's unicode-data package.

The tokenizers' pre-tokenizer rules (GPT-2, Llama 3, Qwen2 regexes) need \\p{L}, \\p{N}, \\s and
friends for every code point, and tokenizer.json files may ask for NFC normalization.  This
script turns UnicodeData.txt (general category, combining class, canonical decompositions),
PropList.txt (White_Space) and DerivedNormalizationProps.txt (Full_Composition_Exclusion) into
sorted tables that engine/tok/unicode.c searches.
The output depends only on those files, so running it twice gives identical bytes.  Two
outputs keep each file short (`make unicode-tables` writes both):

    /usr/bin/python3 tools/gen_unicode.py [SRC] > engine/tok/unicode_tables.c
    /usr/bin/python3 tools/gen_unicode.py --norm [SRC] > engine/tok/unicode_norm_tables.c
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


def normalization(path_data, path_derived):
    """Canonical combining classes, one-level canonical decompositions, and the canonical
    compositions NFC may make (pairs whose composite is not Full_Composition_Exclusion)."""
    ccc, decomp = {}, {}
    first = None
    with open(path_data, encoding="utf-8") as f:
        for line in f:
            fields = line.split(";")
            cp = int(fields[0], 16)
            if fields[1].endswith(", First>"):
                first = cp
                continue
            lo = first if fields[1].endswith(", Last>") else cp
            first = None
            for c in range(lo, cp + 1):
                if int(fields[3]):
                    ccc[c] = int(fields[3])
            d = fields[5].strip()
            if d and not d.startswith("<"):
                decomp[cp] = [int(x, 16) for x in d.split()]
    excluded = set()
    with open(path_derived, encoding="utf-8") as f:
        for line in f:
            line = line.split("#")[0].strip()
            if not line:
                continue
            rng, prop = [x.strip() for x in line.split(";")[:2]]
            if prop != "Full_Composition_Exclusion":
                continue
            a, _, b = rng.partition("..")
            excluded.update(range(int(a, 16), int(b or a, 16) + 1))
    compose = sorted((d[0], d[1], cp) for cp, d in decomp.items() if len(d) == 2 and cp not in excluded)
    return ccc, decomp, compose


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


def normalization_tables(o, ccc_runs, decomp, compose):
    o.append("/* Canonical combining classes (runs of equal non-zero class); unlisted = 0. */")
    o.append(f"const et__uni_range et__uni_ccc_ranges[{len(ccc_runs)}] = {{")
    for i in range(0, len(ccc_runs), 4):
        o.append("   " + "".join(f" {{0x{a:05X}, 0x{b:05X}, {v}}}," for a, b, v in ccc_runs[i:i + 4]))
    o.append("};")
    o.append(f"const int et__uni_ccc_nranges = {len(ccc_runs)};")
    o.append("")
    o.append("/* Canonical decompositions, one level (apply recursively): code point, first, second")
    o.append(" * (0 for a singleton).  Hangul syllables are decomposed by formula, not listed. */")
    o.append(f"const uint32_t et__uni_decomp[{len(decomp)}][3] = {{")
    items = sorted(decomp.items())
    for i in range(0, len(items), 4):
        o.append("   " + "".join(f" {{0x{cp:05X}, 0x{d[0]:05X}, 0x{(d[1] if len(d) > 1 else 0):05X}}},"
                                 for cp, d in items[i:i + 4]))
    o.append("};")
    o.append(f"const int et__uni_ndecomp = {len(decomp)};")
    o.append("")
    o.append("/* Canonical compositions NFC makes, sorted by (first, second): first, second, composite. */")
    o.append(f"const uint32_t et__uni_compose[{len(compose)}][3] = {{")
    for i in range(0, len(compose), 4):
        o.append("   " + "".join(f" {{0x{a:05X}, 0x{b:05X}, 0x{c:05X}}}," for a, b, c in compose[i:i + 4]))
    o.append("};")
    o.append(f"const int et__uni_ncompose = {len(compose)};")


def main():
    args = sys.argv[1:]
    norm = "--norm" in args
    args = [a for a in args if a != "--norm"]
    src = args[0] if args else "/usr/share/unicode"
    cat = categories(os.path.join(src, "UnicodeData.txt"))
    ws = white_space(os.path.join(src, "PropList.txt"))
    ver = version(os.path.join(src, "PropList.txt"))
    idx = {c: i for i, c in enumerate(CATS)}
    cat_runs = ranges(lambda cp: idx[cat[cp]] if cp in cat else 0)
    ws_runs = ranges(lambda cp: 1 if cp in ws else 0)
    ccc, decomp, compose = normalization(os.path.join(src, "UnicodeData.txt"),
                                         os.path.join(src, "DerivedNormalizationProps.txt"))
    ccc_runs = ranges(lambda cp: ccc.get(cp, 0))
    o = []
    o.append("/* GENERATED FILE - do not edit.  Made by tools/gen_unicode.py%s from Debian's unicode-data"
             % (" --norm" if norm else ""))
    o.append(f" * (Unicode {ver}: UnicodeData.txt for general categories, combining classes and canonical")
    o.append(" * decompositions, PropList.txt for White_Space, DerivedNormalizationProps.txt for NFC).")
    o.append(" * Regenerate:  make unicode-tables")
    o.append(" * The generator is deterministic: the same input files give the same bytes. */")
    o.append('#include "tok/unicode.h"')
    o.append("")
    if norm:
        normalization_tables(o, ccc_runs, decomp, compose)
        sys.stdout.write("\n".join(o) + "\n")
        return
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
