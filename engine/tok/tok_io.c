/* Tokenizer files: our own binary format and Hugging Face's tokenizer.json.
 *
 * Our format (little-endian; every count and length is checked against the file size):
 *   "ETOK"  u32 version (1)
 *   u32 model (1 spm, 2 bpe)  u32 pretok  u32 chat
 *   i32 bos  i32 eos  i32 unk  i32 pad
 *   u32 flags (bit 0 add_bos, bit 1 add_eos, bit 2 add_dummy_prefix, bit 3 nfc,
 *              bit 4 prefix only at the input start, bit 5 no prefix before a space)
 *   u32 n_vocab  u32 n_merges
 *   n_vocab x { u32 len, len bytes, f32 score, u8 type }
 *   n_merges x { u32 left id, u32 right id }          (rank order)
 *
 * tokenizer.json: model.type "BPE" only.  Byte-level vocabularies (GPT-2 / Llama 3 / Qwen2
 * pre-tokenizer, recognized from the Split regex or ByteLevel(use_regex)) load as ET_TOK_BPE.
 * Vocabularies with byte_fallback (Llama 1/2 exports) load as ET_TOK_SPM with each piece scored
 * by the rank of the merge that makes it (-rank), which merges in the same order.
 * added_tokens become CONTROL (special) or USER_DEFINED tokens.  Normalizers: Prepend('▁')
 * (SPM dummy prefix) and NFC are applied; others (rare in LLM tokenizers) are ignored.  A
 * Metaspace pre-tokenizer (newer SentencePiece-style exports) gives the dummy prefix with
 * tokenizers' rules: never before a leading space, and with prepend_scheme "first" only at
 * the start of the input, not after special tokens.  Saving to .json is supported
 * for byte-level BPE, the kind our trainer makes, so Hugging Face tools can read it.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tok/tok_internal.h"

#define ET__TOK_MAX_FILE ((long)1 << 31)

static const char *const et__pretok_regex[ET_PRETOK_COUNT] = {
    NULL,
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
};

static char *et__read_file(const char *path, long *size, char *err, size_t errsz) {
    FILE *f = fopen(path, "rb");
    if (!f) { et__tok_err(err, errsz, "%s: cannot open", path); return NULL; }
    char *buf = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
    if (n < 0 || n > ET__TOK_MAX_FILE || fseek(f, 0, SEEK_SET) != 0) {
        et__tok_err(err, errsz, "%s: size %ld unreadable or above %ld bytes", path, n, ET__TOK_MAX_FILE);
    } else if (!(buf = malloc((size_t)n + 1))) {
        et__tok_err(err, errsz, "%s: out of memory for %ld bytes", path, n);
    } else if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
        et__tok_err(err, errsz, "%s: read failed", path);
        free(buf);
        buf = NULL;
    } else {
        buf[n] = 0;
        *size = n;
    }
    fclose(f);
    return buf;
}

/* ---- our binary format ---------------------------------------------------------------- */

typedef struct { const uint8_t *p; long n, pos; } et__rd;

static int et__rd_u32(et__rd *r, uint32_t *v) {
    if (r->n - r->pos < 4) return 0;
    memcpy(v, r->p + r->pos, 4);
    r->pos += 4;
    return 1;
}

