"""edgetune against llama.cpp on a real pretrained model (part of `make check-real`,
tools/real_model.mk): Gemma 3 270M Q4_K_M, next-token logits on a fixed English text, and
both engines' prefill and decode speed in the same run.

  python tools/check_real_llamacpp.py REAL_LOGITS MODEL.gguf WORKDIR

REAL_LOGITS is tools/real_logits.c's binary: edgetune's tokens and logits at every position
of the text, and its prefill / decode tokens/s through et_lm_generate_ex (greedy, the text
as the prompt, N new tokens).  llama.cpp (llama-cpp-python) evaluates the same text with
logits for all positions, then runs the same greedy loop (prompt, then one token per step).

Checks and tolerances.  Both engines read the very same quantized weights (Q8_0, Q5_0, Q4_K,
Q6_K); what differs is how each rounds on the way: llama.cpp quantizes activations to Q8_0 /
Q8_K blocks per dot-product type and keeps the KV cache in f16, edgetune quantizes
activations to int8 groups of 32 for every quantized matmul and keeps K/V in f32; the f32
sums run in different orders.  So the logits differ by a small fraction of their spread,
not by float rounding:
  - tokens: edgetune's tokenizer gives exactly llama.cpp's ids (BOS 2 first)
  - agreement: the argmax (top-1) token is the same at >= 90% of positions (near-ties flip)
  - closeness: per position, max_v |l_et - l_lc| / std_v(l_lc); its median over positions
    <= 0.10 and its maximum <= 0.25; and the mean KL(p_lc || p_et) <= 0.02 nats
(measured figures are printed; see the report of the commit that set these bounds).
Speeds are printed, not checked (a shared 2-core machine), as tokens/s of both engines and
their ratio.  Exit 0 and a notice if llama_cpp or numpy cannot be imported; 1 on a failed
check.
"""
import json
import os
import subprocess
import sys
import time

try:
    import numpy as np
    import llama_cpp
except ImportError as e:  # the check is optional: say why it did not run
    print(f"check-real gemma: llama.cpp comparison skipped ({e}); `make venv-lcpp` builds llama-cpp-python")
    sys.exit(0)

TOOL, MODEL, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
GEN = 32
REPS = 3
THREADS = int(os.environ.get("ET_THREADS", os.cpu_count() or 1))
TEXT = ("The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France. "
        "It is named after the engineer Gustave Eiffel, whose company designed and built the tower "
        "from 1887 to 1889. Locally nicknamed \"La dame de fer\" (French for \"Iron Lady\"), it was "
        "constructed as the centrepiece of the 1889 World's Fair, and to crown the centennial "
        "anniversary of the French Revolution. Although initially criticised by some of France's "
        "leading artists and intellectuals for its design, it has since become a global cultural "
        "icon of France and one of the most recognisable structures in the world.")
os.makedirs(WORK, exist_ok=True)
text_path, out_path = os.path.join(WORK, "text.txt"), os.path.join(WORK, "edgetune-logits.bin")
open(text_path, "w").write(TEXT)

# ---- edgetune -----------------------------------------------------------------------------
r = subprocess.run([TOOL, "--model", MODEL, "--text", text_path, "--out", out_path, "--gen", str(GEN),
                    "--reps", str(REPS), "--threads", str(THREADS)], capture_output=True, text=True)
if r.returncode != 0:
    print(f"FAIL edgetune_logits: {TOOL} exited {r.returncode}: {r.stderr.strip()}")
    sys.exit(1)
et_speed = json.loads(r.stdout.strip().splitlines()[-1])
et_text = [line for line in r.stdout.splitlines() if line.startswith("greedy continuation:")]
raw = open(out_path, "rb").read()
assert raw[:4] == b"ETLG", "bad logits file"
T, V = np.frombuffer(raw, np.int32, 2, 8)
et_ids = np.frombuffer(raw, np.int32, T, 16)
et_lg = np.frombuffer(raw, np.float32, T * V, 16 + 4 * T).reshape(T, V).astype(np.float64)

# ---- llama.cpp ----------------------------------------------------------------------------
llm = llama_cpp.Llama(model_path=MODEL, n_ctx=512, n_batch=512, logits_all=True, n_threads=THREADS,
                      verbose=False)
