"""Golden files for tests/test_llama_parity.c: random tiny Llama-family models with adapters,
and what an independent PyTorch reference (tests/py/torch_llama.py, float64) computes on them.

For each case <name>, in build/golden/llama/:
  <name>.gguf      the base model, written by the PyPI gguf package in llama.cpp's naming
                   (token_embd.weight, blk.N.attn_q.weight, ..., output.weight unless tied;
                   blk.N.attn_{q,k,v}.bias for qwen2; attn_{q,k}_norm, post_attention_norm,
                   post_ffw_norm for gemma3), arch "llama", "mistral", "qwen2" or "gemma3"
  <name>.ref.gguf  inputs and expected outputs (also written by gguf):
      metadata  parity.kind ("lora" | "ia3" | "prompt" | "full"),
                parity.base ("f32" | "nf4" | "q8_0" | "q4_0" | "q4_k" | "q5_0"),
                parity.targets, parity.rank, parity.alpha, parity.n_prompt,
                parity.lr / beta1 / beta2 / eps / weight_decay (one AdamW step)
      ids       i32 (B, T)            token ids
      sel_t, sel_b, targets  i32 (P)  answer positions (text position t of sequence b) whose
                                      next-token loss counts, and their targets
      init.<p>  every adapter tensor's starting value, under edgetune's names
                (blk.N.attn_q.weight.lora_a (r, in), ...lora_b (out, r) -- B random and
                nonzero, else dL/dA = 0 and proves nothing; blk.N.attn_k.ia3 ...;
                soft_prompt (n, dim); for "full" every weight under its GGUF name)
      nll (P), loss (1)               per-position NLL and their mean
      grad.<p>                        dloss/d<p>
      step.<p>                        <p> after one torch.optim.AdamW step
      loss2, grad2.<p>, step2.<p>, m2.<p>, v2.<p>
                                      a second step on the same batch: loss and gradients at the
                                      updated parameters, the parameters after it and AdamW's
                                      moments (exp_avg, exp_avg_sq) after it
      logits0 (T, vocab)              all logits of sequence 0 (for the KV-cache decode check;
                                      absent for prompt tuning)
      <fam>.<nll|loss|grad.<p>|step.<p>|logits0>
                                      quantized bases only: the same computed by torch_llama's
                                      emulation of the engine's fast path for that type (fam
                                      "bf16" for NF4, "int8" for Q8_0 / Q4_0 / Q4_K / Q5_0)
      deq.<w>                         quantized bases only: each linear weight quantized and
                                      dequantized by an implementation independent of the C
                                      code (quant_base below); the reference runs on these, and
                                      the C test checks its own compressed base dequantizes to
                                      the same values.
Everything is seeded; the files are reproducible.
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import ROOT, case, main  # noqa: E402
import torch_llama  # noqa: E402
import gen_quant  # noqa: E402  (its NF4 numpy port; its own cases are dropped below)

harness._cases[:] = [f for f in harness._cases if f.__module__ == __name__]

import gguf  # noqa: E402

OUT = os.path.join(ROOT, "build", "golden", "llama")
F32 = np.float32
LIN = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]
LIN_SHORT = dict(q="attn_q", k="attn_k", v="attn_v", o="attn_output", gate="ffn_gate",
                 up="ffn_up", down="ffn_down")
ADAMW = dict(lr=2e-3, beta1=0.8, beta2=0.95, eps=1e-4, weight_decay=0.1)

CASES = {
    # GQA 4:2, untied, LoRA on every linear layer
    "llama_gqa_lora": dict(arch="llama", vocab=48, dim=32, n_layers=2, n_heads=4, n_kv_heads=2,
                           head_dim=8, ffn=64, tied=False, rope_theta=10000.0, rms_eps=1e-5,
                           sliding_window=0, T=16, B=2, seed=11,
                           adapter=dict(kind="lora", rank=4, alpha=8.0, targets="all")),
    # qwen2: q/k/v biases, neox rope, tied embeddings, GQA 6:2, LoRA on some modules, alpha/r = 5/3
    "qwen2_tied_lora": dict(arch="qwen2", vocab=40, dim=48, n_layers=2, n_heads=6, n_kv_heads=2,
                            head_dim=8, ffn=80, tied=True, rope_theta=1000000.0, rms_eps=1e-6,
                            sliding_window=0, T=12, B=2, seed=12,
                            adapter=dict(kind="lora", rank=3, alpha=5.0, targets="q,v,o,down")),
    # mistral: sliding window 5 over T = 20, multi-query (4:1), head_dim 12 != dim / heads, IA3
    "mistral_swa_ia3": dict(arch="mistral", vocab=36, dim=32, n_layers=2, n_heads=4, n_kv_heads=1,
                            head_dim=12, ffn=72, tied=False, rope_theta=10000.0, rms_eps=1e-5,
                            sliding_window=5, T=20, B=2, seed=13, adapter=dict(kind="ia3")),
    # prompt tuning: 4 virtual tokens before 10 text tokens, tied, full multi-head
    "llama_prompt": dict(arch="llama", vocab=32, dim=32, n_layers=2, n_heads=4, n_kv_heads=4,
                         head_dim=8, ffn=64, tied=True, rope_theta=10000.0, rms_eps=1e-5,
                         sliding_window=0, T=10, B=2, seed=14,
                         adapter=dict(kind="prompt", n_prompt=4)),
    # full fine-tuning: every weight trained -- embedding gradients from both ends of a tied
    # model, norm and bias gradients; qwen2 with GQA 4:2
    "qwen2_full": dict(arch="qwen2", vocab=32, dim=32, n_layers=2, n_heads=4, n_kv_heads=2,
                       head_dim=8, ffn=48, tied=True, rope_theta=10000.0, rms_eps=1e-6,
                       sliding_window=0, T=12, B=2, seed=16, adapter=dict(kind="full")),
    # a model file over 1 MiB (vocab 4200 x dim 64 embeddings): edgetune maps it read-only;
    # the C test merges LoRA (targets q,k,gate,down) into it
    "llama_big_lora": dict(arch="llama", vocab=4200, dim=64, n_layers=1, n_heads=4, n_kv_heads=2,
                           head_dim=16, ffn=96, tied=True, rope_theta=500000.0, rms_eps=1e-5,
                           sliding_window=0, T=8, B=2, seed=17,
                           adapter=dict(kind="lora", rank=8, alpha=4.0, targets="q,k,gate,down")),
    # full fine-tuning of a model file over 1 MiB (mapped read-only by the reader)
    "llama_big_full": dict(arch="llama", vocab=4200, dim=64, n_layers=1, n_heads=4, n_kv_heads=4,
                           head_dim=16, ffn=64, tied=True, rope_theta=10000.0, rms_eps=1e-5,
                           sliding_window=0, T=8, B=2, seed=21, adapter=dict(kind="full")),
    # LoRA over Q8_0 / Q4_0 / Q4_K bases (rows multiples of 32, 32 and 256)
    "llama_q8_0_lora": dict(arch="llama", vocab=40, dim=64, n_layers=2, n_heads=4, n_kv_heads=2,
                            head_dim=16, ffn=96, tied=False, rope_theta=10000.0, rms_eps=1e-5,
                            sliding_window=0, T=12, B=2, seed=18, base="q8_0",
                            adapter=dict(kind="lora", rank=4, alpha=8.0, targets="all")),
    "qwen2_q4_0_lora": dict(arch="qwen2", vocab=40, dim=64, n_layers=2, n_heads=4, n_kv_heads=2,
                            head_dim=16, ffn=96, tied=True, rope_theta=1000000.0, rms_eps=1e-6,
                            sliding_window=0, T=12, B=2, seed=19, base="q4_0",
                            adapter=dict(kind="lora", rank=4, alpha=8.0, targets="q,k,v,up,down")),
    "llama_q4_k_ia3": dict(arch="llama", vocab=40, dim=256, n_layers=1, n_heads=4, n_kv_heads=2,
                           head_dim=64, ffn=256, tied=False, rope_theta=10000.0, rms_eps=1e-5,
                           sliding_window=0, T=10, B=2, seed=20, base="q4_k",
                           adapter=dict(kind="ia3")),
    # gemma3 (qk-norm, post norms, GEGLU, sqrt(dim) embeddings, neox rope, tied): 6 layers
    # with the default pattern (no sliding_window_pattern / freq_base_swa keys: layers 0-4
    # local with window 4 < T and rope base 10000, layer 5 global with base 1e6), multi-query
    # (2:1), head_dim 16 != dim / heads, LoRA on every linear layer
    "gemma3_lora": dict(arch="gemma3", vocab=48, dim=32, n_layers=6, n_heads=2, n_kv_heads=1,
                        head_dim=16, ffn=64, tied=True, rope_theta=1000000.0, rms_eps=1e-6,
                        sliding_window=4, swa_pattern=6, rope_local_theta=10000.0, T=12, B=2,
                        seed=22, adapter=dict(kind="lora", rank=4, alpha=8.0, targets="all")),
    # gemma3 with both keys written (pattern 2: layers 0, 2 local, 1, 3 global; local base
    # 5000), GQA 4:2; full fine-tuning, so the q/k-norm and post-norm weights get gradients
    "gemma3_full": dict(arch="gemma3", vocab=40, dim=32, n_layers=4, n_heads=4, n_kv_heads=2,
                        head_dim=8, ffn=48, tied=True, rope_theta=1000000.0, rms_eps=1e-6,
                        sliding_window=3, swa_pattern=2, rope_local_theta=5000.0, write_swa_keys=True,
                        T=10, B=2, seed=23, adapter=dict(kind="full")),
    # gemma3 prompt tuning: the soft prompt enters unscaled, the text embeddings scaled
    "gemma3_prompt": dict(arch="gemma3", vocab=36, dim=32, n_layers=2, n_heads=2, n_kv_heads=1,
                          head_dim=16, ffn=48, tied=True, rope_theta=1000000.0, rms_eps=1e-6,
                          sliding_window=5, swa_pattern=2, rope_local_theta=10000.0, write_swa_keys=True,
                          T=10, B=2,
                          seed=24, adapter=dict(kind="prompt", n_prompt=3)),
    # gemma3 over a Q5_0 base (Gemma 3's GGUFs use Q5_0 for q, k, gate, up), IA3 (GEGLU's up)
    "gemma3_q5_0_ia3": dict(arch="gemma3", vocab=40, dim=64, n_layers=2, n_heads=2, n_kv_heads=1,
                            head_dim=32, ffn=96, tied=True, rope_theta=1000000.0, rms_eps=1e-6,
                            sliding_window=4, swa_pattern=2, rope_local_theta=10000.0, write_swa_keys=True,
                            T=12, B=2, seed=25, base="q5_0", adapter=dict(kind="ia3")),
    # the bf16-compute setting: linear layers and the (untied) head in bf16, LoRA on every
    # linear layer; the loss's logits and dX run bf16 products too
    "llama_bf16_lora": dict(arch="llama", vocab=40, dim=64, n_layers=2, n_heads=4, n_kv_heads=2,
                            head_dim=16, ffn=96, tied=False, rope_theta=10000.0, rms_eps=1e-5,
                            sliding_window=0, T=12, B=2, seed=26, base="bf16", head="bf16",
                            adapter=dict(kind="lora", rank=4, alpha=8.0, targets="all")),
    # QLoRA: rows of 64 / 128 (NF4 blocks of 64), GQA 4:2, LoRA on every linear layer
    "llama_qlora": dict(arch="llama", vocab=40, dim=64, n_layers=2, n_heads=4, n_kv_heads=2,
                        head_dim=16, ffn=128, tied=False, rope_theta=10000.0, rms_eps=1e-5,
                        sliding_window=0, T=14, B=2, seed=15, base="nf4",
                        adapter=dict(kind="lora", rank=4, alpha=16.0, targets="all")),
}


def base_weights(c, rng):
    """Random weights at scales that keep activations O(1): linear std 1/sqrt(in), norms near
    1, embeddings std 0.4 (so the tied head gives logits of a few units)."""
    q, kv = c["n_heads"] * c["head_dim"], c["n_kv_heads"] * c["head_dim"]
    dim, ffn = c["dim"], c["ffn"]

    def lin(out, inp):
        return (rng.standard_normal((out, inp)) / np.sqrt(inp)).astype(F32)

    def norm(n):
        return (1.0 + 0.2 * rng.standard_normal(n)).astype(F32)

    w = {"token_embd.weight": (0.4 * rng.standard_normal((c["vocab"], dim))).astype(F32),
         "output_norm.weight": norm(dim)}
    if not c["tied"]:
        w["output.weight"] = lin(c["vocab"], dim)
    for l in range(c["n_layers"]):
        p = f"blk.{l}."
        w[p + "attn_norm.weight"] = norm(dim)
        w[p + "attn_q.weight"] = lin(q, dim)
        w[p + "attn_k.weight"] = lin(kv, dim)
        w[p + "attn_v.weight"] = lin(kv, dim)
        w[p + "attn_output.weight"] = lin(dim, q)
        w[p + "ffn_norm.weight"] = norm(dim)
        w[p + "ffn_gate.weight"] = lin(ffn, dim)
        w[p + "ffn_up.weight"] = lin(ffn, dim)
        w[p + "ffn_down.weight"] = lin(dim, ffn)
        if c["arch"] == "qwen2":
            for m, n in (("attn_q", q), ("attn_k", kv), ("attn_v", kv)):
                w[p + m + ".bias"] = (0.3 * rng.standard_normal(n)).astype(F32)
        if c["arch"] == "gemma3":
            w[p + "attn_q_norm.weight"] = norm(c["head_dim"])
            w[p + "attn_k_norm.weight"] = norm(c["head_dim"])
            w[p + "post_attention_norm.weight"] = norm(dim)
            w[p + "post_ffw_norm.weight"] = norm(dim)
    if c["arch"] == "gemma3":           # the embeddings are scaled by sqrt(dim): keep x O(1)
        w["token_embd.weight"] *= F32(1.0 / np.sqrt(dim))
    return w


def write_model(path, c, w):
    a = c["arch"]
    g = gguf.GGUFWriter(path, a)
    g.add_uint32(f"{a}.context_length", 64)
    g.add_uint32(f"{a}.embedding_length", c["dim"])
    g.add_uint32(f"{a}.block_count", c["n_layers"])
    g.add_uint32(f"{a}.feed_forward_length", c["ffn"])
    g.add_uint32(f"{a}.attention.head_count", c["n_heads"])
    g.add_uint32(f"{a}.attention.head_count_kv", c["n_kv_heads"])
    g.add_uint32(f"{a}.attention.key_length", c["head_dim"])
    g.add_uint32(f"{a}.attention.value_length", c["head_dim"])
    g.add_uint32(f"{a}.rope.dimension_count", c["head_dim"])
    g.add_float32(f"{a}.rope.freq_base", c["rope_theta"])
    g.add_float32(f"{a}.attention.layer_norm_rms_epsilon", c["rms_eps"])
    if c["sliding_window"]:
        g.add_uint32(f"{a}.attention.sliding_window", c["sliding_window"])
    if c.get("write_swa_keys"):          # llama.cpp's names; absent, the defaults 6 and 10000
        g.add_uint32(f"{a}.attention.sliding_window_pattern", c["swa_pattern"])
        g.add_float32(f"{a}.rope.freq_base_swa", c["rope_local_theta"])
    elif a == "gemma3":
        assert c["swa_pattern"] == 6 and c["rope_local_theta"] == 10000.0, "write the keys"
    for name, arr in w.items():
        g.add_tensor(name, np.ascontiguousarray(arr))
    g.write_header_to_file()
    g.write_kv_data_to_file()
    g.write_tensors_to_file()
    g.close()


def adapter_init(c, ad, rng):
    """Starting values under edgetune's names.  LoRA B is random (not PEFT's zero) so that
    every gradient is nonzero; IA3 scales are perturbed from 1 for the same reason."""
    q, kv = c["n_heads"] * c["head_dim"], c["n_kv_heads"] * c["head_dim"]
    shapes = dict(attn_q=(q, c["dim"]), attn_k=(kv, c["dim"]), attn_v=(kv, c["dim"]),
                  attn_output=(c["dim"], q), ffn_gate=(c["ffn"], c["dim"]),
                  ffn_up=(c["ffn"], c["dim"]), ffn_down=(c["dim"], c["ffn"]))
    p = {}
    if ad["kind"] == "lora":
        mods = LIN if ad["targets"] == "all" else [LIN_SHORT[s] for s in ad["targets"].split(",")]
        r = ad["rank"]
        for l in range(c["n_layers"]):
            for m in mods:
                out, inp = shapes[m]
                n = f"blk.{l}.{m}.weight"
                p[n + ".lora_a"] = rng.uniform(-1, 1, (r, inp)).astype(F32) / np.sqrt(inp).astype(F32)
                p[n + ".lora_b"] = (0.3 * rng.standard_normal((out, r))).astype(F32)
    elif ad["kind"] == "ia3":
        for l in range(c["n_layers"]):
            p[f"blk.{l}.attn_k.ia3"] = (1 + 0.2 * rng.standard_normal(kv)).astype(F32)
            p[f"blk.{l}.attn_v.ia3"] = (1 + 0.2 * rng.standard_normal(kv)).astype(F32)
            p[f"blk.{l}.ffn_up.ia3"] = (1 + 0.2 * rng.standard_normal(c["ffn"])).astype(F32)
    elif ad["kind"] == "prompt":
        p["soft_prompt"] = rng.standard_normal((ad["n_prompt"], c["dim"])).astype(F32)
    return p


# which fast-path emulation each base type gets (kernels/matmul.c's families)
EMU_FAMILY = {"nf4": "bf16", "bf16": "bf16", "q8_0": "int8", "q4_0": "int8", "q4_k": "int8", "q5_0": "int8"}


def quant_base(w, base, head=None):
    """Each linear weight quantized to `base` and dequantized, by implementations independent
    of edgetune's C: gguf.quants (BF16, Q8_0, Q4_0, Q5_0), kquants_np's port of ggml (Q4_K)
    and gen_quant's numpy NF4 (bitsandbytes) -- each byte-exact with kernels/ref (test_quant).
    head: the output matrix too, to that type (gguf.quants: BF16 here)."""
    from gguf import GGMLQuantizationType as Q
    from gguf import quants
    import kquants_np
    code = gen_quant.dynamic_map() if base == "nf4" else None
    deq = {}
    if head:
        t = {"bf16": Q.BF16}[head]
        deq["output.weight"] = np.asarray(quants.dequantize(quants.quantize(w["output.weight"], t), t), F32)
    for name, arr in w.items():
        if not (name.startswith("blk.") and any(name.endswith(m + ".weight") for m in LIN)):
            continue
        if base == "nf4":
            y = gen_quant.nf4_quantize(arr.reshape(-1), code)[1]
        elif base == "q4_k":
            y = quants.dequantize(kquants_np.quantize_q4_k(arr.reshape(-1)), Q.Q4_K)
        else:
            t = {"bf16": Q.BF16, "q8_0": Q.Q8_0, "q4_0": Q.Q4_0, "q5_0": Q.Q5_0}[base]
            y = quants.dequantize(quants.quantize(arr, t), t)
        deq[name] = np.asarray(y, F32).reshape(arr.shape)
    return deq


def sel_nll(model, ids, sel_tt, sel_b, targets, head_emu, logits=None):
    """NLL at the selected positions: through the emulated bf16 head (torch_llama.EmuHeadNLL)
    when the head is bf16, else torch's cross-entropy over the logits."""
    b, t = torch.tensor(sel_b, dtype=torch.long), torch.tensor(sel_tt, dtype=torch.long)
    tg = torch.tensor(targets, dtype=torch.long)
    if head_emu:
        return torch_llama.EmuHeadNLL.apply(model.hidden(torch.tensor(ids, dtype=torch.long))[b, t],
                                            model.head_weight(), tg)
    if logits is None:
        logits = model.logits(torch.tensor(ids, dtype=torch.long))
    return torch.nn.functional.cross_entropy(logits[b, t], tg, reduction="none")