static et_tok *et__load_etok(const char *path, const char *buf, long size, char *err, size_t errsz) {
    et__rd r = {(const uint8_t *)buf, size, 4};
    uint32_t h[12];
    static const char *const names[12] = {"version", "model", "pretok", "chat", "bos", "eos", "unk",
                                          "pad", "flags", "n_vocab", "n_merges", ""};
    for (int i = 0; i < 11; i++)
        if (!et__rd_u32(&r, &h[i])) {
            et__tok_err(err, errsz, "%s: truncated header at field %s", path, names[i]);
            return NULL;
        }
    if (h[0] != 1) { et__tok_err(err, errsz, "%s: version %u unsupported (want 1)", path, h[0]); return NULL; }
    uint32_t nv = h[9], nm = h[10];
    /* each token needs >= 9 bytes and each merge 8: caps the counts by the file size */
    if (nv == 0 || nv > ET__TOK_MAX_VOCAB || (long)nv > size / 9) {
        et__tok_err(err, errsz, "%s: n_vocab %u inconsistent with file size %ld", path, nv, size);
        return NULL;
    }
    if (nm > ET__TOK_MAX_VOCAB || (long)nm > size / 8) {
        et__tok_err(err, errsz, "%s: n_merges %u inconsistent with file size %ld", path, nm, size);
        return NULL;
    }
    et_tok_spec sp;
    et_tok_spec_init(&sp, (et_tok_model)h[1]);
    sp.model = (et_tok_model)h[1];
    sp.pretok = (et_pretok)h[2];
    sp.chat = h[3] < ET_CHAT_COUNT ? (et_chat_style)h[3] : ET_CHAT_NONE;
    sp.bos = (int32_t)h[4]; sp.eos = (int32_t)h[5]; sp.unk = (int32_t)h[6]; sp.pad = (int32_t)h[7];
    sp.add_bos = h[8] & 1; sp.add_eos = (h[8] >> 1) & 1; sp.add_dummy_prefix = (h[8] >> 2) & 1;
    sp.nfc = (h[8] >> 3) & 1;
    sp.n_vocab = (int32_t)nv;
    const char **tokens = calloc(nv, sizeof *tokens);
    uint32_t *lens = calloc(nv, sizeof *lens);
    float *scores = calloc(nv, sizeof *scores);
    int32_t *types = calloc(nv, sizeof *types);
    char **merges = calloc(nm ? nm : 1, sizeof *merges);
    et_tok *t = NULL;
    if (!tokens || !lens || !scores || !types || !merges) {
        et__tok_err(err, errsz, "%s: out of memory for %u tokens", path, nv);
        goto done;
    }
    for (uint32_t i = 0; i < nv; i++) {
        if (!et__rd_u32(&r, &lens[i]) || lens[i] > ET__TOK_MAX_PIECE || r.n - r.pos < (long)lens[i] + 5) {
            et__tok_err(err, errsz, "%s: token %u: length %u runs past the end of the file", path, i, lens[i]);
            goto done;
        }
        tokens[i] = buf + r.pos;
        r.pos += lens[i];
        memcpy(&scores[i], r.p + r.pos, 4);
        types[i] = r.p[r.pos + 4];
        r.pos += 5;
    }
    for (uint32_t k = 0; k < nm; k++) {
        uint32_t a, b;
        if (!et__rd_u32(&r, &a) || !et__rd_u32(&r, &b)) {
            et__tok_err(err, errsz, "%s: merge %u truncated", path, k);
            goto done;
        }
        if (a >= nv || b >= nv) {
            et__tok_err(err, errsz, "%s: merge %u token id %u out of range (n_vocab %u)", path, k, a >= nv ? a : b, nv);
            goto done;
        }
        merges[k] = malloc(lens[a] + lens[b] + 2);
        if (!merges[k]) { et__tok_err(err, errsz, "%s: out of memory", path); goto done; }
        memcpy(merges[k], tokens[a], lens[a]);
        merges[k][lens[a]] = ' ';
        memcpy(merges[k] + lens[a] + 1, tokens[b], lens[b]);
        merges[k][lens[a] + 1 + lens[b]] = 0;
    }
    if (r.pos != r.n) {
        et__tok_err(err, errsz, "%s: %ld trailing bytes after the merges", path, r.n - r.pos);
        goto done;
    }
    sp.tokens = tokens; sp.token_lens = lens; sp.scores = scores; sp.types = types;
    sp.n_merges = (int32_t)nm;
    sp.merges = (const char *const *)merges;
    char e2[256];
    t = et_tok_create(&sp, e2, sizeof e2);
    if (!t) et__tok_err(err, errsz, "%s: %s", path, e2);
    if (t) {
        t->prefix_first_only = (h[8] >> 4) & 1;
        t->prefix_skip_if_space = (h[8] >> 5) & 1;
    }
done:
    if (merges) for (uint32_t k = 0; k < nm; k++) free(merges[k]);
    free(tokens); free(lens); free(scores); free(types); free(merges);
    return t;
}

