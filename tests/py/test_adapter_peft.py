"""PEFT and llama.cpp adapter files from edgetune, checked with independent readers.

A tiny llama-architecture base (GQA: 4 query heads, 2 kv heads of 16) is written with the PyPI
`gguf` package, and adapters with random weights in edgetune's format (also with `gguf`).
Then, through the edgetune program:
  - `adapter export --format peft` is read with `safetensors` + json; LoRA is applied in plain
    torch to the base in Hugging Face layout (GGUF q/k rows un-permuted as
    convert_hf_to_gguf.py's permute inverts), W + lora_alpha/r * B @ A, and must equal
    `edgetune merge` (re-permuted) within 1e-6 absolute: both are one f32 rank-4 product and an
    f32 add of values below 2, so they differ by a few f32 ulps at most;
  - a PEFT directory written here by torch/safetensors (r=2, alpha=5, bf16 weights, only q and
    down) is imported by `edgetune merge` and `adapter import` with the same 1e-6 bound;
  - IA3 exported to PEFT has ia3_l of shape [out, 1] for k/v and [1, ffn] for down_proj, and
    scaling the base (k rows, v rows, down_proj's input columns) equals `edgetune merge`;
  - `adapter export --format gguf` has the keys and ggml shapes llama.cpp's loader checks.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import gguf
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ET, case, main  # noqa: E402

DIM, NH, NKV, HD, FFN, NL, VOCAB = 64, 4, 2, 16, 128, 2, 40
MODS = {"attn_q": ("self_attn", "q_proj", NH * HD, DIM), "attn_k": ("self_attn", "k_proj", NKV * HD, DIM),
        "attn_v": ("self_attn", "v_proj", NKV * HD, DIM), "attn_output": ("self_attn", "o_proj", DIM, NH * HD),
        "ffn_gate": ("mlp", "gate_proj", FFN, DIM), "ffn_up": ("mlp", "up_proj", FFN, DIM),
        "ffn_down": ("mlp", "down_proj", DIM, FFN)}
rng = np.random.default_rng(7)
TMP = tempfile.mkdtemp(prefix="et_peft_")
BASE = os.path.join(TMP, "base.gguf")


def et(*args):
    r = subprocess.run([ET, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"edgetune {' '.join(args)} failed: {r.stderr.strip()}")
    return r.stdout


def hf_from_gguf(name, w):
    """GGUF rows of q/k (rope pairs interleaved) -> Hugging Face rotate-half order."""
    n = NH if "attn_q" in name else NKV if "attn_k" in name else 0
    if not n:
        return w
    return w.reshape(n, w.shape[0] // n // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def gguf_from_hf(name, w):
    """convert_hf_to_gguf.py's LlamaModel.permute."""
    n = NH if "attn_q" in name else NKV if "attn_k" in name else 0
    if not n:
        return w
    return w.reshape(n, 2, w.shape[0] // n // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write_base():
    w = gguf.GGUFWriter(BASE, "llama")
    w.add_context_length(64)
    w.add_embedding_length(DIM)
    w.add_block_count(NL)
    w.add_feed_forward_length(FFN)
    w.add_head_count(NH)
    w.add_head_count_kv(NKV)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_tensor("token_embd.weight", rng.standard_normal((VOCAB, DIM)).astype(np.float32))
    w.add_tensor("output_norm.weight", np.ones(DIM, np.float32))
    for l in range(NL):
        w.add_tensor(f"blk.{l}.attn_norm.weight", np.ones(DIM, np.float32))
        w.add_tensor(f"blk.{l}.ffn_norm.weight", np.ones(DIM, np.float32))
        for m, (_, _, out, inp) in MODS.items():
            w.add_tensor(f"blk.{l}.{m}.weight", (rng.standard_normal((out, inp)) * 0.3).astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_native(path, kind, tensors, rank=0, alpha=0.0):
    w = gguf.GGUFWriter(path, "llama")
    w.add_string("general.type", "adapter")
    w.add_string("edgetune.adapter.kind", kind)
    w.add_uint32("edgetune.adapter.rank", rank)
    w.add_float32("edgetune.adapter.alpha", alpha)
    for name, t in tensors.items():
        w.add_tensor(name, t)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def gguf_tensors(path):
    return {t.name: np.array(t.data) for t in gguf.GGUFReader(path).tensors}


def check_merged(merged_path, want_hf, what):
    got = gguf_tensors(merged_path)
    for name, w in want_hf.items():
        want = gguf_from_hf(name, w.numpy())
        err = float(np.abs(got[name] - want).max())
        assert err <= 1e-6, f"{what}: {name} differs from the torch merge by {err:.3g} (1e-6)"


write_base()
BASE_W = gguf_tensors(BASE)


def base_hf():
    return {f"blk.{l}.{m}.weight": torch.from_numpy(hf_from_gguf(m, BASE_W[f"blk.{l}.{m}.weight"]).copy())
            for l in range(NL) for m in MODS}


@case
def test_lora_export_peft_matches_torch_merge():
    r, alpha = 4, 8.0
    ts = {}
    for l in range(NL):
        for m, (_, _, out, inp) in MODS.items():
            ts[f"blk.{l}.{m}.weight.lora_a"] = rng.uniform(-0.5, 0.5, (r, inp)).astype(np.float32)   # ne [in, r]
            ts[f"blk.{l}.{m}.weight.lora_b"] = rng.uniform(-0.5, 0.5, (out, r)).astype(np.float32)   # ne [r, out]
    native = os.path.join(TMP, "lora.gguf")
    write_native(native, "lora", ts, r, alpha)
    peft = os.path.join(TMP, "peft")
    et("adapter", "export", "--model", BASE, "--adapter", native, "--format", "peft", "--out", peft)
    et("merge", "--model", BASE, "--adapter", native, "--out", os.path.join(TMP, "merged.gguf"))
    cfg = json.load(open(os.path.join(peft, "adapter_config.json")))
    assert cfg["peft_type"] == "LORA" and cfg["task_type"] == "CAUSAL_LM" and cfg["bias"] == "none", cfg
    assert cfg["r"] == r and cfg["lora_alpha"] == alpha, cfg
    assert sorted(cfg["target_modules"]) == sorted(v[1] for v in MODS.values()), cfg["target_modules"]
    sd = load_file(os.path.join(peft, "adapter_model.safetensors"))
    assert len(sd) == 2 * NL * len(MODS), f"{len(sd)} tensors"
    W = base_hf()
    for l in range(NL):
        for m, (blk, proj, out, inp) in MODS.items():
            A = sd[f"base_model.model.model.layers.{l}.{blk}.{proj}.lora_A.weight"]
            B = sd[f"base_model.model.model.layers.{l}.{blk}.{proj}.lora_B.weight"]
            assert tuple(A.shape) == (r, inp) and tuple(B.shape) == (out, r), (m, A.shape, B.shape)
            W[f"blk.{l}.{m}.weight"] += (cfg["lora_alpha"] / cfg["r"]) * (B @ A)
    check_merged(os.path.join(TMP, "merged.gguf"), W, "peft export")
    # the llama.cpp export: keys and ggml shapes llama.cpp's adapter loader checks
    lc = os.path.join(TMP, "lcpp.gguf")
    et("adapter", "export", "--model", BASE, "--adapter", native, "--format", "gguf", "--out", lc)
    rd = gguf.GGUFReader(lc)
    f = {k: v for k, v in rd.fields.items()}

    def s(k):
        return bytes(f[k].parts[f[k].data[0]]).decode()
    assert s("general.type") == "adapter" and s("adapter.type") == "lora" and s("general.architecture") == "llama"
    assert float(f["adapter.lora.alpha"].parts[f["adapter.lora.alpha"].data[0]][0]) == alpha
    for t in rd.tensors:
        base = BASE_W[t.name[:-7]]   # ne of the base weight: [in, out]
        ne = list(t.shape)
        want = [base.shape[1], r] if t.name.endswith("lora_a") else [r, base.shape[0]]
        assert ne == want, f"{t.name}: ne {ne}, llama.cpp wants {want}"
        np.testing.assert_array_equal(np.array(t.data), ts[t.name])


@case
def test_peft_import_from_torch():
    r, alpha = 2, 5.0
    sd, W = {}, base_hf()
    for l in range(NL):
        for m in ("attn_q", "ffn_down"):
            blk, proj, out, inp = MODS[m]
            A = torch.empty(r, inp).uniform_(-0.5, 0.5).to(torch.bfloat16)
            B = torch.empty(out, r).uniform_(-0.5, 0.5).to(torch.bfloat16)
            sd[f"base_model.model.model.layers.{l}.{blk}.{proj}.lora_A.weight"] = A
            sd[f"base_model.model.model.layers.{l}.{blk}.{proj}.lora_B.weight"] = B
            W[f"blk.{l}.{m}.weight"] += (alpha / r) * (B.float() @ A.float())
    d = os.path.join(TMP, "peft_in")
    os.makedirs(d, exist_ok=True)
    save_file(sd, os.path.join(d, "adapter_model.safetensors"), metadata={"format": "pt"})
    json.dump({"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": r, "lora_alpha": alpha, "bias": "none",
               "target_modules": ["q_proj", "down_proj"], "lora_dropout": 0.05, "fan_in_fan_out": False,
               "use_rslora": False, "rank_pattern": {}, "alpha_pattern": {}}, open(os.path.join(d, "adapter_config.json"), "w"))
    et("merge", "--model", BASE, "--adapter", d, "--out", os.path.join(TMP, "merged_in.gguf"))
    check_merged(os.path.join(TMP, "merged_in.gguf"), W, "peft import")
    nat = os.path.join(TMP, "imported.gguf")
    et("adapter", "import", "--model", BASE, "--adapter", d, "--out", nat)
    et("merge", "--model", BASE, "--adapter", nat, "--out", os.path.join(TMP, "merged_in2.gguf"))
    check_merged(os.path.join(TMP, "merged_in2.gguf"), W, "peft import -> edgetune format")


@case
def test_ia3_export_peft():
    ts = {}
    for l in range(NL):
        ts[f"blk.{l}.attn_k.ia3"] = rng.uniform(0.5, 1.5, NKV * HD).astype(np.float32)
        ts[f"blk.{l}.attn_v.ia3"] = rng.uniform(0.5, 1.5, NKV * HD).astype(np.float32)
        ts[f"blk.{l}.ffn_up.ia3"] = rng.uniform(0.5, 1.5, FFN).astype(np.float32)
    native = os.path.join(TMP, "ia3.gguf")
    write_native(native, "ia3", ts)
    peft = os.path.join(TMP, "peft_ia3")
    et("adapter", "export", "--model", BASE, "--adapter", native, "--format", "peft", "--out", peft)
    et("merge", "--model", BASE, "--adapter", native, "--out", os.path.join(TMP, "merged_ia3.gguf"))
    cfg = json.load(open(os.path.join(peft, "adapter_config.json")))
    assert cfg["peft_type"] == "IA3" and cfg["feedforward_modules"] == ["down_proj"], cfg
    sd = load_file(os.path.join(peft, "adapter_model.safetensors"))
    W = base_hf()
    for l in range(NL):
        p = f"base_model.model.model.layers.{l}."
        k, v, d = sd[p + "self_attn.k_proj.ia3_l"], sd[p + "self_attn.v_proj.ia3_l"], sd[p + "mlp.down_proj.ia3_l"]
        assert tuple(k.shape) == (NKV * HD, 1) and tuple(v.shape) == (NKV * HD, 1) and tuple(d.shape) == (1, FFN)
        W[f"blk.{l}.attn_k.weight"] *= k          # (W x) * l: rows of W
        W[f"blk.{l}.attn_v.weight"] *= v
        W[f"blk.{l}.ffn_down.weight"] *= d        # W (x * l): columns of down ...
    # ... which edgetune folds into the rows of up instead: compare the products of the two forms
    got = gguf_tensors(os.path.join(TMP, "merged_ia3.gguf"))
    for l in range(NL):
        for m in ("attn_k", "attn_v"):
            want = gguf_from_hf(m, W[f"blk.{l}.{m}.weight"].numpy())
            err = float(np.abs(got[f"blk.{l}.{m}.weight"] - want).max())
            assert err <= 1e-6, f"ia3 {m}: {err:.3g}"
        down_up_torch = W[f"blk.{l}.ffn_down.weight"].numpy() @ BASE_W[f"blk.{l}.ffn_up.weight"]
        down_up_et = got[f"blk.{l}.ffn_down.weight"] @ got[f"blk.{l}.ffn_up.weight"]
        err = float(np.abs(down_up_torch - down_up_et).max() / np.abs(down_up_torch).max())
        assert err <= 1e-5, f"ia3 ffn: down·diag(l)·up differs by {err:.3g} relative (1e-5: f32 sums of 128)"


@case
def test_errors_name_the_value():
    r = subprocess.run([ET, "adapter", "export", "--model", BASE, "--adapter", os.path.join(TMP, "lora.gguf"),
                        "--format", "onnx", "--out", os.path.join(TMP, "x")], capture_output=True, text=True)
    assert r.returncode == 2 and "'onnx'" in r.stderr, r.stderr
    r = subprocess.run([ET, "merge", "--model", BASE, "--adapter", BASE, "--out", os.path.join(TMP, "x.gguf")],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "general.type" in r.stderr, r.stderr


main()
