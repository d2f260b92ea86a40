"""edgetune's built-in base models in llama.cpp (part of `make check-real`, issue 7): each of
build/models/{tiny,small,medium}.gguf must load in llama.cpp (llama-cpp-python), tokenize a
held-out text as edgetune does, give the same next-token logits, and generate.

  python tools/check_models_llamacpp.py REAL_LOGITS MODELS_DIR CORPUS_DIR WORKDIR

REAL_LOGITS is tools/real_logits.c's binary: edgetune's token ids and logits at every
position of the text.  llama.cpp evaluates the same ids (logits for all positions, K/V cache
in f32 so neither engine rounds the cache).  Both read the same f32 weights and compute in
f32, so they differ only by summation order.  Checks (measured figures are printed):
  - the model loads; llama.cpp's tokenization of the text equals edgetune's ids
  - per position RMS_v(l_et - l_lc) / std_v(l_lc): maximum <= 1e-4 (measured ~7e-7: f32 reassociation over
    sums of a few hundred terms is ~1e-6 relative; a wrong rope mode, norm or head moves
    logits by O(std))
  - the argmax agrees at >= 99% of positions (only near-ties may flip)
  - greedy generation from a prompt prints text (shown; not checked: the models are small)
Exit 0 and a notice if llama_cpp or numpy cannot be imported; 1 on a failed check.
"""
import os
import struct
import subprocess
import sys

try:
    import numpy as np
    import llama_cpp
except ImportError as e:
    print(f"check-real models: llama.cpp comparison skipped ({e}); `make venv-lcpp` builds llama-cpp-python")
    sys.exit(0)

TOOL, MODELS, CORPUS, WORK = sys.argv[1:5]
os.makedirs(WORK, exist_ok=True)
with open(os.path.join(CORPUS, "heldout.txt"), encoding="utf-8") as f:
    held = f.read()
# a paragraph-aligned window of the held-out text, ~1500 characters (a few hundred tokens)
start = held.find("\n\n", 10000) + 2
text = held[start:start + 1500]
text = text[: text.rfind(" ")]
tpath = os.path.join(WORK, "text.txt")
with open(tpath, "w", encoding="utf-8") as f:
    f.write(text)


def read_etlg(path):
    with open(path, "rb") as f:
        magic, ver, T, V = struct.unpack("<4sIii", f.read(16))
        assert magic == b"ETLG" and ver == 1, (magic, ver)
        ids = np.frombuffer(f.read(4 * T), dtype="<i4").copy()
        lg = np.frombuffer(f.read(4 * T * V), dtype="<f4").reshape(T, V).astype(np.float64)
    return ids, lg


failed = 0
for name in ("tiny", "small", "medium"):
    model = os.path.join(MODELS, name + ".gguf")
    if not os.path.exists(model):
        print(f"FAIL {name}: {model} missing (make models)")
        failed += 1
        continue
    out = os.path.join(WORK, name + ".etlg")
    r = subprocess.run([TOOL, "--model", model, "--text", tpath, "--out", out, "--gen", "0"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print(f"FAIL {name}: real_logits: {r.stderr.strip()[-300:]}")
        failed += 1
        continue
    ids, et = read_etlg(out)
    try:
        llm = llama_cpp.Llama(model_path=model, n_ctx=1024, logits_all=True, verbose=False, n_threads=2,
                              type_k=0, type_v=0)   # GGML_TYPE_F32 cache
    except Exception as e:  # noqa: BLE001 - any failure to load is the finding
        print(f"FAIL {name}: llama.cpp cannot load it: {e}")
        failed += 1
        continue
    lc_ids = llm.tokenize(text.encode("utf-8"), add_bos=ids[0] == llm.token_bos(), special=False)
    same_tok = list(lc_ids) == ids.tolist()
    print(f"{'PASS' if same_tok else 'FAIL'} {name}_tokenize: {len(ids)} tokens, llama.cpp "
          f"{'the same ids' if same_tok else f'{len(lc_ids)} tokens, first difference at ' + str(next((i for i, (a, b) in enumerate(zip(lc_ids, ids)) if a != b), min(len(lc_ids), len(ids))))}")
    failed += not same_tok
    llm.reset()
    llm.eval(ids.tolist())
    lc = np.array(llm.scores[: len(ids)], dtype=np.float64)
    rms = np.sqrt(((et - lc) ** 2).mean(axis=1)) / lc.std(axis=1)
    top1 = float((et.argmax(1) == lc.argmax(1)).mean())
    ok = rms.max() <= 1e-4 and top1 >= 0.99
    print(f"{'PASS' if ok else 'FAIL'} {name}_logits: RMS/std median {np.median(rms):.2e}, max {rms.max():.2e} "
          f"(bound 1e-4); top-1 agreement {100 * top1:.1f}% (bound 99%)")
    failed += not ok
    gen = llm.create_completion("The old man said", max_tokens=24, temperature=0.0)["choices"][0]["text"]
    print(f"  {name} in llama.cpp, greedy: 'The old man said{gen}'")
    del llm
print(f"check-real models: {'all checks passed' if not failed else f'{failed} check(s) failed'}")
sys.exit(1 if failed else 0)
