/* Unicode lookups, UTF-8 coding and NFC for the tokenizers.  Category queries are a binary
 * search over the generated range tables, with a 256-entry cache for Latin-1, which is most text
 * the pre-tokenizers see.  NFC follows UAX #15: full canonical decomposition (tables + the
 * Hangul formula), canonical ordering of combining marks, then canonical composition. */
#include <stdlib.h>
#include <string.h>
#include "tok/unicode.h"

static int et__uni_find(const et__uni_range *r, int n, uint32_t cp) {
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (cp < r[mid].lo) hi = mid - 1;
        else if (cp > r[mid].hi) lo = mid + 1;
        else return mid;
    }
    return -1;
}

et_ucat et_uni_category(uint32_t cp) {
    int i = et__uni_find(et__uni_cat_ranges, et__uni_cat_nranges, cp);
    return i < 0 ? ET_UC_Cn : (et_ucat)et__uni_cat_ranges[i].val;
}

static int et__uni_class_slow(uint32_t cp) {
    int f = 0;
    switch (et_uni_category(cp)) {
    case ET_UC_Lu: case ET_UC_Ll: case ET_UC_Lt: case ET_UC_Lm: case ET_UC_Lo: f = ET_UCLASS_L; break;
    case ET_UC_Nd: case ET_UC_Nl: case ET_UC_No: f = ET_UCLASS_N; break;
    case ET_UC_Mn: case ET_UC_Mc: case ET_UC_Me: f = ET_UCLASS_M; break;
    case ET_UC_Pc: case ET_UC_Pd: case ET_UC_Ps: case ET_UC_Pe: case ET_UC_Pi: case ET_UC_Pf:
    case ET_UC_Po: f = ET_UCLASS_P; break;
    case ET_UC_Sm: case ET_UC_Sc: case ET_UC_Sk: case ET_UC_So: f = ET_UCLASS_S; break;
    default: break;
    }
    if (et__uni_find(et__uni_ws_ranges, et__uni_ws_nranges, cp) >= 0) f |= ET_UCLASS_WS;
    return f;
}

int et_uni_class(uint32_t cp) {
    /* Latin-1 cache, filled on first use.  Filling is idempotent, so two threads racing here
     * write the same values; the release/acquire pair publishes the table. */
    static int8_t cache[256];
    static int ready;
    if (cp < 256) {
        if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
            for (uint32_t c = 0; c < 256; c++) cache[c] = (int8_t)et__uni_class_slow(c);
            __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
        }
        return cache[cp];
    }
    return et__uni_class_slow(cp);
}

int et_utf8_seq_len(const uint8_t *s, size_t n) {
    if (n == 0) return 0;
    uint8_t c = s[0];
    if (c < 0x80) return 1;
    int len;
    uint32_t cp, min;
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; min = 0x80; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; min = 0x800; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; min = 0x10000; }
    else return 0;
    if ((size_t)len > n) return 0;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

uint32_t et_utf8_decode(const uint8_t *s, size_t n, size_t *pos, int *valid) {
    size_t p = *pos;
    int len = et_utf8_seq_len(s + p, n - p);
    if (len == 0) {
        *pos = p + 1;
        if (valid) *valid = 0;
        return 0xFFFD;
    }
    uint32_t cp;
    if (len == 1) cp = s[p];
    else {
        cp = s[p] & (0x7F >> len);
        for (int i = 1; i < len; i++) cp = (cp << 6) | (s[p + i] & 0x3F);
    }
    *pos = p + (size_t)len;
    if (valid) *valid = 1;
    return cp;
}

int et_utf8_encode(uint32_t cp, char *out) {
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6)); out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12)); out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18)); out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---- NFC ------------------------------------------------------------------------------ */

enum { ET__SBASE = 0xAC00, ET__LBASE = 0x1100, ET__VBASE = 0x1161, ET__TBASE = 0x11A7,
       ET__LCOUNT = 19, ET__VCOUNT = 21, ET__TCOUNT = 28, ET__NCOUNT = 588, ET__SCOUNT = 11172 };

int et_uni_ccc(uint32_t cp) {
    if (cp < 0x300) return 0;
    int i = et__uni_find(et__uni_ccc_ranges, et__uni_ccc_nranges, cp);
    return i < 0 ? 0 : (int)et__uni_ccc_ranges[i].val;
}

static int et__decomp_find(uint32_t cp) {
    int lo = 0, hi = et__uni_ndecomp - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (cp < et__uni_decomp[mid][0]) hi = mid - 1;
        else if (cp > et__uni_decomp[mid][0]) lo = mid + 1;
        else return mid;
    }
    return -1;
}

