"""`edgetune tokenizer train` against PyPI tokenizers' BpeTrainer, and `edgetune tokenize`.

Text: build/golden/tok/corpus.txt, GLib's message catalogs in 16 languages (written by
tests/py/gen_tok.py, which runs first; this test fails if it is missing).

Tolerance: none.  Both trainers merge the pair with the highest count, ties broken by the
smaller (left id, right id), on the same line-by-line pre-tokenized word counts, so the merge
lists and vocabularies must be identical, for each of the GPT-2, Llama 3 and Qwen2
pre-tokenizers.  The trained vocabulary, loaded back into tokenizers, must give the same ids
as `edgetune tokenize` on the whole file, and training twice must give identical bytes.

Speed (not a test case; the figure quoted in engine/tok/bpe_train.h), on the pretraining
corpus that `make corpus` builds:
    head -c 10000000 build/corpus/train.txt > /tmp/10mb.txt
    build/edgetune tokenizer train --text /tmp/10mb.txt --vocab-size 8192 --out /tmp/10mb.tok
"""
import atexit
import filecmp
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BUILD, ET, ROOT, case, main  # noqa: E402

CORPUS = os.path.join(ROOT, "build", "golden", "tok", "corpus.txt")
VOCAB = 2000
REGEX = {
    "llama3": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    "qwen2": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
}
TMP = tempfile.mkdtemp(prefix="et_tok_train_")
atexit.register(shutil.rmtree, TMP, True)


def run(*args, check=True):
    p = subprocess.run([ET, *args], capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError(f"edgetune {' '.join(args)} exited {p.returncode}: {p.stderr.strip()}")
    return p


def hf_train(family):
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE())
    if family == "gpt2":
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    else:
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(REGEX[family]), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=["<|endoftext|>"], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train([CORPUS], trainer)
    return tok


def compare(family):
    assert os.path.exists(CORPUS), f"{CORPUS} missing: run tests/py/gen_tok.py"
    out = os.path.join(TMP, family + ".json")
    run("tokenizer", "train", "--text", CORPUS, "--vocab-size", str(VOCAB), "--pretok", family,
        "--special", "<|endoftext|>", "--out", out, "--quiet")
    hf = json.loads(hf_train(family).to_str())
    me = json.load(open(out, encoding="utf-8"))
    hm = [" ".join(m) if isinstance(m, list) else m for m in hf["model"]["merges"]]
    mm = me["model"]["merges"]
    assert len(mm) > 1000, f"only {len(mm)} merges"
    for i, (a, b) in enumerate(zip(hm, mm)):
        assert a == b, f"{family}: merge {i} differs: tokenizers {a!r}, edgetune {b!r}"
    assert len(hm) == len(mm), f"{family}: {len(hm)} merges vs {len(mm)}"
    assert hf["model"]["vocab"] == me["model"]["vocab"], f"{family}: vocabularies differ"
    return out


@case
def train_gpt2_matches_tokenizers():
    compare("gpt2")


@case
def train_llama3_matches_tokenizers():
    compare("llama3")


@case
def train_qwen2_matches_tokenizers():
    out = compare("qwen2")
    # the exported tokenizer.json loads in tokenizers and encodes the whole file as we do
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(out)
    text = open(CORPUS, encoding="utf-8").read()
    want = tok.encode(text).ids
    got = [int(x) for x in run("tokenize", "--tokenizer", out, "--text", CORPUS).stdout.split()]
    assert got == want, f"edgetune tokenize: {len(got)} ids vs {len(want)} from tokenizers"
    ratio = len(text.encode("utf-8")) / len(got)
    assert ratio > 2.0, f"compression {ratio:.2f} bytes/token"


@case
def train_is_deterministic_and_our_format_reloads():
    assert os.path.exists(CORPUS), f"{CORPUS} missing"
    a, b = os.path.join(TMP, "a.tok"), os.path.join(TMP, "b.tok")
    for out in (a, b):
        run("tokenizer", "train", "--text", CORPUS, "--vocab-size", "1000", "--out", out, "--quiet")
    assert filecmp.cmp(a, b, shallow=False), "two trainings gave different files"
    info = run("tokenizer", "info", "--tokenizer", a).stdout
    assert "vocabulary: 1000" in info and "pre-tokenizer: gpt2" in info and "eos: 0" in info, info
    # our format -> tokenizer.json -> same ids
    j = os.path.join(TMP, "a.json")
    run("tokenizer", "convert", "--tokenizer", a, "--out", j)
    ids_a = run("tokenize", "--tokenizer", a, "--text", CORPUS).stdout
    ids_j = run("tokenize", "--tokenizer", j, "--text", CORPUS).stdout
    assert ids_a == ids_j and len(ids_a.split()) > 10000


@case
def tokenize_model_gguf_matches_sentencepiece():
    # spm.gguf: the SentencePiece vocabulary of gen_tok.py written by the PyPI gguf package
    import sentencepiece as spm
    model = os.path.join(ROOT, "build", "golden", "tok", "spm")
    assert os.path.exists(model + ".gguf"), f"{model}.gguf missing: run tests/py/gen_tok.py"
    sp = spm.SentencePieceProcessor(model_file=model + ".model")
    text = open(CORPUS, encoding="utf-8").read()
    want = [sp.bos_id()] + sp.encode(text)
    got = [int(x) for x in run("tokenize", "--model", model + ".gguf", "--text", CORPUS).stdout.split()]
    assert got == want, f"{len(got)} ids vs {len(want)} from sentencepiece"


@case
def cli_rejects_bad_input():
    bad = os.path.join(TMP, "bad.tok")
    with open(bad, "wb") as f:
        f.write(b"ETOK\x01\x00\x00\x00garbage")
    p = run("tokenize", "--tokenizer", bad, "--text", CORPUS, check=False)
    assert p.returncode == 1 and bad in p.stderr, (p.returncode, p.stderr)
    p = run("tokenizer", "train", "--text", CORPUS, "--vocab-size", "12", "--out", bad, check=False)
    assert p.returncode == 2 and "vocab-size" in p.stderr, (p.returncode, p.stderr)
    p = run("tokenizer", "train", "--text", "/nonexistent/x.txt", "--vocab-size", "300", "--out", bad, check=False)
    assert p.returncode == 1 and "/nonexistent/x.txt" in p.stderr, (p.returncode, p.stderr)
    p = run("tokenize", "--text", CORPUS, check=False)
    assert p.returncode == 2, p.returncode


if __name__ == "__main__":
    main()
