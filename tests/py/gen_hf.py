"""Golden Hugging Face checkpoint directories for tests/test_hf_load.c and tests/test_hf_cli.sh:
tiny random llama, mistral and qwen2 models in transformers' layout, written by the PyPI
`safetensors` package, with a config.json as transformers writes one and a tokenizer.json
trained by the PyPI `tokenizers` package, and the logits an independent float64 reference
computes on a fixed token sequence.

The reference (hf_logits below) is written from transformers' modeling_llama / _mistral /
_qwen2 (not from edgetune's C code): RMSNorm x * rsqrt(mean(x^2) + eps) * w; rope with
rotate_half over HF's q/k layout (cos/sin of cat(freqs, freqs), element i paired with
i + head_dim/2); repeat_kv (query head h reads kv head h // (heads/kv_heads)); the causal mask,
and for mistral the sliding window of transformers' mask (key s visible from query t when
t - window < s <= t); q/k/v biases for qwen2; SwiGLU MLP; lm_head, or the embedding when tied.
As a second, independent check of the rope convention, the generator also runs
tests/py/torch_llama.py (the GGUF-convention oracle of test_llama_parity) on the same weights
renamed to GGUF names, with q/k rows permuted the way llama.cpp's converter permutes llama and
mistral (qwen2 unpermuted, rotated "neox"), and asserts both references agree to 1e-10
relative: HF rotate_half on HF rows == llama.cpp's adjacent-pair rope on permuted rows.

Cases (build/golden/hf/<name>/ : config.json, tokenizer.json, weights):
  llama          F32, GQA 4:2, untied, one model.safetensors
  llama_sharded  the same weights in 3 shards + model.safetensors.index.json
  mistral        F16 (norms too: converted on load), MQA 4:1, head_dim 12 != hidden/heads,
                 sliding_window 5 < T = 16
  qwen2          BF16, GQA 6:2, q/k/v biases, tie_word_embeddings (no lm_head), vocab_size
                 5 rows above the tokenizer's, rope_theta 1e6
and build/golden/hf/<name>.ref.safetensors:
  ids     I32 [T]          the token sequence
  logits  F64 [T, vocab]   the reference logits of every position
  logits_bf16  F64         qwen2 only: the same with every linear layer's input (and the
                           head's) rounded to bf16, as edgetune's bf16 kernel family does
  tok_ids I32 [n]          tokenizers' ids of the metadata's "text" (special tokens added)
Malformed directories (build/golden/hf/bad_*/, each a copy of llama, llama_sharded or qwen2
with one defect) are listed in build/golden/hf/malformed.tsv:  name TAB substring TAB substring ...  --
et_lm_load must fail with a message containing every substring (the file, the tensor or
field, the value), "{dir}" standing for the directory's path.
Everything is seeded; the files are reproducible.
"""
import json
import math
import os
import shutil
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import ROOT, case, main  # noqa: E402
import torch_llama  # noqa: E402
from gen_tok import REGEX  # noqa: E402

harness._cases[:] = [f for f in harness._cases if f.__module__ == __name__]

from safetensors.torch import save_file  # noqa: E402

OUT = os.path.join(ROOT, "build", "golden", "hf")
DT = torch.float64
TEXT = "Hello world, edgetune loads Hugging Face checkpoints: llama, mistral and qwen2."

CASES = {
    "llama": dict(arch="llama", dtype=torch.float32, dim=32, n_layers=2, n_heads=4, n_kv_heads=2, head_dim=8,
                  ffn=64, tied=False, rope_theta=10000.0, rms_eps=1e-5, window=0, T=16, seed=21, extra_vocab=0,
                  tok="gpt2"),
    "mistral": dict(arch="mistral", dtype=torch.float16, dim=32, n_layers=2, n_heads=4, n_kv_heads=1, head_dim=12,
                    ffn=72, tied=False, rope_theta=10000.0, rms_eps=1e-5, window=5, T=16, seed=22, extra_vocab=0,
                    tok="gpt2"),
    "qwen2": dict(arch="qwen2", dtype=torch.bfloat16, dim=48, n_layers=2, n_heads=6, n_kv_heads=2, head_dim=8,
                  ffn=80, tied=True, rope_theta=1000000.0, rms_eps=1e-6, window=0, T=16, seed=23, extra_vocab=5,
                  tok="qwen2"),
}
CLASSES = {"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM", "qwen2": "Qwen2ForCausalLM"}
ST_DTYPE = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16"}


# ---------------------------------------------------------------- tokenizer