static int et__save_etok(const et_tok *t, const char *path, char *err, size_t errsz) {
    FILE *f = fopen(path, "wb");
    if (!f) { et__tok_err(err, errsz, "%s: cannot create", path); return -1; }
    uint32_t flags = (uint32_t)((t->add_bos ? 1 : 0) | (t->add_eos ? 2 : 0) | (t->add_dummy_prefix ? 4 : 0) |
                                (t->nfc ? 8 : 0) | (t->prefix_first_only ? 16 : 0) |
                                (t->prefix_skip_if_space ? 32 : 0));
    uint32_t h[11] = {1, (uint32_t)t->model, (uint32_t)t->pretok, (uint32_t)t->chat,
                      (uint32_t)t->bos, (uint32_t)t->eos, (uint32_t)t->unk, (uint32_t)t->pad,
                      flags, (uint32_t)t->n_vocab, (uint32_t)t->n_merges};
    fwrite("ETOK", 1, 4, f);
    fwrite(h, 4, 11, f);
    for (int32_t i = 0; i < t->n_vocab; i++) {
        fwrite(&t->len[i], 4, 1, f);
        fwrite(t->blob + t->off[i], 1, t->len[i], f);
        fwrite(&t->scores[i], 4, 1, f);
        fwrite(&t->types[i], 1, 1, f);
    }
    for (int32_t k = 0; k < t->n_merges; k++) {
        fwrite(&t->mleft[k], 4, 1, f);
        fwrite(&t->mright[k], 4, 1, f);
    }
    if (ferror(f) | fclose(f)) { et__tok_err(err, errsz, "%s: write failed", path); return -1; }
    return 0;
}

/* ---- tokenizer.json --------------------------------------------------------------------- */

