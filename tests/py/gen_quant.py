"""Golden files for tests/test_quant.c, from independent implementations.

GGUF formats come from the PyPI gguf package (gguf.quants, numpy): its quantizers for F16
(numpy astype), BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 and its dequantizers for every type.  gguf has no
quantizer for Q4_K, Q6_K, IQ4_NL and Q8_K: those bytes come from kquants_np.py, a numpy
port of ggml's algorithms (checked here to decode, with gguf, close to the input).  NF4
comes from a numpy re-implementation of bitsandbytes' algorithm written here from its
method (functional.quantize_4bit with compress_statistics=True and the CUDA kernels'
decision rules), formulated differently from the C code: the 4-bit code is a searchsorted
over the midpoints.

Everything is seeded, so the files are reproducible.  Layout: build/golden/quant/<case>.in and
<case>.out, raw little-endian bytes (float32 inputs / uint8 or uint16 or float32 outputs);
tests/test_quant.c knows each case's types.  A case is also checked here for shape sanity.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ROOT, case, main  # noqa: E402
import kquants_np  # noqa: E402

import gguf  # noqa: E402
from gguf import GGMLQuantizationType as T  # noqa: E402
from gguf import quants  # noqa: E402

OUT = os.path.join(ROOT, "build", "golden", "quant")
F32 = np.float32


def write(name, inp, out):
    os.makedirs(OUT, exist_ok=True)
    np.ascontiguousarray(inp).tofile(os.path.join(OUT, name + ".in"))
    np.ascontiguousarray(out).tofile(os.path.join(OUT, name + ".out"))


def weight_like(rng, nblocks, bs):
    """Rows the quantizers meet: gaussian and uniform blocks at scales 1e-4 .. 3e2, a few
    outliers, integer-valued blocks (exact .5 ties after scaling), constant and zero blocks.
    Magnitudes stay where every block scale fits binary16 (the gguf-exact range)."""
    x = rng.standard_normal((nblocks, bs)).astype(F32)
    kind = rng.integers(0, 8, nblocks)
    x[kind == 1] = rng.uniform(-1, 1, (int((kind == 1).sum()), bs)).astype(F32)
    x[kind == 2] = rng.integers(-8, 9, (int((kind == 2).sum()), bs)).astype(F32)
    x[kind == 3] = x[kind == 3][:, :1]                   # constant blocks
    x[kind == 4, : bs // 2] = 0                          # half-zero blocks
    out = rng.random((nblocks, bs)) < 0.01
    x[out] *= 20                                         # outliers
    x *= (10.0 ** rng.uniform(-4, 2.5, (nblocks, 1))).astype(F32)
    x[0] = 0                                             # an all-zero block
    return x.reshape(-1)


# ---- F16 / BF16 ---------------------------------------------------------------------------

def special_f32(rng):
    bits = [0x00000000, 0x80000000, 0x7f800000, 0xff800000,           # ±0, ±inf
            0x7fc00000, 0xffc00000, 0x7f800001, 0x7fa00000, 0xffffffff,  # NaNs (quiet, signalling)
            0x7f7fffff, 0xff7fffff,                                     # ±FLT_MAX
            0x00000001, 0x807fffff, 0x00400000,                         # f32 subnormals
            0x477fe000, 0x477fefff, 0x477ff000, 0x477fffff,            # near f16 max / overflow
            0x33000000, 0x33000001, 0x337fffff, 0x33800000,            # f16 subnormal boundary
            0x38800000, 0x387fe000, 0x387ff000,                        # f16 normal/subnormal edge
            0x3f801000, 0x3f803000, 0x3f800fff, 0x3f808000, 0x3f818000]  # rounding ties
    a = np.array(bits, dtype=np.uint32)
    r = rng.integers(0, 2**32, 20000, dtype=np.uint64).astype(np.uint32)   # every exponent
    # bit patterns 0x30000000 .. 0x4fffe000 (f16 subnormals through overflow), half of them an
    # exact tie at f16 precision (bit 12 set, lower bits clear)
    hi = rng.integers(0, 2**16, 4000).astype(np.uint32) << 13
    tie = rng.integers(0, 2, 4000).astype(np.uint32) * np.uint32(0x1000)
    near = np.uint32(0x30000000) | hi | tie
    return np.concatenate([a, r, near, near | np.uint32(0x80000000)]).view(F32)


@case
def gen_f16_bf16():
    rng = np.random.default_rng(1)
    x = special_f32(rng)
    with np.errstate(all="ignore"):
        h = quants.quantize(x, T.F16)
    write("f16_from_f32", x, h.view(np.uint16))
    allh = np.arange(65536, dtype=np.uint32).astype(np.uint16)
    write("f16_to_f32", allh, quants.dequantize(allh.view(np.uint8), T.F16))
    b = quants.quantize(x, T.BF16)
    write("bf16_from_f32", x, b.view(np.uint16))
    write("bf16_to_f32", allh, quants.dequantize(allh.view(np.uint8), T.BF16))
    assert h.dtype == np.float16 and b.size == 2 * x.size


# ---- Q8_0 / Q4_0 / Q4_1 / Q5_0 / Q5_1: quantize byte-exact ------------------------------------------------

def tie_blocks(rng, name, nblocks):
    """Blocks whose values land within a few ulps of a rounding boundary after scaling
    (x * id + 8.5 near an integer for Q4_0, x * id near k + 0.5 for Q8_0, ...), where the
    order and precision of the arithmetic decide the quant: the FMA/float64 subtleties."""
    out = []
    for _ in range(nblocks):
        m = F32(10.0 ** rng.uniform(-3, 3))
        if name in ("q4_0", "q5_0"):
            h = 8 if name == "q4_0" else 16
            first, id_ = m, F32(1) / (m / F32(-h))
            t = rng.integers(-h, h, 31) + 0.5
            base = t / np.float64(id_)
        elif name == "q8_0":
            first, id_ = m, F32(1) / (m / F32(127))
            t = rng.integers(-127, 127, 31) + 0.5
            base = t / np.float64(id_)
        else:                                   # q4_1 / q5_1: min at -m, max at +m
            lv = 15 if name == "q4_1" else 31
            first, d = -m, (m - (-m)) / F32(lv)
            id_ = F32(1) / F32(d)
            t = rng.integers(0, lv, 30) + 0.5
            base = np.concatenate([[m], -np.float64(m) + t / np.float64(id_)])
        x = base.astype(F32)
        ulps = rng.integers(-3, 4, x.size)
        for u in range(3):                      # nudge by up to 3 ulps either way
            x = np.where(ulps > u, np.nextafter(x, F32(np.inf)), x)
            x = np.where(ulps < -u, np.nextafter(x, F32(-np.inf)), x)
        if name in ("q4_1", "q5_1"):
            x[0] = m                            # keep the max exact
        out.append(np.concatenate([[first], x]).astype(F32))
    return np.concatenate(out)


@case
def gen_legacy_quantize():
    rng = np.random.default_rng(2)
    for name, t in (("q8_0", T.Q8_0), ("q4_0", T.Q4_0), ("q4_1", T.Q4_1), ("q5_0", T.Q5_0),
                    ("q5_1", T.Q5_1)):
        x = np.concatenate([weight_like(rng, 2048, 32), tie_blocks(rng, name, 2048)])
        q = quants.quantize(x.reshape(64, -1), t).reshape(-1)
        write(name + "_quantize", x, q)
        write(name + "_dequantize", q, quants.dequantize(q.reshape(64, -1), t).reshape(-1))
        assert q.size == x.size // 32 * gguf.GGML_QUANT_SIZES[t][1]


# ---- every GGUF block type: dequantize bit-exact from random bytes --------------------------

def finite_half(rng, n):
    h = rng.integers(0, 65536, n).astype(np.uint16)
    bad = (h & 0x7C00) == 0x7C00                            # inf / NaN
    h[bad] &= np.uint16(0xBFFF)
    return h


@case
def gen_dequantize_random_bytes():
    rng = np.random.default_rng(3)
    for name, t, d_offsets in (("q8_0", T.Q8_0, [0]), ("q4_0", T.Q4_0, [0]),
                               ("q4_1", T.Q4_1, [0, 2]), ("iq4_nl", T.IQ4_NL, [0]),
                               ("q4_k", T.Q4_K, [0, 2]), ("q6_k", T.Q6_K, [208]),
                               ("q5_0", T.Q5_0, [0]), ("q5_1", T.Q5_1, [0, 2])):
        bs, ts = gguf.GGML_QUANT_SIZES[t]
        nb = 2048 if bs == 32 else 512
        raw = rng.integers(0, 256, (nb, ts), dtype=np.uint8)
        for off in d_offsets:
            raw[:, off:off + 2] = finite_half(rng, nb).view(np.uint8).reshape(nb, 2)
        y = quants.dequantize(raw.reshape(-1), t)
        write(name + "_dequantize_raw", raw, y.astype(F32))
        assert np.isfinite(y).all()


# ---- K-quant / IQ4_NL / Q8_K quantizers: a numpy port of ggml's algorithms (kquants_np.py) ---

@case
def gen_kquant_quantize():
    rng = np.random.default_rng(4)
    x = weight_like(rng, 512, 256)
    # gaussian rows at sigma 5e4: past the C code's rescaling threshold (|x| > 65536), still
    # inside the range where ggml's own float sums stay finite, so the bytes must not change
    big = (rng.standard_normal(64 * 256) * 5e4).astype(F32)
    for name, fn in (("q4_k", kquants_np.quantize_q4_k), ("q6_k", kquants_np.quantize_q6_k),
                     ("iq4_nl", kquants_np.quantize_iq4_nl), ("q8_k", kquants_np.quantize_q8_k)):
        write(name + "_quantize_large", big, fn(big))
    for name, fn, t in (("q4_k", kquants_np.quantize_q4_k, T.Q4_K),
                        ("q6_k", kquants_np.quantize_q6_k, T.Q6_K),
                        ("iq4_nl", kquants_np.quantize_iq4_nl, T.IQ4_NL),
                        ("q8_k", kquants_np.quantize_q8_k, T.Q8_K)):
        q = fn(x)
        write(name + "_quantize", x, q)
        assert q.size == x.size // gguf.GGML_QUANT_SIZES[t][0] * gguf.GGML_QUANT_SIZES[t][1]
        if t != T.Q8_K:        # the port's bytes decode (with gguf) to something close to x
            y = quants.dequantize(q, t)
            rel = np.sqrt(np.mean((y - x) ** 2) / np.mean(x ** 2))
            assert rel < 0.2, (name, rel)     # 4-bit on these mixed-scale rows: ~0.13


# ---- NF4 ----------------------------------------------------------------------------------

NF4_CODE = np.array([-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
                     -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
                     0.07958029955625534, 0.16093020141124725, 0.24611230194568634,
                     0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
                     0.7229568362236023, 1.0], dtype=F32)
# bitsandbytes' decision-tree thresholds (float32 literals in its kernels), ascending
NF4_MID = np.array([-0.8480964004993439, -0.6106329262256622, -0.4599952697753906,
                    -0.33967943489551544, -0.23460740596055984, -0.13791173323988914,
                    -0.045525018125772476, 0.03979014977812767, 0.1202552504837513,
                    0.2035212516784668, 0.2920137718319893, 0.3893125355243683,
                    0.5016634166240692, 0.6427869200706482, 0.8614784181118011], dtype=F32)


def dynamic_map():
    """bitsandbytes create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8), with
    torch as bitsandbytes computes it (float32 linspace and means)."""
    import torch
    data = []
    for i in range(7):
        b = torch.linspace(0.1, 1, 2 ** i + 1)
        means = (b[:-1] + b[1:]) / 2.0
        data += ((10 ** (-6 + i)) * means).tolist()
        data += (-(10 ** (-6 + i)) * means).tolist()
    data += [0.0, 1.0]
    data.sort()
    return torch.tensor(data).numpy().astype(F32)


def dyn_quantize(code, x):
    """bitsandbytes dQuantize<0> (binary search from the middle + midpoint rule), vectorized."""
    pivot = np.full(x.shape, 127)
    lo, up = np.zeros(x.shape, int), np.full(x.shape, 255)
    lower, upper = np.full(x.shape, -1.0, F32), np.full(x.shape, 1.0, F32)
    val = code[pivot]
    for i in (64, 32, 16, 8, 4, 2, 1):
        gt = x > val
        lo, lower = np.where(gt, pivot, lo), np.where(gt, val, lower)
        up, upper = np.where(gt, up, pivot), np.where(gt, upper, val)
        pivot = np.where(gt, pivot + i, pivot - i)
        val = code[pivot]
    upper = np.where(up == 255, code[255], upper)
    lower = np.where(lo == 0, code[0], lower)
    mid_up = ((upper + val) * F32(0.5)).astype(F32)
    mid_lo = ((lower + val) * F32(0.5)).astype(F32)
    return np.where(x > val, np.where(x > mid_up, up, pivot),
                    np.where(x < mid_lo, lo, pivot)).astype(np.uint8)


def recip(s):
    with np.errstate(divide="ignore"):
        return np.where(s > 0, F32(1) / s, F32(0)).astype(F32)


def nf4_quantize(x, code):
    blocks = x.reshape(-1, 64)
    nb = blocks.shape[0]
    absmax = np.abs(blocks).max(axis=1).astype(F32)
    xn = (blocks * recip(absmax)[:, None]).astype(F32)
    c = np.searchsorted(NF4_MID, xn, side="left").astype(np.uint8)   # count of midpoints < x
    qs = (c[:, 0::2] << 4) | c[:, 1::2]
    offset = F32(np.mean(absmax.astype(np.float64)))
    a = (absmax - offset).astype(F32)
    ng = -(-nb // 256)
    ap = np.zeros(ng * 256, F32)
    ap[:nb] = a
    scale2 = np.abs(ap.reshape(ng, 256)).max(axis=1).astype(F32)
    aq = dyn_quantize(code, (ap.reshape(ng, 256) * recip(scale2)[:, None]).astype(F32))
    aq = aq.reshape(-1)[:nb]
    out = np.concatenate([np.concatenate([aq[:, None], qs], axis=1).reshape(-1),
                          scale2.view(np.uint8), np.array([offset], F32).view(np.uint8)])
    # dequantize, in bitsandbytes' float32 order
    am = (code[aq] * np.repeat(scale2, 256)[:nb]).astype(F32) + offset
    y = (NF4_CODE[c] * am[:, None]).astype(F32).reshape(-1)
    return out, y


@case
def gen_nf4():
    rng = np.random.default_rng(5)
    code = dynamic_map()
    write("nf4_dynamic_map", np.zeros(0, F32), code)
    write("nf4_codebook", np.zeros(0, F32), NF4_CODE)
    # 300 x 256 weights: 1200 blocks = 4 full groups of 256 and a partial one
    x = (rng.standard_normal((300, 256)) * 0.02).astype(F32)
    x[7] *= 50                                       # a row of large blocks
    x[11, :64] = 0                                   # an all-zero block
    x[13, 64:128] = 0.5                              # a constant block
    q, y = nf4_quantize(x.reshape(-1), code)
    write("nf4_quantize", x.reshape(-1), q)
    write("nf4_dequantize", q, y)
    # sanity of the oracle itself: the argmin-nearest code agrees except at exact midpoints
    xn = x.reshape(-1, 64) / np.abs(x.reshape(-1, 64)).max(axis=1, keepdims=True).clip(1e-30)
    near = np.abs(xn[..., None] - NF4_CODE).argmin(axis=-1)
    tree = np.searchsorted(NF4_MID, xn.astype(F32), side="left")
    assert (near != tree).mean() < 1e-4, (near != tree).mean()
    assert len(code) == 256 and code[127] == 0 and code[255] == 1


if __name__ == "__main__":
    main()
