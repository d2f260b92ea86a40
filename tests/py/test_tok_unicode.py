"""engine/tok/unicode_tables.c and unicode_norm_tables.c: reproducible from Debian's
unicode-data, and the categories in agreement with an independent source, Python's own
unicodedata module.  (NFC itself is checked against Unicode's NormalizationTest.txt by
tests/test_tokenizer.c.)

Tolerance: the generator's output must equal the committed file byte for byte.  Against
unicodedata (Python's Unicode version may be older than Debian's), every code point that
Python knows as assigned must have the same general category; code points unassigned in
Python's version are not compared (they may be new in Debian's).
"""
import os
import re
import subprocess
import sys
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ROOT, case, main  # noqa: E402

TABLE = os.path.join(ROOT, "engine", "tok", "unicode_tables.c")
CATS = ["Cn", "Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc", "Pd",
        "Ps", "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf",
        "Cs", "Co"]


@case
def generator_reproduces_committed_tables():
    for flag, name in (([], "unicode_tables.c"), (["--norm"], "unicode_norm_tables.c")):
        out = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "tools", "gen_unicode.py"), *flag],
                             capture_output=True, check=True).stdout
        with open(os.path.join(ROOT, "engine", "tok", name), "rb") as f:
            assert out == f.read(), f"tools/gen_unicode.py output differs from engine/tok/{name}: make unicode-tables"


@case
def categories_agree_with_python_unicodedata():
    text = open(TABLE, encoding="utf-8").read()
    cat_part = text.split("et__uni_cat_ranges")[1].split("};")[0]
    cat = {}
    for a, b, v in re.findall(r"\{0x([0-9A-F]+), 0x([0-9A-F]+), ET_UC_(\w\w)\}", cat_part):
        for cp in range(int(a, 16), int(b, 16) + 1):
            cat[cp] = v
    compared, bad = 0, []
    for cp in range(0x110000):
        want = unicodedata.category(chr(cp))
        if want == "Cn":
            continue
        compared += 1
        if cat.get(cp, "Cn") != want:
            bad.append(f"U+{cp:04X} {cat.get(cp, 'Cn')} vs {want}")
    assert compared > 140000, f"only {compared} code points compared"
    assert not bad, f"{len(bad)} differences (unicode-data vs Python {unicodedata.unidata_version}): {bad[:5]}"
    ws_part = text.split("et__uni_ws_ranges")[1].split("};")[0]
    ws = set()
    for a, b in re.findall(r"\{0x([0-9A-F]+), 0x([0-9A-F]+), 1\}", ws_part):
        ws.update(range(int(a, 16), int(b, 16) + 1))
    py_ws = {cp for cp in range(0x110000) if chr(cp).isspace()}
    # str.isspace() also counts the separators U+001C..U+001F, which are not White_Space
    assert ws == py_ws - set(range(0x1C, 0x20)), f"White_Space differs: {sorted(ws ^ py_ws)[:10]}"


if __name__ == "__main__":
    main()