/* Pre-tokenizer named by a tokenizer.json pre_tokenizer object, or -1 when not recognized. */
static int et__json_pretok(const cJSON *pt, const char **pattern) {
    if (!pt || cJSON_IsNull(pt)) return ET_PRETOK_NONE;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(pt, "type");
    if (!cJSON_IsString(type)) return -1;
    if (!strcmp(type->valuestring, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(pt, "pretokenizers"), *e;
        int found = ET_PRETOK_NONE;
        cJSON_ArrayForEach(e, list) {
            int k = et__json_pretok(e, pattern);
            if (k < 0) return -1;
            if (k != ET_PRETOK_NONE) found = k;
        }
        return found;
    }
    if (!strcmp(type->valuestring, "ByteLevel")) {
        const cJSON *re = cJSON_GetObjectItemCaseSensitive(pt, "use_regex");
        return !re || cJSON_IsTrue(re) ? ET_PRETOK_GPT2 : ET_PRETOK_NONE;
    }
    if (!strcmp(type->valuestring, "Split")) {
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(pt, "pattern");
        const cJSON *re = pat ? cJSON_GetObjectItemCaseSensitive(pat, "Regex") : NULL;
        if (!cJSON_IsString(re)) return -1;
        *pattern = re->valuestring;
        for (int k = ET_PRETOK_GPT2; k < ET_PRETOK_COUNT; k++)
            if (!strcmp(re->valuestring, et__pretok_regex[k])) return k;
        return -1;
    }
    *pattern = type->valuestring;
    return -1;
}

/* Whether a normalizer (or a Sequence of them) contains one of the given type. */
static int et__json_has_normalizer(const cJSON *n, const char *what) {
    if (!n) return 0;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(n, "type");
    if (cJSON_IsString(type) && !strcmp(type->valuestring, what)) return 1;
    const cJSON *e, *list = cJSON_GetObjectItemCaseSensitive(n, "normalizers");
    cJSON_ArrayForEach(e, list) if (et__json_has_normalizer(e, what)) return 1;
    return 0;
}

static et_tok *et__load_json(const char *path, const char *buf, char *err, size_t errsz) {
    cJSON *root = cJSON_Parse(buf);
    if (!root) { et__tok_err(err, errsz, "%s: not valid JSON (near byte %ld)", path, (long)(cJSON_GetErrorPtr() - buf)); return NULL; }
    et_tok *t = NULL;
    const char **tokens = NULL;
    float *scores = NULL;
    int32_t *types = NULL;
    char **merges = NULL;
    int32_t nm = 0;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *mtype = model ? cJSON_GetObjectItemCaseSensitive(model, "type") : NULL;
    if (!cJSON_IsString(mtype) || strcmp(mtype->valuestring, "BPE")) {
        et__tok_err(err, errsz, "%s: model.type %s unsupported (only \"BPE\")", path,
                    cJSON_IsString(mtype) ? mtype->valuestring : "(missing)");
        goto done;
    }
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (!cJSON_IsObject(vocab)) { et__tok_err(err, errsz, "%s: model.vocab missing or not an object", path); goto done; }
    int32_t nv = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, vocab) {
        double d = e->valuedouble;
        if (!cJSON_IsNumber(e) || d < 0 || d >= ET__TOK_MAX_VOCAB || d != (int32_t)d) {
            et__tok_err(err, errsz, "%s: model.vocab[\"%.40s\"] id %g invalid", path, e->string, d);
            goto done;
        }
        if ((int32_t)d + 1 > nv) nv = (int32_t)d + 1;
    }
    cJSON_ArrayForEach(e, added) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "content");
        if (!cJSON_IsNumber(id) || !cJSON_IsString(c) || id->valuedouble < 0 || id->valuedouble >= ET__TOK_MAX_VOCAB) {
            et__tok_err(err, errsz, "%s: added_tokens entry has no valid id/content", path);
            goto done;
        }
        if (id->valueint + 1 > nv) nv = id->valueint + 1;
    }
    tokens = calloc((size_t)nv + 1, sizeof *tokens);
    scores = calloc((size_t)nv + 1, sizeof *scores);
    types = calloc((size_t)nv + 1, sizeof *types);
    if (!tokens || !scores || !types) { et__tok_err(err, errsz, "%s: out of memory", path); goto done; }
    cJSON_ArrayForEach(e, vocab) {
        tokens[e->valueint] = e->string;
        types[e->valueint] = ET_TOKT_NORMAL;
    }
    cJSON_ArrayForEach(e, added) {
        int id = cJSON_GetObjectItemCaseSensitive(e, "id")->valueint;
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(e, "special");
        tokens[id] = cJSON_GetObjectItemCaseSensitive(e, "content")->valuestring;
        types[id] = cJSON_IsTrue(sp) ? ET_TOKT_CONTROL : ET_TOKT_USER;
    }
    for (int32_t i = 0; i < nv; i++)
        if (!tokens[i]) { et__tok_err(err, errsz, "%s: token id %d has no string (ids must be dense)", path, i); goto done; }
    const cJSON *jm = cJSON_GetObjectItemCaseSensitive(model, "merges");
    int nmj = cJSON_GetArraySize(jm);
    merges = calloc((size_t)nmj + 1, sizeof *merges);
    if (!merges) { et__tok_err(err, errsz, "%s: out of memory", path); goto done; }
    cJSON_ArrayForEach(e, jm) {
        if (cJSON_IsString(e)) merges[nm] = strdup(e->valuestring);
        else if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 && cJSON_IsString(cJSON_GetArrayItem(e, 0)) &&
                 cJSON_IsString(cJSON_GetArrayItem(e, 1))) {
            const char *a = cJSON_GetArrayItem(e, 0)->valuestring, *b = cJSON_GetArrayItem(e, 1)->valuestring;
            merges[nm] = malloc(strlen(a) + strlen(b) + 2);
            if (merges[nm]) sprintf(merges[nm], "%s %s", a, b);
        } else {
            et__tok_err(err, errsz, "%s: model.merges[%d] is neither \"a b\" nor [\"a\", \"b\"]", path, nm);
            goto done;
        }
        if (!merges[nm]) { et__tok_err(err, errsz, "%s: out of memory", path); goto done; }
        nm++;
    }
    et_tok_spec sp;
    int metaspace = 0;
    const cJSON *bf = cJSON_GetObjectItemCaseSensitive(model, "byte_fallback");
    if (cJSON_IsTrue(bf)) {
        /* SentencePiece vocabulary exported as BPE: score each piece by its merge rank */
        et_tok_spec_init(&sp, ET_TOK_SPM);
        for (int32_t i = 0; i < nv; i++) {
            scores[i] = -1e9f;
            unsigned v;
            if (types[i] == ET_TOKT_NORMAL && strlen(tokens[i]) == 6 && sscanf(tokens[i], "<0x%2X>", &v) == 1)
                types[i] = ET_TOKT_BYTE;
        }
        sp.add_dummy_prefix = et__json_has_normalizer(cJSON_GetObjectItemCaseSensitive(root, "normalizer"), "Prepend");
        /* newer exports put the '▁' prefix in a Metaspace pre-tokenizer instead */
        const cJSON *pt = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
        const cJSON *ptt = pt ? cJSON_GetObjectItemCaseSensitive(pt, "type") : NULL;
        if (cJSON_IsString(ptt) && !strcmp(ptt->valuestring, "Metaspace")) {
            const cJSON *scheme = cJSON_GetObjectItemCaseSensitive(pt, "prepend_scheme");
            const cJSON *aps = cJSON_GetObjectItemCaseSensitive(pt, "add_prefix_space");
            sp.add_dummy_prefix = cJSON_IsString(scheme) ? strcmp(scheme->valuestring, "never") != 0 : !cJSON_IsFalse(aps);
            metaspace = 1 + (cJSON_IsString(scheme) && !strcmp(scheme->valuestring, "first"));
        }
    } else {
        et_tok_spec_init(&sp, ET_TOK_BPE);
        const char *pat = "";
        int pk = et__json_pretok(cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), &pat);
        if (pk < 0) {
            et__tok_err(err, errsz, "%s: pre_tokenizer \"%.80s\" not one of gpt2, llama3, qwen2", path, pat);
            goto done;
        }
        sp.pretok = (et_pretok)pk;
    }
    sp.nfc = et__json_has_normalizer(cJSON_GetObjectItemCaseSensitive(root, "normalizer"), "NFC");
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
    for (int32_t i = 0; i < nv; i++) {
        const char *s = tokens[i];
        if (cJSON_IsString(unk) && !strcmp(s, unk->valuestring)) { sp.unk = i; types[i] = ET_TOKT_UNKNOWN; }
        if (sp.bos < 0 && (!strcmp(s, "<s>") || !strcmp(s, "<|begin_of_text|>"))) sp.bos = i;
        if (sp.eos < 0 && (!strcmp(s, "</s>") || !strcmp(s, "<|end_of_text|>") || !strcmp(s, "<|endoftext|>")))
            sp.eos = i;
        if (!strcmp(s, "<|im_start|>")) sp.chat = ET_CHAT_CHATML;
        if (!strcmp(s, "<|start_header_id|>")) sp.chat = ET_CHAT_LLAMA3;
        if (!strcmp(s, "<start_of_turn>")) sp.chat = ET_CHAT_GEMMA;
    }
    if (sp.model == ET_TOK_SPM && sp.chat == ET_CHAT_NONE) sp.chat = ET_CHAT_LLAMA2;
    /* a post-processor template (alone or in a Sequence) that starts with a special token adds
     * that token as BOS */
    const cJSON *pp = cJSON_GetObjectItemCaseSensitive(root, "post_processor");
    const cJSON *procs = pp ? cJSON_GetObjectItemCaseSensitive(pp, "processors") : NULL;
    const cJSON *st = NULL;
    for (int k = -1; pp && k < cJSON_GetArraySize(procs) && !st; k++) {
        const cJSON *p = k < 0 ? pp : cJSON_GetArrayItem(procs, k);
        const cJSON *single = cJSON_GetObjectItemCaseSensitive(p, "single");
        const cJSON *first = single ? cJSON_GetArrayItem(single, 0) : NULL;
        st = first ? cJSON_GetObjectItemCaseSensitive(first, "SpecialToken") : NULL;
    }
    const cJSON *stid = st ? cJSON_GetObjectItemCaseSensitive(st, "id") : NULL;
    if (cJSON_IsString(stid)) {
        for (int32_t i = 0; i < nv; i++)
            if (!strcmp(tokens[i], stid->valuestring)) { sp.bos = i; sp.add_bos = 1; break; }
    } else if (sp.model == ET_TOK_SPM) {
        sp.add_bos = sp.bos >= 0;
    }
    sp.n_vocab = nv;
    sp.tokens = tokens;
    sp.scores = scores;
    sp.types = types;
    int spm = sp.model == ET_TOK_SPM;
    sp.n_merges = spm ? 0 : nm;   /* SPM merges by score, set from the merge ranks below */
    sp.merges = (const char *const *)merges;
    char e2[256];
    t = et_tok_create(&sp, e2, sizeof e2);
    if (!t) et__tok_err(err, errsz, "%s: %s", path, e2);
    if (t && metaspace) {   /* Metaspace: no prefix before an existing space; "first": input start only */
        t->prefix_skip_if_space = 1;
        t->prefix_first_only = metaspace == 2;
    }
    const cJSON *im = cJSON_GetObjectItemCaseSensitive(model, "ignore_merges");
    if (t && !spm && cJSON_IsBool(im)) t->ignore_merges = cJSON_IsTrue(im);
    for (int32_t r = nm - 1; t && spm && r >= 0; r--) {   /* descending: the lowest rank wins */
        char *sp1 = strchr(merges[r], ' ');
        if (!sp1) continue;
        *sp1 = 0;
        size_t la = strlen(merges[r]), lb = strlen(sp1 + 1);
        char *cat = malloc(la + lb + 1);
        if (cat) {
            memcpy(cat, merges[r], la);
            memcpy(cat + la, sp1 + 1, lb + 1);
            int32_t id = et_tok_lookup(t, cat, la + lb);
            if (id >= 0) t->scores[id] = -(float)r;
            free(cat);
        }
        *sp1 = ' ';
    }