def reference(c, w, ad, init, ids, sel_tt, sel_b, targets, base_emu=None, head_emu=False):
    """Logits, NLL at the selected positions (sel_tt counts virtual tokens), their mean,
    every adapter gradient and the adapter after one AdamW step."""
    params = {k: torch.tensor(v, dtype=torch_llama.DT, requires_grad=True) for k, v in init.items()}
    if ad["kind"] == "full":          # every weight is a parameter
        w = dict(w, **params)
    model = torch_llama.Llama(c, w, dict(ad, params=params), base_emu=base_emu, head_emu=head_emu)
    logits = model.logits(torch.tensor(ids, dtype=torch.long))            # (B, np + T, V)
    nll = sel_nll(model, ids, sel_tt, sel_b, targets, head_emu, logits)
    loss = nll.mean()
    loss.backward()
    grads = {k: p.grad.detach().clone() for k, p in params.items()}
    opt = torch.optim.AdamW(list(params.values()), lr=ADAMW["lr"], betas=(ADAMW["beta1"], ADAMW["beta2"]),
                            eps=ADAMW["eps"], weight_decay=ADAMW["weight_decay"])
    opt.step()
    step = {k: p.detach().clone() for k, p in params.items()}
    # a second step on the same batch: gradients at the updated parameters, the moments
    # carried over from step 1 (exp_avg, exp_avg_sq) and the parameters after it
    opt.zero_grad()
    loss2 = sel_nll(model, ids, sel_tt, sel_b, targets, head_emu).mean()
    loss2.backward()
    grads2 = {k: p.grad.detach().clone() for k, p in params.items()}
    opt.step()
    st = {k: opt.state[p] for k, p in params.items()}
    return dict(logits=logits, nll=nll, loss=loss, grad=grads, step=step, loss2=loss2, grad2=grads2,
                step2={k: p.detach() for k, p in params.items()}, m2={k: st[k]["exp_avg"] for k in st},
                v2={k: st[k]["exp_avg_sq"] for k in st})


