"""Files edgetune writes load in the independent gguf-py reader (PyPI `gguf`) identically.

Each golden file from tests/py/gen_gguf.py (written by gguf-py) is read by edgetune and written
back by edgetune's writer (`edgetune gguf copy`); gguf-py's GGUFReader must then see the same
metadata — every field's serialized parts byte for byte, so value types, nesting and order
match — and the same tensors (name, type, shape, bytes).  With --align 256 the data must be
identical and every tensor 256-aligned.  Exact comparison: a copy changes no bits.
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BUILD, ROOT, case, main  # noqa: E402

import gguf  # noqa: E402

GOLD = os.path.join(ROOT, "build", "golden", "gguf")
ET = os.environ.get("ET") or os.path.join(BUILD, "edgetune")
if not os.path.isabs(ET):
    ET = os.path.join(ROOT, ET)
NAMES = ["all_types", "align64", "empty"]
TMP = tempfile.mkdtemp(prefix="et_gguf_")


def et(*args, ok=True):
    r = subprocess.run([ET, "gguf", *args], capture_output=True, text=True, timeout=60)
    if ok and r.returncode != 0:
        raise AssertionError(f"edgetune gguf {' '.join(args)} failed ({r.returncode}): {r.stderr}")
    return r


def fields(reader):
    return [(f.name, [int(t) for t in f.types], [p.tobytes() for p in f.parts])
            for f in reader.fields.values()]


def tensors(reader):
    return [(t.name, int(t.tensor_type), [int(x) for x in t.shape], int(t.n_bytes),
             t.data.tobytes()) for t in reader.tensors]


def golden(name):
    path = os.path.join(GOLD, name + ".gguf")
    assert os.path.exists(path), f"{path} missing: run tests/py/gen_gguf.py first"
    return path


@case
def test_copy_loads_identically_in_gguf_py():
    for name in NAMES:
        src, dst = golden(name), os.path.join(TMP, name + ".gguf")
        et("copy", src, dst)
        a, b = gguf.GGUFReader(src), gguf.GGUFReader(dst)
        fa, fb = fields(a), fields(b)
        assert [f[0] for f in fa] == [f[0] for f in fb], f"{name}: keys differ"
        for x, y in zip(fa, fb):
            assert x == y, f"{name}: field {x[0]} differs: types {x[1]} vs {y[1]}"
        ta, tb = tensors(a), tensors(b)
        assert len(ta) == len(tb), f"{name}: {len(tb)} tensors, want {len(ta)}"
        for x, y in zip(ta, tb):
            assert x == y, f"{name}: tensor {x[0]} differs (type {x[1]} vs {y[1]})"
        assert b.alignment == a.alignment, f"{name}: alignment {b.alignment} != {a.alignment}"
        # Same layout rules as gguf-py: the whole file is byte-identical.
        with open(src, "rb") as f1, open(dst, "rb") as f2:
            assert f1.read() == f2.read(), f"{name}: copy is not byte-identical to gguf-py's file"


@case
def test_copy_with_new_alignment():
    src, dst = golden("all_types"), os.path.join(TMP, "a256.gguf")
    et("copy", src, dst, "--align", "256")
    a, b = gguf.GGUFReader(src), gguf.GGUFReader(dst)
    assert b.alignment == 256, b.alignment
    assert b.fields["general.alignment"].contents() == 256
    skip = ("general.alignment", "GGUF.kv_count")   # the one added key, and the count
    assert [f for f in fields(a) if f[0] not in skip] == [f for f in fields(b) if f[0] not in skip]
    assert tensors(a) == tensors(b)
    for t in b.tensors:
        assert t.data_offset % 256 == 0, (t.name, t.data_offset)


@case
def test_dump_lists_every_key_and_tensor():
    r = et("dump", golden("all_types"))
    reader = gguf.GGUFReader(golden("all_types"))
    for key in reader.fields:
        if key.startswith("GGUF."):   # gguf-py's pseudo-fields for the header
            continue
        assert f"kv {key} " in r.stdout, f"key {key} missing from dump"
    for t in reader.tensors:
        assert f"tensor {t.name} " in r.stdout, f"tensor {t.name} missing from dump"


@case
def test_bench_reads_every_tensor_byte():
    import json
    line = et("bench", golden("all_types"), "--runs", "2").stdout.splitlines()[0]
    r = json.loads(line)
    with open(os.path.join(GOLD, "all_types.json")) as f:
        want = sum(t["nbytes"] for t in json.load(f)["tensors"])
    assert r["tensor_bytes"] == want and r["runs"] == 2, r
    assert r["open_ms_median"] > 0 and r["steady_GBps_median"] > 0, r


@case
def test_bad_files_fail_cleanly():
    with open(golden("all_types"), "rb") as f:
        data = f.read()
    cut = os.path.join(TMP, "cut.gguf")
    with open(cut, "wb") as f:
        f.write(data[: len(data) // 2])   # cut inside the metadata
    r = et("dump", cut, ok=False)
    assert r.returncode == 1 and cut in r.stderr and "truncated" in r.stderr, r.stderr
    r = et("copy", cut, os.path.join(TMP, "never.gguf"), ok=False)
    assert r.returncode == 1 and not os.path.exists(os.path.join(TMP, "never.gguf"))
    r = et("copy", golden("empty"), os.path.join(TMP, "x.gguf"), "--align", "48", ok=False)
    assert r.returncode == 2 and "power of two" in r.stderr, r.stderr


main()
