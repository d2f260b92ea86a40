"""Goldens for tests/test_metrics.c and tests/test_rag.c, from the reference packages:

  build/golden/metrics_rouge.json  rouge-score 0.1.2 (RougeScorer(["rouge1", "rougeL"]),
                                   use_stemmer=False, its default tokenizer), the package
                                   LaMP's evaluation calls through evaluate("rouge");
  build/golden/metrics_f1.json     sklearn-style macro-F1 over all labels, written out here
                                   from its definition (sklearn is not a dependency);
  build/golden/rag_bm25.json       rank_bm25 0.2.2 BM25Okapi at its defaults (LaMP's
                                   retriever) over our retrieval tokenizer's words.

Texts: fixed edge cases, seeded random word strings, and, when `make data` has run, real
synopsis pairs and profiles from build/data (so the C code is checked on the study's text).
"""
import json
import os
import random
import re
import sys

from rank_bm25 import BM25Okapi
from rouge_score import rouge_scorer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "build", "golden")
DATA = os.path.join(ROOT, "build", "data")

EDGE = [
    ("The cat sat on the mat", "the cat is on the mat"),
    ("", "nothing predicted"),
    ("only prediction", ""),
    ("", ""),
    ("!!! ??? ...", "punctuation only"),
    ("Library for ÜTF-8 café naïve text", "library for utf 8 cafe naive text"),
    ("İstanbul and the \u212aelvin sign", "istanbul kelvin sign"),
    ("a a a b b", "a b b b c"),
    ("x_y-z 3.14 v2", "x y z 3 14 v2"),
    ("tab\tseparated\nnew line", "tab separated new line"),
]

WORDS = ("library tool for the a of and data file python module x11 gnome kde server "
         "client daemon network text editor font image audio video utility").split()


def rand_text(rng, lo, hi):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))


def rag_tokens(text):
    """Mirror of et_rag_tokenize: ASCII lower-cased; [A-Za-z0-9] and non-ASCII bytes form
    words, everything else separates."""
    b = text.encode("utf-8")
    out, cur = [], bytearray()
    for c in b:
        if c >= 0x80 or chr(c).isalnum() and c < 0x80:
            cur.append(c + 32 if 65 <= c <= 90 else c)
        elif cur:
            out.append(cur.decode("utf-8", "surrogateescape")); cur = bytearray()
    if cur:
        out.append(cur.decode("utf-8", "surrogateescape"))
    return out


def load(task, name):
    p = os.path.join(DATA, task, name)
    if not os.path.exists(p):
        return None
    with open(p, encoding="utf-8") as f:
        return json.load(f)


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = random.Random("gen_metrics:1")
    scorer = rouge_scorer.RougeScorer(["rouge1", "rougeL"])
    pairs = list(EDGE) + [(rand_text(rng, 0, 12), rand_text(rng, 0, 12)) for _ in range(200)]
    syn = load("synopsis", "test.json")
    if syn:
        for r in syn[:150]:
            pairs.append((r["profile"][0]["title"], r["output"]))
            pairs.append((r["input"][-200:], r["output"]))
    rouge = []
    for pred, ref in pairs:
        s = scorer.score(ref, pred)     # score(target, prediction)
        rouge.append({"pred": pred, "ref": ref,
                      "r1": [s["rouge1"].precision, s["rouge1"].recall, s["rouge1"].fmeasure],
                      "rl": [s["rougeL"].precision, s["rougeL"].recall, s["rougeL"].fmeasure]})
    with open(os.path.join(OUT, "metrics_rouge.json"), "w") as f:
        json.dump(rouge, f)

    f1cases = []
    for _ in range(50):
        k = rng.randint(2, 12)
        n = rng.randint(1, 40)
        gold = [rng.randrange(k) for _ in range(n)]
        pred = [g if rng.random() < 0.4 else rng.randrange(k) for g in gold]
        f1s = []
        for c in range(k):
            tp = sum(p == c and g == c for p, g in zip(pred, gold))
            fp = sum(p == c and g != c for p, g in zip(pred, gold))
            fn = sum(p != c and g == c for p, g in zip(pred, gold))
            f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
        f1cases.append({"k": k, "pred": pred, "gold": gold, "macro_f1": sum(f1s) / k,
                        "accuracy": sum(p == g for p, g in zip(pred, gold)) / n})
    with open(os.path.join(OUT, "metrics_f1.json"), "w") as f:
        json.dump(f1cases, f)

    bm = []
    corpora = []
    for _ in range(30):
        docs = [rand_text(rng, 0, 25) for _ in range(rng.randint(1, 40))]
        corpora.append((docs, rand_text(rng, 1, 8)))
    corpora.append((["same words", "same words", "same words"], "same"))   # all ties
    corpora.append((["Ünïcode wörds", "unicode words", "UNICODE"], "unicode wörds"))
    for task, field in (("section", "description"), ("synopsis", "text"), ("rating", "text"),
                        ("attribution", "text")):
        recs = load(task, "test.json")
        if recs:
            for r in recs[:120:12]:
                corpora.append(([it[field] for it in r["profile"]], r["input"]))
    for docs, query in corpora:
        model = BM25Okapi([rag_tokens(d) or [] for d in docs]) if any(rag_tokens(d) for d in docs) else None
        if model is None:
            continue    # rank_bm25 divides by zero on an all-empty corpus; ours scores 0
        scores = [float(s) for s in model.get_scores(rag_tokens(query))]
        order = sorted(range(len(docs)), key=lambda i: (-scores[i], i))
        bm.append({"docs": docs, "query": query, "scores": scores, "top": order[:8]})
    with open(os.path.join(OUT, "rag_bm25.json"), "w") as f:
        json.dump(bm, f)
    print(f"PASS gen_metrics ({len(rouge)} rouge pairs, {len(f1cases)} f1 cases, "
          f"{len(bm)} bm25 corpora)")


if __name__ == "__main__":
    sys.exit(main())
