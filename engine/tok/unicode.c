/* Unicode lookups and UTF-8 coding for the tokenizers.  Category queries are a binary search
 * over the generated range tables, with a 256-entry cache for Latin-1, which is most text the
 * pre-tokenizers see. */
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
