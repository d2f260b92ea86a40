"""Golden GGUF files written by the independent PyPI `gguf` package (gguf-py), for
tests/test_gguf.c: edgetune must read every metadata value and every tensor exactly as
gguf-py wrote them.

Writes to build/golden/gguf/:
  <name>.gguf   a file written with gguf.GGUFWriter
  <name>.json   what it holds: every key with its value type and value (integers as decimal
                strings so 64-bit values survive JSON; floats as the exact double of the stored
                value), every tensor (name, GGML type id, ne in ggml order, byte range in
                <name>.bin, and for quantized/float types the byte range of its values
                dequantized by gguf.quants in <name>.f32)
  <name>.bin    the tensor bytes, concatenated
  <name>.f32    dequantized values (float32), concatenated

Files: "all_types" (every value type, nested arrays, every tensor type edgetune supports,
1-4 dims), "align64" (general.alignment = 64, odd tensor sizes), "empty" (metadata only).
The C test fails, not skips, if these are missing.
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ROOT  # noqa: E402

import gguf  # noqa: E402
from gguf import GGMLQuantizationType as Q, GGUFValueType as V  # noqa: E402

OUT = os.path.join(ROOT, "build", "golden", "gguf")
RNG = np.random.default_rng(1234)


def jval(vtype, val, sub=None):
    """A metadata value as JSON: {"type": name, "value": ...}; arrays nest."""
    if vtype == V.ARRAY:
        if sub == V.ARRAY:  # nested: each element is itself a list of inferred type
            return {"type": "arr", "elem": "arr",
                    "value": [jval(V.ARRAY, x, V.get_type(x[0])) for x in val]}
        return {"type": "arr", "elem": sub.name.lower(), "value": [jscalar(sub, x) for x in val]}
    return {"type": vtype.name.lower(), "value": jscalar(vtype, val)}


def jscalar(vtype, x):
    if vtype == V.STRING:
        return x
    if vtype == V.BOOL:
        return bool(x)
    if vtype == V.FLOAT32:
        return float(np.float32(x))
    if vtype == V.FLOAT64:
        return float(x)
    return str(int(x))


def f16_bytes(n, lo, hi):
    return RNG.uniform(lo, hi, n).astype(np.float16).view(np.uint8).reshape(n, 2)


def quant_bytes(qtype, ne):
    """Valid blocks of `qtype` for a tensor of ggml shape ne: real quantization where gguf-py
    has a quantizer, else random quants with sane f16 scales."""
    block, tsize = gguf.GGML_QUANT_SIZES[qtype]
    shape = tuple(reversed(ne))                      # numpy order: outermost first
    if qtype in (Q.Q8_0, Q.Q4_0, Q.Q4_1, Q.BF16):
        x = RNG.standard_normal(shape).astype(np.float32)
        return gguf.quants.quantize(x, qtype)
    nblk = int(np.prod(ne)) // block
    raw = RNG.integers(0, 256, (nblk, tsize), dtype=np.uint8)
    if qtype == Q.Q4_K:          # d, dmin at the start
        raw[:, 0:2] = f16_bytes(nblk, 0.001, 0.05)
        raw[:, 2:4] = f16_bytes(nblk, 0.001, 0.05)
    elif qtype == Q.Q6_K:        # d at the end
        raw[:, 208:210] = f16_bytes(nblk, 0.001, 0.05)
    elif qtype == Q.IQ4_NL:      # d at the start
        raw[:, 0:2] = f16_bytes(nblk, 0.001, 0.05)
    else:
        raise ValueError(qtype)
    rowbytes = ne[0] // block * tsize
    return raw.reshape(shape[:-1] + (rowbytes,))


def write(name, kvs, tensors, alignment=None):
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, name + ".gguf")
    w = gguf.GGUFWriter(path, arch="edgetune-test")
    desc = {"kv": [], "tensors": [], "alignment": alignment or 32}
    # general.architecture is added by the writer itself, first.
    desc["kv"].append({"key": "general.architecture", **jval(V.STRING, "edgetune-test")})
    if alignment:
        w.add_custom_alignment(alignment)
        desc["kv"].append({"key": "general.alignment", **jval(V.UINT32, alignment)})
    for key, vtype, val, sub in kvs:
        w.add_key_value(key, val, vtype, sub_type=sub)
        desc["kv"].append({"key": key, **jval(vtype, val, sub)})
    blob, f32 = bytearray(), bytearray()
    for tname, qtype, ne in tensors:
        shape = tuple(reversed(ne))
        if qtype == Q.F32:
            data = RNG.standard_normal(shape).astype(np.float32)
            w.add_tensor(tname, data)
        elif qtype == Q.F16:
            data = RNG.standard_normal(shape).astype(np.float16)
            w.add_tensor(tname, data)
        elif qtype == Q.I32:
            data = RNG.integers(-2**31, 2**31 - 1, shape, dtype=np.int32)
            w.add_tensor(tname, data)
        else:
            data = quant_bytes(qtype, ne)
            w.add_tensor(tname, data, raw_dtype=qtype)
        raw = data.tobytes()
        t = {"name": tname, "ggml_type": int(qtype), "ne": list(ne),
             "bin_offset": len(blob), "nbytes": len(raw)}
        blob += raw
        if qtype != Q.I32:
            deq = gguf.quants.dequantize(data, qtype).astype(np.float32) \
                if qtype not in (Q.F32, Q.F16) else data.astype(np.float32)
            assert deq.size == int(np.prod(ne)), (tname, deq.shape)
            t["f32_offset"] = len(f32) // 4
            f32 += deq.tobytes()
        desc["tensors"].append(t)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with open(os.path.join(OUT, name + ".bin"), "wb") as f:
        f.write(blob)
    with open(os.path.join(OUT, name + ".f32"), "wb") as f:
        f.write(f32)
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(desc, f, indent=1, ensure_ascii=False)
    print(f"wrote {path}: {len(desc['kv'])} keys, {len(tensors)} tensors")


ALL_KVS = [
    ("t.u8", V.UINT8, 255, None),
    ("t.i8", V.INT8, -128, None),
    ("t.u16", V.UINT16, 65535, None),
    ("t.i16", V.INT16, -32768, None),
    ("t.u32", V.UINT32, 4294967295, None),
    ("t.i32", V.INT32, -2147483648, None),
    ("t.f32", V.FLOAT32, 3.14159, None),
    ("t.f32_tiny", V.FLOAT32, -1.5e-42, None),   # a subnormal
    ("t.bool_true", V.BOOL, True, None),
    ("t.bool_false", V.BOOL, False, None),
    ("t.str", V.STRING, "héllo wörld — ñ 你好 🙂", None),
    ("t.u64", V.UINT64, 18446744073709551615, None),
    ("t.i64", V.INT64, -9223372036854775808, None),
    ("t.f64", V.FLOAT64, 2.718281828459045, None),
    ("a.u8", V.ARRAY, [0, 1, 254, 255], V.UINT8),
    ("a.i8", V.ARRAY, [-128, 0, 127], V.INT8),
    ("a.u16", V.ARRAY, [1, 65535], V.UINT16),
    ("a.i16", V.ARRAY, [-32768, 5, 32767], V.INT16),
    ("a.u32", V.ARRAY, [7, 4294967295], V.UINT32),
    ("a.i32", V.ARRAY, [-2147483648, -1, 2147483647], V.INT32),
    ("a.f32", V.ARRAY, [0.5, -1e30, 1e-30, 0.0], V.FLOAT32),
    ("a.bool", V.ARRAY, [True, False, True], V.BOOL),
    ("a.str", V.ARRAY, ["<s>", "", "▁the", "\n", "日本語"], V.STRING),
    ("a.u64", V.ARRAY, [0, 18446744073709551615], V.UINT64),
    ("a.i64", V.ARRAY, [-9223372036854775808, 9223372036854775807], V.INT64),
    ("a.f64", V.ARRAY, [1e300, -2.5, 5e-324], V.FLOAT64),
    ("a.nested_i32", V.ARRAY, [[1, 2, 3], [4], [-5, 6]], V.ARRAY),
    ("a.nested_str", V.ARRAY, [["a", "bc"], ["def"]], V.ARRAY),
    ("a.nested_f32", V.ARRAY, [[0.25], [1.5, -2.0]], V.ARRAY),
    ("tokenizer.ggml.tokens", V.ARRAY, [f"tok{i}" for i in range(300)], V.STRING),
    ("tokenizer.ggml.scores", V.ARRAY, [float(-i) / 7 for i in range(300)], V.FLOAT32),
]

ALL_TENSORS = [
    ("f32.1d", Q.F32, [7]),
    ("f32.2d", Q.F32, [5, 3]),
    ("f32.3d", Q.F32, [2, 3, 4]),
    ("f32.4d", Q.F32, [3, 2, 2, 2]),
    ("f16.2d", Q.F16, [6, 5]),
    ("bf16.2d", Q.BF16, [8, 3]),
    ("i32.1d", Q.I32, [9]),
    ("q8_0.2d", Q.Q8_0, [64, 3]),
    ("q4_0.2d", Q.Q4_0, [96, 2]),
    ("q4_1.3d", Q.Q4_1, [32, 2, 2]),
    ("q4_k.2d", Q.Q4_K, [512, 2]),
    ("q6_k.2d", Q.Q6_K, [256, 3]),
    ("iq4_nl.2d", Q.IQ4_NL, [64, 2]),
    ("blk.0.attn_q.weight", Q.Q8_0, [32, 32]),
]

if __name__ == "__main__":
    write("all_types", ALL_KVS, ALL_TENSORS)
    write("align64", [("general.name", V.STRING, "aligned", None)],
          [("a", Q.F32, [3]), ("b", Q.F16, [5, 1]), ("c", Q.Q4_0, [32, 3]), ("d", Q.F32, [1])],
          alignment=64)
    write("empty", [("general.name", V.STRING, "no tensors", None)], [])
    print("PASS gen_gguf")
