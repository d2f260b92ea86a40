"""An exported GGUF LoRA adapter loads in llama.cpp and changes its output as the merged model
predicts (part of `make check-real`; tools/check_real.mk).

A tiny llama-architecture model (SentencePiece-style vocabulary with the 256 byte tokens, so
llama.cpp's vocabulary loader is content) is written with the PyPI gguf package, and a random
LoRA adapter on every linear layer in edgetune's adapter format.  edgetune then
  - exports the adapter for llama.cpp:  edgetune adapter export --format gguf
  - merges it into the base:            edgetune merge
and llama.cpp (through llama-cpp-python) computes the logits of a fixed token sequence three
ways: base alone, base + the exported adapter (--lora), and the merged model.  Pass: the
adapter moves llama.cpp's logits (max |base - lora| > 0.5), and base + adapter agrees with the
merged model to within 1e-3 of that movement (llama.cpp applies the LoRA as a separate f32
matmul in the graph while the merged model folds it into W, and keeps its KV cache in f16, so
they are close but not bit-identical; measured: about 4e-6).  And edgetune's own perplexity of
the merged model on the same tokens is within 1% of llama.cpp's with the adapter (two engines,
f16 KV cache in one: measured 0.04% apart).  The f16 export (--f16) must agree within 1e-2 of
the movement (adapter weights rounded to 11 bits).

usage: python tools/check_adapter_llamacpp.py EDGETUNE_BINARY WORKDIR
Exit 0 and a notice if llama_cpp or gguf cannot be imported; 1 on a failed check.
"""
import os
import subprocess
import sys

try:
    import numpy as np
    import gguf
    import llama_cpp
except ImportError as e:  # the check is optional: say why it did not run
    print(f"check-real adapter: skipped ({e}); `make venv-lcpp` builds llama-cpp-python (compiles llama.cpp)")
    sys.exit(0)

ET, WORK = sys.argv[1], sys.argv[2]
os.makedirs(WORK, exist_ok=True)
D, NH, NKV, F, L = 64, 4, 2, 128, 2
HD = D // NH
rng = np.random.default_rng(11)