def make_case(name, c):
    rng = np.random.default_rng(c["seed"])
    torch.manual_seed(c["seed"])
    w = base_weights(c, rng)
    os.makedirs(OUT, exist_ok=True)
    write_model(os.path.join(OUT, name + ".gguf"), c, w)
    ad = c["adapter"]
    init = dict(w) if ad["kind"] == "full" else adapter_init(c, ad, rng)
    deq = quant_base(w, c["base"], c.get("head")) if c.get("base", "f32") != "f32" else {}
    T, B = c["T"], c["B"]
    ids = rng.integers(0, c["vocab"], (B, T)).astype(np.int32)
    # answer positions: the last 5 (sequence 0) and 3 (sequence 1) next-token predictions,
    # plus one early position in sequence 1 -- a subset, not in order of flat index
    sel = [(t, 0) for t in range(T - 6, T - 1)] + [(2, 1)] + [(t, 1) for t in range(T - 4, T - 1)]
    sel_t = np.array([s[0] for s in sel], np.int32)
    sel_b = np.array([s[1] for s in sel], np.int32)
    targets = ids[sel_b, sel_t + 1].astype(np.int32)

    np_ = ad["n_prompt"] if ad["kind"] == "prompt" else 0
    ex = reference(c, {**w, **deq}, ad, init, ids, sel_t + np_, sel_b, targets)
    for k, g in ex["grad"].items():   # the test must be able to fail: every gradient is live
        assert g.abs().max() > 0, (name, k)
    assert ex["logits"].abs().max() > 1.0 and ex["nll"].std() > 0.1, (name, "degenerate logits")

    r = gguf.GGUFWriter(os.path.join(OUT, name + ".ref.gguf"), "edgetune-parity")
    r.add_string("parity.kind", ad["kind"])
    r.add_string("parity.base", c.get("base", "f32"))
    r.add_string("parity.head", c.get("head", "f32"))
    r.add_string("parity.targets", ad.get("targets", ""))
    r.add_uint32("parity.rank", ad.get("rank", 0))
    r.add_float32("parity.alpha", ad.get("alpha", 0.0))
    r.add_uint32("parity.n_prompt", np_)
    for k, v in ADAMW.items():
        r.add_float32("parity." + k, v)
    r.add_tensor("ids", ids)
    r.add_tensor("sel_t", sel_t)
    r.add_tensor("sel_b", sel_b)
    r.add_tensor("targets", targets)
    f32 = lambda t: np.ascontiguousarray(t.detach().numpy().astype(F32))  # noqa: E731
    for k in init:
        r.add_tensor("init." + k, init[k])
    # the exact reference; for a quantized base also the emulation of the engine's fast paths
    # for it (prefix "bf16." or "int8.", the kernel family's name; the int8 family also as
    # "int8b.", its forward with the bf16 dX of AVX512-BF16 machines)
    runs = [("", ex)]
    if deq:
        fam = EMU_FAMILY[c["base"]]
        for emu in ([fam, "int8b"] if fam == "int8" else [fam]):
            runs.append((emu + ".", reference(c, {**w, **deq}, ad, init, ids, sel_t + np_, sel_b, targets,
                                              base_emu=emu, head_emu=c.get("head") is not None)))
    for prefix, res in runs:
        r.add_tensor(prefix + "nll", f32(res["nll"]))
        r.add_tensor(prefix + "loss", f32(res["loss"].reshape(1)))
        r.add_tensor(prefix + "loss2", f32(res["loss2"].reshape(1)))
        for k in init:
            for what in ("grad", "step", "grad2", "step2", "m2", "v2"):
                r.add_tensor(prefix + what + "." + k, f32(res[what][k]))
        if ad["kind"] != "prompt":
            r.add_tensor(prefix + "logits0", f32(res["logits"][0]))
    for k, v in deq.items():
        r.add_tensor("deq." + k, v)
    r.write_header_to_file()
    r.write_kv_data_to_file()
    r.write_tensors_to_file()
    r.close()


