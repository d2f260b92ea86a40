"""`make corpus`: assemble the pretraining corpus for the built-in base models from Debian
packages of real English text, exclude everything the study's tasks evaluate on, and write
an n-gram contamination report the build checks against a stated threshold.

    /usr/bin/python3 tools/data/corpus.py [--data build/data] [--out build/corpus]

Sources (tools/deps-study.txt; disjoint from the task sources: r-cran-dslabs, fortunes*,
apt's package lists):
  r-cran-janeaustenr   six novels, one document per chapter
  r-cran-tokenizers    Moby-Dick, one document per chapter (Gutenberg header/footer cut)
  sword-text-web       World English Bible, one document per chapter
  dict-foldoc          computing dictionary, one document per entry ({cross-ref} braces cut)
  dict-jargon          Jargon File, one document per entry
  wordnet-base         WordNet glosses, one document per 64 synsets of one data file

Output (plain UTF-8):  train.txt and heldout.txt hold documents, each followed by a line
holding only U+001E (ASCII record separator); paragraphs inside a document are separated by
one empty line.  A document goes to heldout.txt when the first 8 hex digits of
sha256("<source>:<doc id>") taken mod 100 fall below HELDOUT_PERCENT.

Exclusion and contamination: every text a test record shows a model (the query's input and
gold output fields, the distractor quotation, the user's profile items; from
build/data/<task>/eval_texts.json) is cut into word 8-grams (texts shorter than 8 words,
but at least MIN_SHORT words, count as one n-gram of their own length).  A corpus paragraph
containing any of those n-grams is dropped.  Afterwards the written files are read back and
contamination.json counts, per task, the test queries and the profiles that still share an
n-gram with the corpus; the build fails when a fraction exceeds MAX_CONTAMINATION.
"""
import argparse
import glob
import hashlib
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import deb  # noqa: E402
import rdata  # noqa: E402
import textsrc  # noqa: E402

N = 8                   # n-gram length of the contamination check
MIN_SHORT = 4           # shorter eval texts (synopses of 2-3 words) cannot be checked
MAX_CONTAMINATION = 0.0  # fraction of test queries / profiles allowed to share an n-gram
HELDOUT_PERCENT = 3
SEP = "\x1e"
WORDNET_GROUP = 64

R_LIB = "/usr/lib/R/site-library"
SWORD_WEB = "/usr/share/sword/modules/texts/ztext/engWEB2015eb"
DICTD = "/usr/share/dictd"
WORDNET = "/usr/share/wordnet"
TEXT_STATUS = {   # what the package's copyright file says about the text itself
    "r-cran-janeaustenr": "novels by Jane Austen (public domain text; package MIT)",
    "r-cran-tokenizers": "Moby-Dick by Herman Melville, Project Gutenberg (public domain)",
    "sword-text-web": "World English Bible (public domain)",
    "dict-foldoc": "FOLDOC, Free On-line Dictionary of Computing (GFDL 1.1 or later; Debian's "
                   "added entries: verbatim copies)",
    "dict-jargon": "Jargon File 4.4.7 (public domain)",
    "wordnet-base": "WordNet 3.0 glosses (WordNet 3.0 licence)",
}


# ---------------------------------------------------------------- documents per source

def paragraphs_from_lines(lines):
    """Join wrapped lines into paragraphs (blank lines separate paragraphs)."""
    paras, cur = [], []
    for line in lines:
        line = line.strip()
        if not line:
            if cur:
                paras.append(" ".join(cur))
            cur = []
        else:
            cur.append(line)
    if cur:
        paras.append(" ".join(cur))
    return paras


def chapters(lines, heading):
    """Split a book's lines at chapter headings; returns [(index, [paragraph])]."""
    out, cur = [], []
    for line in lines:
        if heading.match(line.strip()) and any(x.strip() for x in cur):
            out.append(cur)
            cur = []
        cur.append(line)
    if cur:
        out.append(cur)
    return [(i, paragraphs_from_lines(c)) for i, c in enumerate(out)]


def austen_docs(rdx):
    docs = []
    for book in rdata.lazyload_names(rdx):
        lines = [x or "" for x in rdata.lazyload(rdx, book)]
        for i, paras in chapters(lines, re.compile(r"^(CHAPTER|Chapter) [0-9IVXLC]+\.?$")):
            docs.append((f"{book}.{i}", paras))
    return docs


def gutenberg_body(text):
    text = text.replace("\r\n", "\n").lstrip("\ufeff")
    a = re.search(r"^\*\*\* ?START OF .*$", text, re.M)
    b = re.search(r"^\*\*\* ?END OF .*$", text, re.M)
    body = text[a.end() if a else 0:b.start() if b else len(text)]
    return re.sub(r"^End of (the )?Project Gutenberg.*$", "", body, flags=re.M | re.I)


def mobydick_docs(rdx):
    text = gutenberg_body("".join(x or "" for x in rdata.lazyload(rdx, "mobydick")))
    lines = text.split("\n")
    return [(f"mobydick.{i}", p) for i, p in
            chapters(lines, re.compile(r"^(CHAPTER \d+\.|Epilogue$|EPILOGUE$)"))]