def corpus():
    words = ("the model loads weights from files and the tokenizer splits text into pieces while "
             "hugging face checkpoints hold llama mistral qwen layers norms heads keys values "
             "queries rope rotates pairs of each head edge devices run small models quickly").split()
    rng = np.random.default_rng(5)
    return "\n".join(" ".join(words[i] for i in rng.integers(0, len(words), 12)) + ", 123 ok." for _ in range(400))


def train_tokenizer(kind):
    """A byte-level BPE tokenizer.json as transformers ships them: GPT-2 ByteLevel pre-tokenizer
    with a <s> BOS template (llama/mistral-like), or Qwen2's Split regex + ByteLevel with
    <|endoftext|> / <|im_start|> / <|im_end|> and no BOS (Qwen2's)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    tok = Tokenizer(models.BPE())
    if kind == "gpt2":
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        specials = ["<s>", "</s>"]
    else:
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(REGEX["qwen2"]), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
        specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=320, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus().splitlines(), trainer)
    if kind == "gpt2":
        bos = tok.token_to_id("<s>")
        tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                           special_tokens=[("<s>", bos)])
    return tok


# ---------------------------------------------------------------- weights

def make_weights(c, n_vocab):
    """HF state dict (name -> tensor of the checkpoint's dtype)."""
    g = torch.Generator().manual_seed(c["seed"])
    r = lambda *s, std=1.0: torch.randn(*s, generator=g, dtype=DT) * std  # noqa: E731
    d, hd, nh, nkv, ff = c["dim"], c["head_dim"], c["n_heads"], c["n_kv_heads"], c["ffn"]
    V = n_vocab + c["extra_vocab"]
    sd = {"model.embed_tokens.weight": r(V, d)}
    for l in range(c["n_layers"]):
        p = f"model.layers.{l}."
        sd[p + "input_layernorm.weight"] = 1 + r(d, std=0.2)
        sd[p + "self_attn.q_proj.weight"] = r(nh * hd, d, std=1 / math.sqrt(d))
        sd[p + "self_attn.k_proj.weight"] = r(nkv * hd, d, std=1 / math.sqrt(d))
        sd[p + "self_attn.v_proj.weight"] = r(nkv * hd, d, std=1 / math.sqrt(d))
        sd[p + "self_attn.o_proj.weight"] = r(d, nh * hd, std=1 / math.sqrt(nh * hd))
        if c["arch"] == "qwen2":
            sd[p + "self_attn.q_proj.bias"] = r(nh * hd, std=0.3)
            sd[p + "self_attn.k_proj.bias"] = r(nkv * hd, std=0.3)
            sd[p + "self_attn.v_proj.bias"] = r(nkv * hd, std=0.3)
        sd[p + "post_attention_layernorm.weight"] = 1 + r(d, std=0.2)
        sd[p + "mlp.gate_proj.weight"] = r(ff, d, std=1 / math.sqrt(d))
        sd[p + "mlp.up_proj.weight"] = r(ff, d, std=1 / math.sqrt(d))
        sd[p + "mlp.down_proj.weight"] = r(d, ff, std=1 / math.sqrt(ff))
    sd["model.norm.weight"] = 1 + r(d, std=0.2)
    if not c["tied"]:
        sd["lm_head.weight"] = r(V, d, std=0.5)
    return {k: v.to(c["dtype"]).contiguous() for k, v in sd.items()}


def config_json(c, V, tok):
    cfg = {"architectures": [CLASSES[c["arch"]]], "model_type": c["arch"], "vocab_size": V,
           "hidden_size": c["dim"], "intermediate_size": c["ffn"], "num_hidden_layers": c["n_layers"],
           "num_attention_heads": c["n_heads"], "num_key_value_heads": c["n_kv_heads"],
           "head_dim": c["head_dim"], "hidden_act": "silu", "max_position_embeddings": 64,
           "rms_norm_eps": c["rms_eps"], "rope_theta": c["rope_theta"], "rope_scaling": None,
           "tie_word_embeddings": c["tied"], "torch_dtype": ST_DTYPE[c["dtype"]],
           "initializer_range": 0.02, "use_cache": True, "transformers_version": "4.46.0"}
    if c["arch"] == "llama":
        cfg.update(attention_bias=False, mlp_bias=False, pretraining_tp=1)
    if c["arch"] == "mistral":
        cfg["sliding_window"] = c["window"]
    if c["arch"] == "qwen2":
        cfg.update(use_sliding_window=False, sliding_window=4096, max_window_layers=c["n_layers"])
    for k in ("bos", "eos"):
        name = {"gpt2": {"bos": "<s>", "eos": "</s>"}, "qwen2": {"bos": None, "eos": "<|endoftext|>"}}[c["tok"]][k]
        cfg[k + "_token_id"] = tok.token_to_id(name) if name else None
    return cfg


# ---------------------------------------------------------------- the references

def hf_logits(c, sd, ids, emu_bf16=False):
    """transformers' forward in float64 (see the module docstring); emu_bf16 rounds every
    linear layer's input to bf16 (edgetune's bf16 kernel family)."""
    w = {k: v.to(DT) for k, v in sd.items()}
    nh, nkv, hd, eps = c["n_heads"], c["n_kv_heads"], c["head_dim"], c["rms_eps"]
    T = len(ids)

    def rms(x, g):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * g

    def lin(x, name, bias=None):
        xi = x.to(torch.bfloat16).to(DT) if emu_bf16 else x
        y = xi @ w[name].T
        return y + bias if bias is not None else y

    inv_freq = 1.0 / (c["rope_theta"] ** (torch.arange(0, hd, 2, dtype=DT) / hd))
    freqs = torch.outer(torch.arange(T, dtype=DT), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()                                  # (T, hd)

    def rotate_half(x):
        x1, x2 = x[..., : hd // 2], x[..., hd // 2:]
        return torch.cat((-x2, x1), dim=-1)

    t = torch.arange(T)[:, None]
    s = torch.arange(T)[None, :]
    mask = s <= t
    if c["window"] > 0:
        mask &= s > t - c["window"]
    x = w["model.embed_tokens.weight"][torch.tensor(ids)]
    for l in range(c["n_layers"]):
        p = f"model.layers.{l}."
        b = (lambda n: w[p + f"self_attn.{n}_proj.bias"]) if c["arch"] == "qwen2" else (lambda n: None)
        h = rms(x, w[p + "input_layernorm.weight"])
        q = lin(h, p + "self_attn.q_proj.weight", b("q")).view(T, nh, hd).transpose(0, 1)
        k = lin(h, p + "self_attn.k_proj.weight", b("k")).view(T, nkv, hd).transpose(0, 1)
        v = lin(h, p + "self_attn.v_proj.weight", b("v")).view(T, nkv, hd).transpose(0, 1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(nh // nkv, dim=0)                    # repeat_kv
        v = v.repeat_interleave(nh // nkv, dim=0)
        a = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        a = torch.softmax(a.masked_fill(~mask, float("-inf")), dim=-1)
        o = (a @ v).transpose(0, 1).reshape(T, nh * hd)
        x = x + lin(o, p + "self_attn.o_proj.weight")
        h = rms(x, w[p + "post_attention_layernorm.weight"])
        g = torch.nn.functional.silu(lin(h, p + "mlp.gate_proj.weight")) * lin(h, p + "mlp.up_proj.weight")
        x = x + lin(g, p + "mlp.down_proj.weight")
    x = rms(x, w["model.norm.weight"])
    return lin(x, "lm_head.weight" if "lm_head.weight" in w else "model.embed_tokens.weight")


def permute(wt, n_head):
    """llama.cpp's convert_hf_to_gguf permute of q/k rows (HF rotate_half -> adjacent pairs)."""
    return wt.reshape(n_head, 2, wt.shape[0] // n_head // 2, *wt.shape[1:]).swapaxes(1, 2).reshape(wt.shape)


def gguf_weights(c, sd, permute_qk=True):
    """The HF state dict under GGUF names, q/k permuted as llama.cpp's converter does."""
    w = {k: v.to(DT) for k, v in sd.items()}
    neox = c["arch"] == "qwen2"
    g = {"token_embd.weight": w["model.embed_tokens.weight"], "output_norm.weight": w["model.norm.weight"]}
    if "lm_head.weight" in w:
        g["output.weight"] = w["lm_head.weight"]
    names = {"input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm", "self_attn.q_proj": "attn_q",
             "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
             "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
    for l in range(c["n_layers"]):
        for hf, gg in names.items():
            for suf in ("weight", "bias"):
                key = f"model.layers.{l}.{hf}.{suf}"
                if key not in w:
                    continue
                t = w[key]
                if not neox and permute_qk and gg in ("attn_q", "attn_k"):
                    t = permute(t, c["n_heads"] if gg == "attn_q" else c["n_kv_heads"])
                g[f"blk.{l}.{gg}.{suf}"] = t
    return g


def gguf_logits(c, sd, ids, permute_qk=True):
    """tests/py/torch_llama.py on the same weights under GGUF names and layout."""
    w = gguf_weights(c, sd, permute_qk)
    cfg = dict(vocab=w["token_embd.weight"].shape[0], dim=c["dim"], n_layers=c["n_layers"],
               n_heads=c["n_heads"], n_kv_heads=c["n_kv_heads"], head_dim=c["head_dim"], ffn=c["ffn"],
               rope_theta=c["rope_theta"], rms_eps=c["rms_eps"], arch=c["arch"], sliding_window=c["window"],
               tied=c["tied"])
    return torch_llama.Llama(cfg, w).logits(torch.tensor([ids]))[0]


# ---------------------------------------------------------------- writing

def write_dir(path, cfg, tok, sd, shards=1):
    if os.path.isdir(path):
        shutil.rmtree(path)
    os.makedirs(path)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    tok.save(os.path.join(path, "tokenizer.json"))
    names = list(sd)
    if shards == 1:
        save_file(sd, os.path.join(path, "model.safetensors"), metadata={"format": "pt"})
        return
    per = math.ceil(len(names) / shards)
    wm, total = {}, 0
    for i in range(shards):
        fn = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        part = {n: sd[n] for n in names[i * per:(i + 1) * per]}
        save_file(part, os.path.join(path, fn), metadata={"format": "pt"})
        for n, t in part.items():
            wm[n] = fn
            total += t.numel() * t.element_size()
    with open(os.path.join(path, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": wm}, f, indent=2)


STATE = {}


def gen_case(name, shards=1, like=None):
    c = CASES[like or name]
    if (like or name) not in STATE:
        tok = train_tokenizer(c["tok"])
        n_tok = tok.get_vocab_size()
        sd = make_weights(c, n_tok)
        V = n_tok + c["extra_vocab"]
        STATE[like or name] = (tok, sd, V)
    tok, sd, V = STATE[like or name]
    write_dir(os.path.join(OUT, name), config_json(c, V, tok), tok, sd, shards)
    rng = np.random.default_rng(c["seed"])
    ids = [int(i) for i in rng.integers(0, V, c["T"])]
    ref = hf_logits(c, sd, ids)
    other = gguf_logits(c, sd, ids)
    rel = float((ref - other).abs().max() / ref.abs().max())
    assert rel < 1e-10, f"{name}: HF rotate_half reference and torch_llama (GGUF layout) differ by {rel:.3g}"
    if c["arch"] != "qwen2":   # the agreement means something: without the permutation they differ
        unperm = gguf_logits(c, sd, ids, permute_qk=False)
        off = float((ref - unperm).abs().max() / ref.abs().max())
        assert off > 1e-3, f"{name}: unpermuted q/k give the same logits ({off:.3g}): the check proves nothing"
    out = {"ids": torch.tensor(ids, dtype=torch.int32), "logits": ref.contiguous(),
           "tok_ids": torch.tensor(tok.encode(TEXT).ids, dtype=torch.int32)}
    if c["dtype"] == torch.bfloat16:
        emu = hf_logits(c, sd, ids, emu_bf16=True)
        out["logits_bf16"] = emu.contiguous()
        print(f"{name}: bf16 emulation differs from exact by {float((emu - ref).abs().max() / ref.abs().max()):.3g} "
              f"of max|logit|")
    save_file(out, os.path.join(OUT, name + ".ref.safetensors"), metadata={"text": TEXT})
    print(f"{name}: vocab {V}, T {len(ids)}, max|logit| {float(ref.abs().max()):.3f}; "
          f"HF vs torch_llama (GGUF layout) {rel:.2e}")


@case
def gen_llama():
    gen_case("llama")


@case
def gen_llama_sharded():
    gen_case("llama_sharded", shards=3, like="llama")


@case
def gen_mistral():
    gen_case("mistral")


@case
def gen_qwen2():
    gen_case("qwen2")


# ---------------------------------------------------------------- malformed directories

def bad_copy(name, src="llama"):
    d = os.path.join(OUT, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    shutil.copytree(os.path.join(OUT, src), d)
    return d


def edit_config(d, **kv):
    p = os.path.join(d, "config.json")
    cfg = json.load(open(p))
    cfg.update(kv)
    json.dump(cfg, open(p, "w"), indent=2)


def rewrite_weights(d, fn):
    """Load model.safetensors of d, let fn edit the dict, write it back."""
    from safetensors.torch import load_file
    p = os.path.join(d, "model.safetensors")
    sd = load_file(p)
    fn(sd)
    save_file(sd, p, metadata={"format": "pt"})


@case
def gen_malformed():
    rows = []
    up = "model.layers.1.mlp.up_proj.weight"

    d = bad_copy("bad_missing_tensor")
    rewrite_weights(d, lambda sd: sd.pop(up))
    rows.append((d, [d + "/model.safetensors", up, "missing"]))

    d = bad_copy("bad_shape")
    rewrite_weights(d, lambda sd: sd.__setitem__(up, sd[up][:63].contiguous()))
    rows.append((d, [d + "/model.safetensors", up, "[63, 32]", "[64, 32]", "intermediate_size 64"]))

    d = bad_copy("bad_dtype")
    rewrite_weights(d, lambda sd: sd.__setitem__(up, sd[up].double()))
    rows.append((d, [d + "/model.safetensors", up, "F64"]))

    d = bad_copy("bad_extra_tensor")
    rewrite_weights(d, lambda sd: sd.__setitem__("model.layers.0.self_attn.o_proj.bias", torch.zeros(32)))
    rows.append((d, [d + "/model.safetensors", "model.layers.0.self_attn.o_proj.bias", "not used"]))

    d = bad_copy("bad_extra_layer")
    rewrite_weights(d, lambda sd: sd.__setitem__("model.layers.2.input_layernorm.weight", torch.ones(32)))
    rows.append((d, ["model.layers.2.input_layernorm.weight", "num_hidden_layers 2"]))

    d = bad_copy("bad_no_weights")
    os.remove(os.path.join(d, "model.safetensors"))
    rows.append((d, [d, "model.safetensors", "model.safetensors.index.json"]))

    d = bad_copy("bad_no_config")
    os.remove(os.path.join(d, "config.json"))
    rows.append((d, [d + "/config.json", "missing"]))

    d = bad_copy("bad_no_tokenizer")
    os.remove(os.path.join(d, "tokenizer.json"))
    rows.append((d, [d + "/tokenizer.json", "missing"]))

    d = bad_copy("bad_kv_heads")
    edit_config(d, num_key_value_heads=3)
    rows.append((d, [d + "/config.json", "num_key_value_heads", "3"]))

    d = bad_copy("bad_act")
    edit_config(d, hidden_act="gelu")
    rows.append((d, [d + "/config.json", "hidden_act", "gelu"]))

    d = bad_copy("bad_rope_scaling")
    edit_config(d, rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                 "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})
    rows.append((d, [d + "/config.json", "rope_scaling", "llama3"]))

    d = bad_copy("bad_vocab")   # config says fewer rows than the tokenizer has
    edit_config(d, vocab_size=300)
    rows.append((d, [d + "/model.safetensors", "model.embed_tokens.weight", "vocab_size 300"]))

    d = bad_copy("bad_attention_bias")
    edit_config(d, attention_bias=True)
    rows.append((d, [d + "/config.json", "attention_bias", "o_proj"]))

    d = bad_copy("bad_qwen2_window", "qwen2")   # transformers: layers >= max_window_layers slide
    edit_config(d, use_sliding_window=True, sliding_window=4, max_window_layers=1)
    rows.append((d, [d + "/config.json", "max_window_layers", "1 of 2 layers"]))

    # sharded: an index entry pointing at the wrong shard, a shard the index does not know,
    # a shard that does not exist
    idx = "model.safetensors.index.json"
    d = bad_copy("bad_index_wrong_shard", "llama_sharded")
    j = json.load(open(os.path.join(d, idx)))
    j["weight_map"]["model.embed_tokens.weight"] = "model-00002-of-00003.safetensors"
    json.dump(j, open(os.path.join(d, idx), "w"))
    rows.append((d, [d + "/" + idx, "model.embed_tokens.weight", "model-00002-of-00003.safetensors"]))

    d = bad_copy("bad_index_unlisted", "llama_sharded")
    j = json.load(open(os.path.join(d, idx)))
    del j["weight_map"]["model.norm.weight"]
    json.dump(j, open(os.path.join(d, idx), "w"))
    rows.append((d, ["model.norm.weight", "does not list", idx]))

    d = bad_copy("bad_index_no_shard", "llama_sharded")
    os.remove(os.path.join(d, "model-00003-of-00003.safetensors"))
    rows.append((d, [d + "/model-00003-of-00003.safetensors"]))

    d = bad_copy("bad_index_path", "llama_sharded")
    j = json.load(open(os.path.join(d, idx)))
    j["weight_map"]["model.norm.weight"] = "../model-00003-of-00003.safetensors"
    json.dump(j, open(os.path.join(d, idx), "w"))
    rows.append((d, [d + "/" + idx, "model.norm.weight", "../model-00003-of-00003.safetensors"]))

    with open(os.path.join(OUT, "malformed.tsv"), "w") as f:
        for d, subs in rows:
            f.write("\t".join([os.path.basename(d)] + [s.replace(d, "{dir}") for s in subs]) + "\n")
    print(f"{len(rows)} malformed directories")


if __name__ == "__main__":
    main()