done:
    if (merges) for (int32_t k = 0; merges[k]; k++) free(merges[k]);
    free(merges); free(tokens); free(scores); free(types);
    cJSON_Delete(root);
    return t;
}

static int et__save_json(const et_tok *t, const char *path, char *err, size_t errsz) {
    if (t->model != ET_TOK_BPE) {
        et__tok_err(err, errsz, "%s: tokenizer.json export supports byte-level BPE only", path);
        return -1;
    }
    cJSON *root = cJSON_CreateObject(), *added = cJSON_CreateArray(), *model = cJSON_CreateObject();
    cJSON *vocab = cJSON_CreateObject(), *merges = cJSON_CreateArray(), *bl = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "version", "1.0");
    cJSON_AddNullToObject(root, "truncation");
    cJSON_AddNullToObject(root, "padding");
    cJSON_AddItemToObject(root, "added_tokens", added);
    if (t->nfc) {
        cJSON *nfc = cJSON_CreateObject();
        cJSON_AddStringToObject(nfc, "type", "NFC");
        cJSON_AddItemToObject(root, "normalizer", nfc);
    } else {
        cJSON_AddNullToObject(root, "normalizer");
    }
    cJSON_AddStringToObject(bl, "type", "ByteLevel");
    cJSON_AddFalseToObject(bl, "add_prefix_space");
    cJSON_AddTrueToObject(bl, "trim_offsets");
    cJSON_AddBoolToObject(bl, "use_regex", t->pretok == ET_PRETOK_GPT2);
    if (t->pretok == ET_PRETOK_LLAMA3 || t->pretok == ET_PRETOK_QWEN2) {
        cJSON *seq = cJSON_CreateObject(), *list = cJSON_CreateArray(), *split = cJSON_CreateObject();
        cJSON *pat = cJSON_CreateObject();
        cJSON_AddStringToObject(seq, "type", "Sequence");
        cJSON_AddStringToObject(split, "type", "Split");
        cJSON_AddStringToObject(pat, "Regex", et__pretok_regex[t->pretok]);
        cJSON_AddItemToObject(split, "pattern", pat);
        cJSON_AddStringToObject(split, "behavior", "Isolated");
        cJSON_AddFalseToObject(split, "invert");
        cJSON_AddItemToArray(list, split);
        cJSON_AddItemToArray(list, bl);
        cJSON_AddItemToObject(seq, "pretokenizers", list);
        cJSON_AddItemToObject(root, "pre_tokenizer", seq);
    } else {
        cJSON_AddItemToObject(root, "pre_tokenizer", bl);
    }
    cJSON_AddNullToObject(root, "post_processor");
    cJSON *dec = cJSON_CreateObject();
    cJSON_AddStringToObject(dec, "type", "ByteLevel");
    cJSON_AddTrueToObject(dec, "add_prefix_space");
    cJSON_AddTrueToObject(dec, "trim_offsets");
    cJSON_AddTrueToObject(dec, "use_regex");
    cJSON_AddItemToObject(root, "decoder", dec);
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON_AddNullToObject(model, "dropout");
    cJSON_AddNullToObject(model, "unk_token");
    cJSON_AddNullToObject(model, "continuing_subword_prefix");
    cJSON_AddNullToObject(model, "end_of_word_suffix");
    cJSON_AddFalseToObject(model, "fuse_unk");
    cJSON_AddFalseToObject(model, "byte_fallback");
    cJSON_AddBoolToObject(model, "ignore_merges", t->ignore_merges);
    char *s = malloc(2 * (size_t)ET__TOK_MAX_PIECE + 2);
    int ok = s != NULL;
    for (int32_t i = 0; ok && i < t->n_vocab; i++) {
        memcpy(s, t->blob + t->off[i], t->len[i]);
        s[t->len[i]] = 0;
        if (t->types[i] == ET_TOKT_CONTROL || t->types[i] == ET_TOKT_USER) {
            cJSON *a = cJSON_CreateObject();
            cJSON_AddNumberToObject(a, "id", i);
            cJSON_AddStringToObject(a, "content", s);
            cJSON_AddFalseToObject(a, "single_word");
            cJSON_AddFalseToObject(a, "lstrip");
            cJSON_AddFalseToObject(a, "rstrip");
            cJSON_AddFalseToObject(a, "normalized");
            cJSON_AddBoolToObject(a, "special", t->types[i] == ET_TOKT_CONTROL);
            cJSON_AddItemToArray(added, a);
        }
        cJSON_AddNumberToObject(vocab, s, i);
    }
    for (int32_t k = 0; ok && k < t->n_merges; k++) {
        int32_t a = t->mleft[k], b = t->mright[k];
        memcpy(s, t->blob + t->off[a], t->len[a]);
        s[t->len[a]] = ' ';
        memcpy(s + t->len[a] + 1, t->blob + t->off[b], t->len[b]);
        s[t->len[a] + 1 + t->len[b]] = 0;
        cJSON_AddItemToArray(merges, cJSON_CreateString(s));
    }
    free(s);
    cJSON_AddItemToObject(model, "vocab", vocab);
    cJSON_AddItemToObject(model, "merges", merges);
    cJSON_AddItemToObject(root, "model", model);
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!text) { et__tok_err(err, errsz, "%s: out of memory", path); return -1; }
    FILE *f = fopen(path, "wb");
    int rc = -1;
    if (!f) et__tok_err(err, errsz, "%s: cannot create", path);
    else {
        fputs(text, f);
        if (ferror(f) | fclose(f)) et__tok_err(err, errsz, "%s: write failed", path);
        else rc = 0;
    }
    free(text);
    return rc;
}

