/* Pre-tokenizers: the word-splitting regexes of GPT-2, Llama 3 and Qwen2, written out by hand
 * over Unicode classes (engine/tok/unicode.h) instead of a regex engine.
 *
 *   GPT-2:  's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *   Llama3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *           ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 *   Qwen2:  as Llama3 with \p{N} instead of \p{N}{1,3}
 *
 * Each alternative is a small function returning the length of its match at position i (0 for
 * no match); the first alternative that matches wins, as in a backtracking regex engine, and
 * the backtracking the patterns need (\s+(?!\S) giving back one space, \s*[\r\n]+ ending at
 * the last line break of a whitespace run) is computed directly.  Every code point is a letter,
 * a number, whitespace or "other", so some alternative always matches and the scan advances.
 *
 * (?i) is applied as ASCII case folding plus U+017F (long s), the one non-ASCII code point
 * whose simple case folding is one of the contraction letters.
 */
#include <stdlib.h>
#include "tok/tokenizer.h"
#include "tok/unicode.h"

typedef struct {
    const uint32_t *cp;
    const uint8_t *cls;   /* ET_UCLASS_* flags of each code point */
    long n;
} et__pt;

#define ET__L(i) (p->cls[i] & ET_UCLASS_L)
#define ET__N(i) (p->cls[i] & ET_UCLASS_N)
#define ET__WS(i) (p->cls[i] & ET_UCLASS_WS)
#define ET__OTHER(i) (!(p->cls[i] & (ET_UCLASS_L | ET_UCLASS_N | ET_UCLASS_WS)))
#define ET__CRLF(i) (p->cp[i] == '\r' || p->cp[i] == '\n')

static uint32_t et__fold(uint32_t c, int icase) {
    if (!icase) return c;
    if (c >= 'A' && c <= 'Z') return c + 32;
    if (c == 0x17F) return 's';
    return c;
}

/* 's|'t|'re|'ve|'m|'ll|'d */
static long et__contraction(const et__pt *p, long i, int icase) {
    static const char *const alts[] = {"s", "t", "re", "ve", "m", "ll", "d"};
    if (p->cp[i] != '\'') return 0;
    for (int a = 0; a < 7; a++) {
        long k = 0;
        while (alts[a][k] && i + 1 + k < p->n && et__fold(p->cp[i + 1 + k], icase) == (uint32_t)alts[a][k]) k++;
        if (!alts[a][k]) return 1 + k;
    }
    return 0;
}

/* " ?X+" for a class test X */
#define ET__SPACE_RUN(name, X)                                                    \
    static long name(const et__pt *p, long i) {                                  \
        long j = i + (p->cp[i] == ' ');                                          \
        if (j >= p->n || !X(j)) return 0;                                        \
        while (j < p->n && X(j)) j++;                                            \
        return j - i;                                                            \
    }
ET__SPACE_RUN(et__sp_letters, ET__L)
ET__SPACE_RUN(et__sp_numbers, ET__N)
ET__SPACE_RUN(et__sp_others, ET__OTHER)

/* \s+(?!\S) then \s+ : a whitespace run, less its last character when a non-space follows
 * (so that character can lead the next word), but never less than one character. */
static long et__spaces(const et__pt *p, long i) {
    if (!ET__WS(i)) return 0;
    long j = i;
    while (j < p->n && ET__WS(j)) j++;
    if (j < p->n && j - 1 > i) return j - 1 - i;
    return j - i;
}

/* [^\r\n\p{L}\p{N}]?\p{L}+ */
static long et__opt_letters(const et__pt *p, long i) {
    long j = i;
    if (!ET__L(i)) {
        if (ET__CRLF(i) || ET__N(i) || i + 1 >= p->n || !ET__L(i + 1)) return 0;
        j = i + 1;
    }
    while (j < p->n && ET__L(j)) j++;
    return j - i;
}

/* " ?[^\s\p{L}\p{N}]+[\r\n]*" */
static long et__others_nl(const et__pt *p, long i) {
    long k = et__sp_others(p, i);
    if (!k) return 0;
    long j = i + k;
    while (j < p->n && ET__CRLF(j)) j++;
    return j - i;
}

/* \s*[\r\n]+ : a whitespace run up to and including its last line break */
static long et__spaces_nl(const et__pt *p, long i) {
    long last = -1;
    for (long j = i; j < p->n && ET__WS(j); j++)
        if (ET__CRLF(j)) last = j;
    return last < 0 ? 0 : last + 1 - i;
}

static long et__match(et_pretok kind, const et__pt *p, long i) {
    long k;
    if (kind == ET_PRETOK_GPT2) {
        if ((k = et__contraction(p, i, 0))) return k;
        if ((k = et__sp_letters(p, i))) return k;
        if ((k = et__sp_numbers(p, i))) return k;
        if ((k = et__sp_others(p, i))) return k;
        return et__spaces(p, i);
    }
    if ((k = et__contraction(p, i, 1))) return k;
    if ((k = et__opt_letters(p, i))) return k;
    if (ET__N(i)) {
        long max = kind == ET_PRETOK_LLAMA3 ? 3 : 1;
        for (k = 0; k < max && i + k < p->n && ET__N(i + k); k++) {}
        return k;
    }
    if ((k = et__others_nl(p, i))) return k;
    if ((k = et__spaces_nl(p, i))) return k;
    return et__spaces(p, i);
}

long et_pretok_split(et_pretok kind, const char *text, size_t len, size_t *spans, long cap) {
    if (len == 0) return 0;
    if (kind == ET_PRETOK_NONE || (unsigned)kind >= ET_PRETOK_COUNT) {
        if (cap > 0) { spans[0] = 0; spans[1] = len; }
        return 1;
    }
    uint32_t *cp = malloc(len * sizeof *cp);
    uint8_t *cls = malloc(len);
    size_t *off = malloc((len + 1) * sizeof *off);
    if (!cp || !cls || !off) {
        free(cp); free(cls); free(off);
        return -1;
    }
    long n = 0;
    for (size_t pos = 0; pos < len;) {
        off[n] = pos;
        cp[n] = et_utf8_decode((const uint8_t *)text, len, &pos, NULL);
        cls[n] = (uint8_t)et_uni_class(cp[n]);
        n++;
    }
    off[n] = len;
    et__pt p = {cp, cls, n};
    long nw = 0;
    for (long i = 0; i < n;) {
        long k = et__match(kind, &p, i);
        if (k <= 0) k = 1;   /* unreachable: every class is covered; kept so the scan always ends */
        if (nw < cap) { spans[2 * nw] = off[i]; spans[2 * nw + 1] = off[i + k]; }
        nw++;
        i += k;
    }
    free(cp); free(cls); free(off);
    return nw;
}