@case
def check_rope_conventions():
    """The reference's two rope conventions are the one rotation in two weight layouts:
    llama.cpp's converter permutes Hugging Face's q/k rows (per head: the halves interleaved)
    so that rotating pairs (2i, 2i+1) of the permuted projection equals HF's rotate_half
    (pairs (i, i + d/2)) of the original -- the attention scores must agree.  This ties the
    "llama" convention used for the goldens to real converted checkpoints."""
    rng = np.random.default_rng(3)
    dim, nh, nkv, hd, T = 32, 4, 2, 8, 7
    x = torch.tensor(rng.standard_normal((1, T, dim)))
    wq = torch.tensor(rng.standard_normal((nh * hd, dim)))
    wk = torch.tensor(rng.standard_normal((nkv * hd, dim)))

    def permute(w, n):        # HF layout -> GGUF layout, rows of each head interleaved
        return w.reshape(n, 2, w.shape[0] // n // 2, -1).swapaxes(1, 2).reshape(w.shape)

    pos = torch.arange(T)

    def scores(wq_, wk_, neox):
        q = torch_llama.rope((x @ wq_.T).view(1, T, nh, hd).transpose(1, 2), pos, 10000.0, neox)
        k = torch_llama.rope((x @ wk_.T).view(1, T, nkv, hd).transpose(1, 2), pos, 10000.0, neox)
        return q @ k.repeat_interleave(nh // nkv, dim=1).transpose(-1, -2)

    hf = scores(wq, wk, True)
    gg = scores(permute(wq, nh), permute(wk, nkv), False)
    assert torch.allclose(hf, gg, rtol=1e-12, atol=1e-10), (hf - gg).abs().max()
    assert not torch.allclose(hf, scores(wq, wk, False), atol=1e-3)   # the check can fail


def make(name):
    def fn():
        make_case(name, CASES[name])
    fn.__name__ = "gen_" + name
    return fn


for _n in CASES:
    case(make(_n))

if __name__ == "__main__":
    main()