def write_base(path):
    words = ["▁the", "▁cat", "▁sat", "▁on", "▁mat", "▁a", "▁dog", "▁ran", "s", "ing"]
    toks = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + words
    types = [2, 3, 3] + [6] * 256 + [1] * len(words)
    w = gguf.GGUFWriter(path, "llama")
    w.add_context_length(64)
    w.add_embedding_length(D)
    w.add_block_count(L)
    w.add_feed_forward_length(F)
    w.add_head_count(NH)
    w.add_head_count_kv(NKV)
    w.add_rope_dimension_count(HD)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(0)
    w.add_tokenizer_model("llama")
    w.add_token_list(toks)
    w.add_token_scores([0.0] * len(toks))
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    V = len(toks)
    w.add_tensor("token_embd.weight", rng.standard_normal((V, D)).astype(np.float32))
    w.add_tensor("output_norm.weight", np.ones(D, np.float32))
    w.add_tensor("output.weight", (rng.standard_normal((V, D)) * 0.3).astype(np.float32))
    for l in range(L):
        w.add_tensor(f"blk.{l}.attn_norm.weight", np.ones(D, np.float32))
        w.add_tensor(f"blk.{l}.ffn_norm.weight", np.ones(D, np.float32))
        for n, shape in (("attn_q", (D, D)), ("attn_k", (NKV * HD, D)), ("attn_v", (NKV * HD, D)),
                         ("attn_output", (D, D)), ("ffn_gate", (F, D)), ("ffn_up", (F, D)), ("ffn_down", (D, F))):
            w.add_tensor(f"blk.{l}.{n}.weight", (rng.standard_normal(shape) * 0.15).astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return V


def write_adapter(path, base_path, r=4, alpha=8.0):
    w = gguf.GGUFWriter(path, "llama")
    w.add_string("general.type", "adapter")
    w.add_string("edgetune.adapter.kind", "lora")
    w.add_uint32("edgetune.adapter.rank", r)
    w.add_float32("edgetune.adapter.alpha", alpha)
    for t in gguf.GGUFReader(base_path).tensors:
        if t.name.startswith("blk.") and len(t.shape) == 2 and t.shape[1] > 1:
            inp, out = int(t.shape[0]), int(t.shape[1])
            w.add_tensor(t.name + ".lora_a", rng.uniform(-0.3, 0.3, (r, inp)).astype(np.float32))
            w.add_tensor(t.name + ".lora_b", rng.uniform(-0.3, 0.3, (out, r)).astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def et(*args):
    r = subprocess.run([ET, *args], capture_output=True, text=True)
    if r.returncode != 0:
        print(f"check-real adapter: edgetune {' '.join(args)} failed:\n{r.stderr}")
        sys.exit(1)
    return r.stdout


def logits(model, ids, lora=None):
    kw = dict(model_path=model, n_ctx=64, logits_all=True, verbose=False, n_threads=2)
    if lora:
        kw["lora_path"] = lora
    llm = llama_cpp.Llama(**kw)
    llm.eval(ids)
    out = np.array(llm.scores[: len(ids)], dtype=np.float64)
    del llm
    return out


base, native = os.path.join(WORK, "base.gguf"), os.path.join(WORK, "adapter.gguf")
lcpp, merged = os.path.join(WORK, "adapter-llamacpp.gguf"), os.path.join(WORK, "merged.gguf")
V = write_base(base)
write_adapter(native, base)
et("adapter", "export", "--model", base, "--adapter", native, "--format", "gguf", "--out", lcpp)
et("merge", "--model", base, "--adapter", native, "--out", merged)
ids = [1] + list(rng.integers(3, V, 23))
lb, ll, lm = logits(base, ids), logits(base, ids, lcpp), logits(merged, ids)
moved, off = np.abs(ll - lb).max(), np.abs(ll - lm).max()
print(f"llama.cpp {llama_cpp.__version__}: max |logit| change from the adapter {moved:.4f}; "
      f"base+adapter vs merged model: max diff {off:.2e} ({off / moved:.2e} of the change)")
tok_file = os.path.join(WORK, "ids.txt")
open(tok_file, "w").write(" ".join(map(str, ids)))
ppl_et = et("perplexity", "--model", merged, "--tokens", tok_file).strip().splitlines()[-1]
lp = ll - ll.max(1, keepdims=True)
lp = lp - np.log(np.exp(lp).sum(1, keepdims=True))
nll = -np.mean([lp[i, ids[i + 1]] for i in range(len(ids) - 1)])
ppl_lc = float(np.exp(nll))
ppl_e = float(ppl_et.split(":")[1])
print(f"merged model, same tokens: edgetune {ppl_et}; llama.cpp base+adapter perplexity: {ppl_lc:.4f} "
      f"({abs(ppl_e / ppl_lc - 1) * 100:.3f}% apart)")
lcpp16 = os.path.join(WORK, "adapter-llamacpp-f16.gguf")
et("adapter", "export", "--model", base, "--adapter", native, "--format", "gguf", "--f16", "--out", lcpp16)
off16 = np.abs(logits(base, ids, lcpp16) - lm).max()
print(f"f16 export: base+adapter vs merged model: max diff {off16:.2e} ({off16 / moved:.2e} of the change)")
ok1 = moved > 0.5 and off <= 1e-3 * moved and off16 <= 1e-2 * moved
ok2 = abs(ppl_e / ppl_lc - 1) <= 0.01
print("PASS llamacpp_lora_matches_merge" if ok1 else "FAIL llamacpp_lora_matches_merge")
print("PASS edgetune_merged_perplexity_matches_llamacpp" if ok2 else "FAIL edgetune_merged_perplexity_matches_llamacpp")
sys.exit(0 if ok1 and ok2 else 1)