/* ---- entry points ------------------------------------------------------------------- */

et_tok *et_tok_load_memory(const void *data, size_t size, const char *name, char *err, size_t errsz) {
    if (size > (size_t)ET__TOK_MAX_FILE) {
        et__tok_err(err, errsz, "%s: size %zu above %ld bytes", name, size, ET__TOK_MAX_FILE);
        return NULL;
    }
    const char *buf = data;
    size_t ws = 0;
    while (ws < size && (buf[ws] == ' ' || buf[ws] == '\t' || buf[ws] == '\r' || buf[ws] == '\n')) ws++;
    if (size >= 4 && !memcmp(buf, "ETOK", 4)) return et__load_etok(name, buf, (long)size, err, errsz);
    if (ws < size && buf[ws] == '{') {
        /* cJSON wants a NUL-terminated string */
        char *copy = malloc(size + 1);
        if (!copy) { et__tok_err(err, errsz, "%s: out of memory for %zu bytes", name, size); return NULL; }
        memcpy(copy, buf, size);
        copy[size] = 0;
        et_tok *t = et__load_json(name, copy, err, errsz);
        free(copy);
        return t;
    }
    et__tok_err(err, errsz, "%s: neither an edgetune tokenizer (magic ETOK) nor tokenizer.json", name);
    return NULL;
}

et_tok *et_tok_load(const char *path, char *err, size_t errsz) {
    long size = 0;
    char *buf = et__read_file(path, &size, err, errsz);
    if (!buf) return NULL;
    et_tok *t = et_tok_load_memory(buf, (size_t)size, path, err, errsz);
    free(buf);
    return t;
}

int et_tok_save(const et_tok *t, const char *path, char *err, size_t errsz) {
    size_t n = strlen(path);
    if (n >= 5 && !strcmp(path + n - 5, ".json")) return et__save_json(t, path, err, errsz);
    return et__save_etok(t, path, err, errsz);
}