/* Full canonical decomposition of cp appended at out; returns the count (<= 4). */
static long et__decompose(uint32_t cp, uint32_t *out) {
    if (cp >= ET__SBASE && cp < ET__SBASE + ET__SCOUNT) {
        uint32_t s = cp - ET__SBASE;
        out[0] = ET__LBASE + s / ET__NCOUNT;
        out[1] = ET__VBASE + (s % ET__NCOUNT) / ET__TCOUNT;
        if (s % ET__TCOUNT == 0) return 2;
        out[2] = ET__TBASE + s % ET__TCOUNT;
        return 3;
    }
    int i = cp < 0xC0 ? -1 : et__decomp_find(cp);
    if (i < 0) { out[0] = cp; return 1; }
    long n = et__decompose(et__uni_decomp[i][1], out);
    if (et__uni_decomp[i][2]) n += et__decompose(et__uni_decomp[i][2], out + n);
    return n;
}

/* Primary composite of (a, b), or 0. */
static uint32_t et__compose(uint32_t a, uint32_t b) {
    if (a >= ET__LBASE && a < ET__LBASE + ET__LCOUNT && b >= ET__VBASE && b < ET__VBASE + ET__VCOUNT)
        return ET__SBASE + ((a - ET__LBASE) * ET__VCOUNT + (b - ET__VBASE)) * ET__TCOUNT;
    if (a >= ET__SBASE && a < ET__SBASE + ET__SCOUNT && (a - ET__SBASE) % ET__TCOUNT == 0 &&
        b > ET__TBASE && b < ET__TBASE + ET__TCOUNT)
        return a + (b - ET__TBASE);
    int lo = 0, hi = et__uni_ncompose - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        const uint32_t *e = et__uni_compose[mid];
        if (a < e[0] || (a == e[0] && b < e[1])) hi = mid - 1;
        else if (a > e[0] || b > e[1]) lo = mid + 1;
        else return e[2];
    }
    return 0;
}

long et_uni_nfc(const uint32_t *in, long n, uint32_t *out, uint32_t *tmp) {
    /* decompose, then order each run of non-starters by combining class (stable) */
    long m = 0;
    for (long i = 0; i < n; i++) m += et__decompose(in[i], tmp + m);
    for (long i = 1; i < m; i++) {
        int c = et_uni_ccc(tmp[i]);
        if (c == 0) continue;
        for (long j = i; j > 0 && et_uni_ccc(tmp[j - 1]) > c; j--) {
            uint32_t x = tmp[j]; tmp[j] = tmp[j - 1]; tmp[j - 1] = x;
        }
    }
    /* compose: a mark joins the last starter unless a character between blocks it */
    long o = 0, starter = -1;
    int last_cc = 0;
    for (long i = 0; i < m; i++) {
        uint32_t cp = tmp[i];
        int cc = et_uni_ccc(cp);
        if (starter >= 0 && (o - 1 == starter || (last_cc != 0 && last_cc < cc))) {
            uint32_t c = et__compose(out[starter], cp);
            if (c) { out[starter] = c; continue; }
        }
        if (cc == 0) starter = o;
        last_cc = cc;
        out[o++] = cp;
    }
    return o;
}

char *et_utf8_nfc(const char *s, size_t n, size_t *out_len) {
    const uint8_t *u = (const uint8_t *)s;
    int simple = 1;
    for (size_t i = 0; i < n && simple; i++)   /* a lead byte >= 0xCC starts a code point >= U+0300 */
        if (u[i] >= 0xCC) simple = 0;
    char *r = NULL;
    if (simple) {
        if ((r = malloc(n + 1))) { memcpy(r, s, n); r[n] = 0; *out_len = n; }
        return r;
    }
    uint32_t *cp = malloc((n + 1) * sizeof *cp), *tmp = malloc(4 * (n + 1) * sizeof *tmp);
    uint32_t *nfc = malloc(4 * (n + 1) * sizeof *nfc);
    if (cp && tmp && nfc) {
        long k = 0;
        for (size_t pos = 0; pos < n;) cp[k++] = et_utf8_decode(u, n, &pos, NULL);
        long m = et_uni_nfc(cp, k, nfc, tmp);
        if ((r = malloc(4 * (size_t)m + 1))) {
            size_t o = 0;
            for (long i = 0; i < m; i++) o += (size_t)et_utf8_encode(nfc[i], r + o);
            r[o] = 0;
            *out_len = o;
        }
    }
    free(cp); free(tmp); free(nfc);
    return r;
}