def bible_docs(module_dir):
    docs = []
    for t in ("ot", "nt"):
        for cid, text in textsrc.read_ztext(module_dir, t):
            docs.append((cid, [p for p in text.split("\n") if p.strip()]))
    return docs


def dictd_docs(name):
    docs = []
    for i, (head, body) in enumerate(textsrc.read_dictd(os.path.join(DICTD, f"{name}.index"),
                                                        os.path.join(DICTD, f"{name}.dict.dz"))):
        # {braces} mark cross-references in FOLDOC and the Jargon File: keep the words
        body = re.sub(r"\{([^{}\n]*)\}", r"\1", body)
        docs.append((f"{name}.{i}", paragraphs_from_lines(body.split("\n"))))
    return docs


def wordnet_docs(wn_dir):
    docs = []
    for pos in ("noun", "verb", "adj", "adv"):
        rows = textsrc.read_wordnet_glosses(os.path.join(wn_dir, f"data.{pos}"))
        for g in range(0, len(rows), WORDNET_GROUP):
            paras = [f"{lemma}: {gloss}" for _, lemma, gloss in rows[g:g + WORDNET_GROUP]]
            docs.append((f"wordnet.{pos}.{g // WORDNET_GROUP}", paras))
    return docs


SOURCES = [
    ("r-cran-janeaustenr", lambda: austen_docs(f"{R_LIB}/janeaustenr/data/Rdata.rdx")),
    ("r-cran-tokenizers", lambda: mobydick_docs(f"{R_LIB}/tokenizers/data/Rdata.rdx")),
    ("sword-text-web", lambda: bible_docs(SWORD_WEB)),
    ("dict-foldoc", lambda: dictd_docs("foldoc")),
    ("dict-jargon", lambda: dictd_docs("jargon")),
    ("wordnet-base", lambda: wordnet_docs(WORDNET)),
]


# ---------------------------------------------------------------- n-grams

def ngrams(ws, n=N):
    """Keys of a word list's n-grams (the whole list when it is shorter than n but has at
    least MIN_SHORT words).  Keys are Python hashes of the joined words: the sets live in
    one process only, and a false match needs a 64-bit collision."""
    if len(ws) < n:
        return {hash(" ".join(ws))} if len(ws) >= MIN_SHORT else set()
    return {hash(" ".join(ws[i:i + n])) for i in range(len(ws) - n + 1)}


class EvalIndex:
    """The n-grams of every evaluation text, by task and by unit (test query / profile)."""

    def __init__(self, eval_sets):
        # eval_sets: {task: {"queries": {id: [texts]}, "profiles": {user: [texts]}}}
        self.units = {}         # (task, kind, id) -> set of keys
        self.unchecked = {}     # (task, kind) -> texts too short to check
        self.lengths = set()    # n-gram lengths present (N and the short lengths)
        for task, ev in sorted(eval_sets.items()):
            for kind in ("queries", "profiles"):
                self.unchecked[(task, kind)] = 0
                for uid, texts in sorted(ev.get(kind, {}).items()):
                    keys = set()
                    for t in texts:
                        ws = common.words(t)
                        if len(ws) < MIN_SHORT:
                            self.unchecked[(task, kind)] += 1
                        self.lengths.add(min(len(ws), N))
                        keys |= ngrams(ws)
                    self.units[(task, kind, uid)] = keys
        self.lengths = sorted(x for x in self.lengths if x >= MIN_SHORT)
        self.all = set().union(*self.units.values()) if self.units else set()

    def keys_in(self, ws):
        """The eval n-gram keys occurring in a word list (all lengths in use)."""
        found = set()
        for n in self.lengths:
            for i in range(len(ws) - n + 1):
                k = hash(" ".join(ws[i:i + n]))
                if k in self.all:
                    found.add(k)
        return found


def load_eval_sets(data_dir):
    out = {}
    for path in sorted(glob.glob(os.path.join(data_dir, "*", "eval_texts.json"))):
        with open(path, encoding="utf-8") as f:
            out[os.path.basename(os.path.dirname(path))] = json.load(f)
    return out


# ---------------------------------------------------------------- assembly

def heldout(source, doc_id):
    h = hashlib.sha256(f"{source}:{doc_id}".encode()).hexdigest()
    return int(h[:8], 16) % 100 < HELDOUT_PERCENT


def clean_paragraph(p):
    return re.sub(r"\s+", " ", p.replace(SEP, " ")).strip()


def assemble(sources, index):
    """Documents per split after exclusion, and per-source counts.
    sources: [(name, [(doc id, [paragraph])])]."""
    split = {"train": [], "heldout": []}
    stats = {}
    for name, docs in sources:
        st = {"documents": 0, "paragraphs": 0, "dropped_paragraphs": 0, "bytes": 0,
              "heldout_documents": 0}
        for doc_id, paras in docs:
            kept = []
            for p in paras:
                p = clean_paragraph(p)
                if not p:
                    continue
                if index.keys_in(common.words(p)):
                    st["dropped_paragraphs"] += 1
                    continue
                kept.append(p)
            if not kept:
                continue
            text = "\n\n".join(kept)
            which = "heldout" if heldout(name, doc_id) else "train"
            split[which].append(text)
            st["documents"] += 1
            st["heldout_documents"] += which == "heldout"
            st["paragraphs"] += len(kept)
            st["bytes"] += len(text.encode("utf-8"))
        stats[name] = st
    return split, stats


