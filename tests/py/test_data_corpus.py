"""Corpus assembly and the contamination check (tools/data/corpus.py) on fixture documents:
n-gram keys (8-grams, short texts whole), the exclusion of paragraphs that share an n-gram
with an evaluation text, the report's counts (exact: they are counts), the pass/fail
threshold, the document separator round trip and the deterministic held-out rule.
"""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tools", "data"))
from harness import case, main  # noqa: E402
import common  # noqa: E402
import corpus  # noqa: E402

TMP = tempfile.mkdtemp(prefix="et_data_corpus_")

QUOTE = "Always do right. This will gratify some people and astonish the rest."
EVAL = {"attribution": {"queries": {"attribution-000-test0": [QUOTE, "an unrelated other one"]},
                        "profiles": {"Mark Twain": ["Get your facts first, then you can "
                                                    "distort them as you please."]}},
        "synopsis": {"queries": {"synopsis-000-test0": ["Esperanto dictionary for aspell"]},
                     "profiles": {}}}


@case
def ngram_keys():
    ws = common.words("One two three four five six seven eight nine")
    assert len(corpus.ngrams(ws)) == 2, "9 words hold two 8-grams"
    assert len(corpus.ngrams(ws[:5])) == 1, "a 5-word text is one n-gram of its own"
    assert corpus.ngrams(ws[:3]) == set(), "3 words are too short to check"
    assert common.words("Don't STOP, it's 42!") == ["don't", "stop", "it's", "42"]


@case
def contaminated_paragraphs_are_dropped():
    idx = corpus.EvalIndex(EVAL)
    docs = [("a", ["A clean paragraph about whales and the sea.",
                   # the quotation embedded with different case and punctuation
                   "He said: ALWAYS do right -- this will gratify some people, and astonish "
                   "the rest; then he left.",
                   "Another clean one."]),
            ("b", ["The Esperanto dictionary for aspell is a package."]),   # short text hit
            ("c", ["get your facts first then you can distort them as you please"])]
    split, stats = corpus.assemble([("src", docs)], idx)
    all_docs = split["train"] + split["heldout"]
    assert stats["src"]["dropped_paragraphs"] == 3, stats
    assert stats["src"]["documents"] == 1 and len(all_docs) == 1, all_docs
    assert all_docs[0] == "A clean paragraph about whales and the sea.\n\nAnother clean one."
    rep = corpus.contamination(all_docs, idx)
    assert rep["pass"] and rep["worst_fraction"] == 0.0, rep
    assert rep["tasks"]["attribution"]["queries"]["units"] == 1
    assert rep["tasks"]["attribution"]["queries"]["texts_too_short_to_check"] == 0


@case
def report_counts_contamination_and_fails():
    idx = corpus.EvalIndex(EVAL)
    dirty = ["Intro.\n\nThis will gratify some people and astonish the rest of them.",
             "Some Esperanto dictionary for aspell users."]
    rep = corpus.contamination(dirty, idx)
    q = rep["tasks"]["attribution"]["queries"]
    # the 12-word quotation has five 8-grams (plus the 4-word distractor as one); the dirty
    # text holds its last 9 words, i.e. two of them
    assert q["contaminated"] == 1 and q["ngrams"] == 6 and q["ngrams_in_corpus"] == 2, q
    assert rep["tasks"]["attribution"]["profiles"]["contaminated"] == 0
    assert rep["tasks"]["synopsis"]["queries"]["contaminated"] == 1
    assert rep["worst_fraction"] == 1.0 and not rep["pass"], rep
    assert rep["threshold"] == corpus.MAX_CONTAMINATION


@case
def separator_round_trip_and_heldout_rule():
    docs = ["first doc\n\nwith two paragraphs", "second \x1e doc"]
    clean = [docs[0], corpus.clean_paragraph(docs[1])]
    assert clean[1] == "second doc", clean[1]
    p = os.path.join(TMP, "train.txt")
    corpus.write_split(p, clean)
    assert corpus.read_split(p) == clean
    with open(p, encoding="utf-8") as f:
        assert f.read() == "first doc\n\nwith two paragraphs\n\x1e\nsecond doc\n\x1e\n"
    ids = [f"doc{i}" for i in range(2000)]
    held = [i for i in ids if corpus.heldout("src", i)]
    assert held == [i for i in ids if corpus.heldout("src", i)], "held-out rule not stable"
    frac = len(held) / len(ids)
    # 2000 draws of a 3% coin: mean 60, sd ~7.6; 4 sd either side
    assert 0.015 < frac < 0.045, frac


@case
def chapters_and_gutenberg_body():
    text = ("\ufeffHeader junk\r\n*** START OF THIS PROJECT GUTENBERG EBOOK X ***\r\n"
            "CHAPTER 1. One.\r\n\r\nCall me\r\nIshmael.\r\n\r\nCHAPTER 2. Two.\r\n\r\nMore."
            "\r\nEnd of Project Gutenberg's X\r\n*** END OF THIS PROJECT GUTENBERG EBOOK X ***"
            "\r\nLicence text")
    body = corpus.gutenberg_body(text)
    assert "Header" not in body and "Licence" not in body and "End of Project" not in body
    import re
    ch = corpus.chapters(body.split("\n"), re.compile(r"^CHAPTER \d+\."))
    assert [p for _, p in ch] == [["CHAPTER 1. One.", "Call me Ishmael."],
                                  ["CHAPTER 2. Two.", "More."]], ch


main()