lc_ids = llm.tokenize(TEXT.encode(), add_bos=True, special=False)
llm.eval(lc_ids)
lc_lg = np.array(llm.scores[: len(lc_ids)], dtype=np.float64)
del llm

ok = True
same_ids = list(et_ids) == list(lc_ids)
if not same_ids:
    first = next((i for i, (a, b) in enumerate(zip(et_ids, lc_ids)) if a != b), min(len(et_ids), len(lc_ids)))
    print(f"FAIL tokens_match_llamacpp: {len(et_ids)} vs {len(lc_ids)} tokens, first difference at {first}: "
          f"edgetune {list(et_ids[first:first + 5])} llama.cpp {list(lc_ids[first:first + 5])}")
    ok = False
else:
    print(f"PASS tokens_match_llamacpp ({T} tokens, BOS {et_ids[0]})")

n = min(len(et_ids), len(lc_ids))
if not same_ids:       # compare up to the first difference only
    n = next((i for i, (a, b) in enumerate(zip(et_ids, lc_ids)) if a != b), n)
a, b = et_lg[:n], lc_lg[:n]
top1 = float(np.mean(a.argmax(1) == b.argmax(1)))
rel = np.abs(a - b).max(1) / b.std(1)
lpa = a - a.max(1, keepdims=True)
lpa -= np.log(np.exp(lpa).sum(1, keepdims=True))
lpb = b - b.max(1, keepdims=True)
lpb -= np.log(np.exp(lpb).sum(1, keepdims=True))
kl = float(np.mean((np.exp(lpb) * (lpb - lpa)).sum(1)))
print(f"logits over {n} positions x {V} tokens: top-1 agreement {top1 * 100:.1f}%, max|diff|/std per position: "
      f"median {np.median(rel):.4f}, max {rel.max():.4f} (at position {int(rel.argmax())}); "
      f"mean KL(llama.cpp || edgetune) {kl:.5f} nats; logit std {b.std(1).mean():.3f}")
good = n > 8 and top1 >= 0.90 and np.median(rel) <= 0.10 and rel.max() <= 0.25 and kl <= 0.02
print(("PASS" if good else "FAIL") + " logits_match_llamacpp")
ok &= bool(good)

# ---- speed, same run, same thread count ---------------------------------------------------
llm = llama_cpp.Llama(model_path=MODEL, n_ctx=len(lc_ids) + GEN + 8, n_batch=512, n_threads=THREADS,
                      n_threads_batch=THREADS, verbose=False)
pre, dec, toks = [], [], []
for rep in range(REPS + 1):       # one warm-up
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(lc_ids)
    tok = int(np.argmax(llm.scores[llm.n_tokens - 1]))
    t1 = time.perf_counter()
    out = [tok]
    for _ in range(GEN - 1):
        llm.eval([tok])
        tok = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        out.append(tok)
    t2 = time.perf_counter()
    if rep:
        pre.append(len(lc_ids) / (t1 - t0))
        dec.append((GEN - 1) / (t2 - t1))
        toks = out
lc_pre, lc_dec = float(np.median(pre)), float(np.median(dec))
print(f"llama.cpp {llama_cpp.__version__} greedy continuation: "
      f"{llm.detokenize(toks).decode('utf-8', 'replace')!r}")
if et_text:
    print(f"edgetune  {et_text[0]}")
print(f"speed ({THREADS} threads, {len(lc_ids)}-token prompt, {GEN} new tokens, median of {REPS}):")
print(f"  prefill  edgetune {et_speed['prefill_tok_s']:8.1f} tok/s   llama.cpp {lc_pre:8.1f} tok/s   "
      f"ratio {et_speed['prefill_tok_s'] / lc_pre:.2f}")
print(f"  decode   edgetune {et_speed['decode_tok_s']:8.1f} tok/s   llama.cpp {lc_dec:8.1f} tok/s   "
      f"ratio {et_speed['decode_tok_s'] / lc_dec:.2f}")
print(json.dumps(dict(bench="real_gemma3_270m", threads=THREADS, tokens=int(n), top1=top1,
                      rel_median=float(np.median(rel)), rel_max=float(rel.max()), kl=kl,
                      et_prefill_tok_s=et_speed["prefill_tok_s"], et_decode_tok_s=et_speed["decode_tok_s"],
                      lcpp_prefill_tok_s=lc_pre, lcpp_decode_tok_s=lc_dec)))
sys.exit(0 if ok else 1)