def write_split(path, docs):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for d in docs:
            f.write(d)
            f.write("\n" + SEP + "\n")


def read_split(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return [d.strip("\n") for d in text.split("\n" + SEP + "\n") if d.strip()]


def contamination(doc_texts, index):
    """The report: per task and kind, how many units share an n-gram with the corpus."""
    found = set()
    for d in doc_texts:
        for p in d.split("\n\n"):
            found |= index.keys_in(common.words(p))
    tasks = {}
    for (task, kind, uid), keys in index.units.items():
        t = tasks.setdefault(task, {})
        k = t.setdefault(kind, {"units": 0, "contaminated": 0, "ngrams": 0,
                                "ngrams_in_corpus": 0, "examples": []})
        hit = keys & found
        k["units"] += 1
        k["ngrams"] += len(keys)
        k["ngrams_in_corpus"] += len(hit)
        if hit:
            k["contaminated"] += 1
            if len(k["examples"]) < 5:
                k["examples"].append(uid)
    worst = 0.0
    for task, t in tasks.items():
        for kind, k in t.items():
            k["fraction"] = k["contaminated"] / k["units"] if k["units"] else 0.0
            k["texts_too_short_to_check"] = index.unchecked.get((task, kind), 0)
            worst = max(worst, k["fraction"])
    return {"n": N, "min_short_words": MIN_SHORT, "threshold": MAX_CONTAMINATION,
            "worst_fraction": worst, "pass": worst <= MAX_CONTAMINATION,
            "unit": "a test query (its input and output texts) or a test user's profile",
            "tasks": tasks}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="build/data")
    ap.add_argument("--out", default="build/corpus")
    args = ap.parse_args(argv)
    if not os.path.exists(os.path.join(args.data, "manifest.json")):
        print(f"corpus: {args.data}/manifest.json missing: run `make data` first", file=sys.stderr)
        return 1
    try:
        pkgs = {name: {"version": deb.package_version(name), "text": TEXT_STATUS[name],
                       **deb.package_licences(name)} for name, _ in SOURCES}
    except deb.DebError as e:
        print(f"corpus: {e}", file=sys.stderr)
        return 1
    # the manifest marks a finished, checked build: drop the old one before touching files
    if os.path.exists(os.path.join(args.out, "manifest.json")):
        os.remove(os.path.join(args.out, "manifest.json"))
    index = EvalIndex(load_eval_sets(args.data))
    sources = [(name, fn()) for name, fn in SOURCES]
    split, stats = assemble(sources, index)
    os.makedirs(args.out, exist_ok=True)
    for which, docs in split.items():
        write_split(os.path.join(args.out, f"{which}.txt"), docs)
    # the check reads the written files back, independently of the filter above
    written = read_split(os.path.join(args.out, "train.txt")) + \
        read_split(os.path.join(args.out, "heldout.txt"))
    report = contamination(written, index)
    report["excluded_paragraphs_by_source"] = {k: v["dropped_paragraphs"]
                                               for k, v in sorted(stats.items())}
    common.write_json(os.path.join(args.out, "contamination.json"), report)
    tot = {w: sum(len(d.encode("utf-8")) for d in docs) for w, docs in split.items()}
    print(f"corpus: train {len(split['train'])} docs {tot['train'] / 1e6:.1f} MB, heldout "
          f"{len(split['heldout'])} docs {tot['heldout'] / 1e6:.1f} MB, dropped paragraphs "
          f"{sum(s['dropped_paragraphs'] for s in stats.values())}; contamination worst "
          f"{report['worst_fraction']:.4f} (threshold {MAX_CONTAMINATION})")
    if not report["pass"]:
        # no manifest: `make corpus` stays out of date until the cause is fixed
        print(f"corpus: contamination above threshold, see {args.out}/contamination.json",
              file=sys.stderr)
        return 1
    with open(os.path.join(args.data, "manifest.json"), encoding="utf-8") as f:
        data_manifest = json.load(f)
    common.write_json(os.path.join(args.out, "manifest.json"), {
        "format": "edgetune-corpus", "version": common.MANIFEST_VERSION,
        "document_separator": "a line holding only U+001E after every document",
        "heldout_rule": f"int(sha256('<source>:<doc id>')[:8], 16) % 100 < {HELDOUT_PERCENT}",
        "prompt_shaped_documents": False,
        "sources": pkgs, "stats": stats,
        "excluded_task_sources": data_manifest.get("task_sources", {}),
        "data_manifest_sha256": common.sha256_file(os.path.join(args.data, "manifest.json")),
        "files": common.hash_tree(args.out)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
