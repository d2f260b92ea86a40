"""Goldens for tests/test_perplexity_cli.sh: `edgetune perplexity` (full and llama modes) and
`--kl-base` against an independent float64 PyTorch reference (tests/py/torch_llama.py).

In build/golden/ppl/:
  a.gguf      a random tiny llama model with a SentencePiece-style vocabulary that has BOS
              (tokenizer.ggml.bos_token_id 1, add_bos_token) -- written by the PyPI gguf package
  b.gguf      a.gguf with every weight perturbed by 5% noise: same vocabulary, a different
              next-token distribution (the "quantized" model of the KL check)
  c.gguf      a model with a different vocabulary (5 more tokens) and no BOS token
  ids.txt     100 whitespace-separated token ids
  ref.json    what the reference computes on ids.txt with a context of 32:
      full:  windows of 32 overlapping by one token, every token after the first scored
             (count 99), mean NLL and perplexity of a
      llama: llama.cpp's perplexity -- whole windows of 32 only (3 of them), the window's
             first token replaced by BOS, positions 16..30 predict the next token (count 45)
      kl:    over the full-mode positions: KL(a || b) per position (mean, median, p90, p99,
             max with numpy's linear-interpolation percentiles), top-1 agreement, and the
             perplexities of b and a
Everything is seeded; the files are reproducible.
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ROOT, case, main  # noqa: E402
import torch_llama  # noqa: E402
import gguf  # noqa: E402

OUT = os.path.join(ROOT, "build", "golden", "ppl")
F32 = np.float32
CFG = dict(arch="llama", dim=32, n_layers=2, n_heads=4, n_kv_heads=2, head_dim=8, ffn=64, tied=False,
           rope_theta=10000.0, rms_eps=1e-5, sliding_window=0)
CTX = 32
WORDS = ["\u2581the", "\u2581cat", "\u2581sat", "\u2581on", "\u2581mat", ".", "\u2581dog", "\u2581a", "\u2581and",
         "\u2581log", "\u2581my", "\u2581is", "\u2581blue", "\u2581red", "\u2581"]


def vocab(extra=0):
    toks = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + WORDS + [f"\u2581w{i}" for i in range(extra)]
    types = [2, 3, 3] + [6] * 256 + [1] * (len(WORDS) + extra)
    scores = [0.0] * 259 + [-float(i) for i in range(len(WORDS) + extra)]
    return toks, types, scores


def weights(c, rng):
    """Linear std 1.5/sqrt(in) (sharp but finite logits), norms near 1, embeddings std 0.5."""
    q, kv, dim, ffn = c["n_heads"] * c["head_dim"], c["n_kv_heads"] * c["head_dim"], c["dim"], c["ffn"]
    lin = lambda o, i: (1.5 * rng.standard_normal((o, i)) / np.sqrt(i)).astype(F32)  # noqa: E731
    norm = lambda n: (1.0 + 0.2 * rng.standard_normal(n)).astype(F32)  # noqa: E731
    w = {"token_embd.weight": (0.5 * rng.standard_normal((c["vocab"], dim))).astype(F32),
         "output_norm.weight": norm(dim), "output.weight": lin(c["vocab"], dim)}
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
    return w


def write(path, c, w, toks, types, scores, bos):
    g = gguf.GGUFWriter(path, "llama")
    g.add_uint32("llama.context_length", CTX)
    g.add_uint32("llama.embedding_length", c["dim"])
    g.add_uint32("llama.block_count", c["n_layers"])
    g.add_uint32("llama.feed_forward_length", c["ffn"])
    g.add_uint32("llama.attention.head_count", c["n_heads"])
    g.add_uint32("llama.attention.head_count_kv", c["n_kv_heads"])
    g.add_uint32("llama.attention.key_length", c["head_dim"])
    g.add_uint32("llama.attention.value_length", c["head_dim"])
    g.add_uint32("llama.rope.dimension_count", c["head_dim"])
    g.add_float32("llama.rope.freq_base", c["rope_theta"])
    g.add_float32("llama.attention.layer_norm_rms_epsilon", c["rms_eps"])
    g.add_tokenizer_model("llama")
    g.add_token_list(toks)
    g.add_token_types(types)
    g.add_token_scores(scores)
    g.add_unk_token_id(0)
    g.add_eos_token_id(2)
    if bos:
        g.add_bos_token_id(1)
        g.add_add_bos_token(True)
    else:
        g.add_add_bos_token(False)
    for name, arr in w.items():
        g.add_tensor(name, np.ascontiguousarray(arr))
    g.write_header_to_file()
    g.write_kv_data_to_file()
    g.write_tensors_to_file()
    g.close()


def logprobs(c, w, ids):
    """log-softmax of the logits of one sequence, (T, V), float64."""
    lg = torch_llama.Llama(c, w).logits(torch.tensor(np.asarray(ids)[None, :], dtype=torch.long))[0]
    return torch.log_softmax(lg, dim=-1)


def windows(n, mode):
    """(start, T, first) of each window, as edgetune and llama.cpp take them."""
    out, step, w0 = [], CTX if mode == "llama" else CTX - 1, 0
    while w0 + 1 < n:
        T = min(n - w0, CTX)
        if mode == "llama" and T < CTX:
            break
        out.append((w0, T, T // 2 if mode == "llama" else 0))
        if w0 + T >= n:
            break
        w0 += step
    return out


@case
def gen_ppl():
    rng = np.random.default_rng(41)
    toks, types, scores = vocab()
    c = dict(CFG, vocab=len(toks))
    wa = weights(c, rng)
    wb = {k: (v * (1 + 0.05 * rng.standard_normal(v.shape))).astype(F32) for k, v in wa.items()}
    os.makedirs(OUT, exist_ok=True)
    write(os.path.join(OUT, "a.gguf"), c, wa, toks, types, scores, True)
    write(os.path.join(OUT, "b.gguf"), c, wb, toks, types, scores, True)
    tc, yc, sc = vocab(5)
    write(os.path.join(OUT, "c.gguf"), dict(c, vocab=len(tc)), weights(dict(c, vocab=len(tc)), rng), tc, yc, sc, False)
    n = 100
    ids = rng.integers(3, len(toks), n).astype(np.int64)
    with open(os.path.join(OUT, "ids.txt"), "w") as f:
        f.write(" ".join(str(i) for i in ids) + "\n")
    ref = {}
    for mode in ("full", "llama"):
        nll, count = 0.0, 0
        for w0, T, first in windows(n, mode):
            win = ids[w0:w0 + T].copy()
            if mode == "llama":
                win[0] = 1                                      # BOS
            lp = logprobs(c, wa, win)
            for t in range(first, T - 1):
                nll -= float(lp[t, win[t + 1]])
                count += 1
        ref[mode] = dict(ctx=CTX, count=count, mean_nll=nll / count, ppl=float(np.exp(nll / count)))
    assert ref["full"]["count"] == 99 and ref["llama"]["count"] == 45, ref
    kl, agree, nll_a, nll_b, ent = [], 0, 0.0, 0.0, []
    for w0, T, first in windows(n, "full"):
        win = ids[w0:w0 + T]
        la, lb = logprobs(c, wa, win), logprobs(c, wb, win)
        for t in range(first, T - 1):
            kl.append(float((la[t].exp() * (la[t] - lb[t])).sum()))
            agree += int(la[t].argmax() == lb[t].argmax())
            ent.append(float(-(la[t].exp() * la[t]).sum()))
            nll_a -= float(la[t, win[t + 1]])
            nll_b -= float(lb[t, win[t + 1]])
    k = np.array(kl)
    ref["kl"] = dict(count=len(kl), mean=k.mean(), median=float(np.percentile(k, 50)), p90=float(np.percentile(k, 90)),
                     p99=float(np.percentile(k, 99)), max=k.max(), top1=agree / len(kl),
                     ppl=float(np.exp(nll_b / len(kl))), ppl_base=float(np.exp(nll_a / len(kl))))
    # the checks must be able to fail: the models differ measurably and are far from uniform
    assert 1e-3 < ref["kl"]["mean"] < 1.0 and ref["kl"]["top1"] < 1.0, ref["kl"]
    assert np.mean(ent) < np.log(len(toks)) - 0.5, np.mean(ent)
    with open(os.path.join(OUT, "ref.json"), "w") as f:
        json.dump(ref, f, indent=1)


if __name__ == "__main__":
    main()
