"""Files edgetune writes load in the reference `safetensors` package identically.

Each golden file from tests/py/gen_safetensors.py (written by safetensors.torch) is read and
rewritten by edgetune (`edgetune safetensors copy`); safetensors must load the copy with the
same metadata and the same tensors (dtype, shape, values bit for bit — compared as raw
bytes, so NaN payloads or -0 would count too).  Exact: a copy changes no bits.
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BUILD, ROOT, case, main  # noqa: E402

import torch  # noqa: E402
from safetensors import safe_open  # noqa: E402

GOLD = os.path.join(ROOT, "build", "golden", "safetensors")
ET = os.environ.get("ET") or os.path.join(BUILD, "edgetune")
if not os.path.isabs(ET):
    ET = os.path.join(ROOT, ET)
TMP = tempfile.mkdtemp(prefix="et_st_")


def et(*args, ok=True):
    r = subprocess.run([ET, "safetensors", *args], capture_output=True, text=True, timeout=60)
    if ok and r.returncode != 0:
        raise AssertionError(f"edgetune safetensors {' '.join(args)} failed: {r.stderr}")
    return r


def load(path):
    with safe_open(path, framework="pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    return meta, tensors


def raw(t):
    t = t.contiguous()
    return (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().tobytes()


@case
def test_copy_loads_identically_in_safetensors():
    for name in ("ref", "peft"):
        src = os.path.join(GOLD, name + ".safetensors")
        assert os.path.exists(src), f"{src} missing: run tests/py/gen_safetensors.py first"
        dst = os.path.join(TMP, name + ".safetensors")
        et("copy", src, dst)
        ma, ta = load(src)
        mb, tb = load(dst)
        assert ma == mb, f"{name}: metadata {mb} != {ma}"
        assert sorted(ta) == sorted(tb), f"{name}: tensor names differ"
        for k in ta:
            a, b = ta[k], tb[k]
            assert a.dtype == b.dtype and a.shape == b.shape, f"{k}: {b.dtype}{list(b.shape)}"
            assert raw(a) == raw(b), f"{k}: bytes differ"
        with open(dst, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
        assert (8 + n) % 8 == 0, f"{name}: data section at {8 + n}, not 8-aligned"


@case
def test_dump_and_bad_file():
    src = os.path.join(GOLD, "ref.safetensors")
    out = et("dump", src).stdout
    with open(os.path.join(GOLD, "ref.json")) as f:
        desc = json.load(f)
    for t in desc["tensors"]:
        assert f"tensor {t['name']} " in out, f"{t['name']} missing from dump"
    with open(src, "rb") as f:
        data = f.read()
    cut = os.path.join(TMP, "cut.safetensors")
    with open(cut, "wb") as f:
        f.write(data[:100])
    r = et("dump", cut, ok=False)
    assert r.returncode == 1 and cut in r.stderr and "header length" in r.stderr, r.stderr


main()
