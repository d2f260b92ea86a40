/* Unicode helpers for the tokenizers: UTF-8 decoding with a fixed policy for invalid bytes,
 * UTF-8 encoding, and the general-category / White_Space lookups that the pre-tokenizer rules
 * (\p{L}, \p{N}, \s ...) need, and NFC for tokenizer.json files that ask for it.  The tables
 * are generated from Debian's unicode-data by tools/gen_unicode.py into unicode_tables.c and
 * unicode_norm_tables.c.
 *
 * Invalid UTF-8 policy (the same as llama.cpp's unicode_cpts_from_utf8): a byte that does not
 * start a complete, well-formed sequence (bad lead byte, stray continuation byte, truncated,
 * overlong, surrogate, > U+10FFFF) decodes as one U+FFFD and decoding resumes at the next byte.
 */
#ifndef ET_TOK_UNICODE_H
#define ET_TOK_UNICODE_H

#include <stddef.h>
#include <stdint.h>

/* General categories, in the generator's order (tools/gen_unicode.py CATS). */
typedef enum et_ucat {
    ET_UC_Cn = 0, ET_UC_Lu, ET_UC_Ll, ET_UC_Lt, ET_UC_Lm, ET_UC_Lo, ET_UC_Mn, ET_UC_Mc, ET_UC_Me,
    ET_UC_Nd, ET_UC_Nl, ET_UC_No, ET_UC_Pc, ET_UC_Pd, ET_UC_Ps, ET_UC_Pe, ET_UC_Pi, ET_UC_Pf,
    ET_UC_Po, ET_UC_Sm, ET_UC_Sc, ET_UC_Sk, ET_UC_So, ET_UC_Zs, ET_UC_Zl, ET_UC_Zp, ET_UC_Cc,
    ET_UC_Cf, ET_UC_Cs, ET_UC_Co, ET_UC_COUNT
} et_ucat;

/* Character classes as bit flags, the union a regex class needs. */
enum {
    ET_UCLASS_L = 1,   /* \p{L}: Lu Ll Lt Lm Lo */
    ET_UCLASS_N = 2,   /* \p{N}: Nd Nl No */
    ET_UCLASS_M = 4,   /* \p{M} */
    ET_UCLASS_P = 8,   /* \p{P} */
    ET_UCLASS_S = 16,  /* \p{S} */
    ET_UCLASS_WS = 32, /* \s: White_Space property */
};

typedef struct { uint32_t lo, hi; uint32_t val; } et__uni_range;
extern const et__uni_range et__uni_cat_ranges[];
extern const int et__uni_cat_nranges;
extern const et__uni_range et__uni_ws_ranges[];
extern const int et__uni_ws_nranges;
extern const char et__uni_version[];
extern const et__uni_range et__uni_ccc_ranges[];
extern const int et__uni_ccc_nranges;
extern const uint32_t et__uni_decomp[][3];
extern const int et__uni_ndecomp;
extern const uint32_t et__uni_compose[][3];
extern const int et__uni_ncompose;

et_ucat et_uni_category(uint32_t cp);
/* ET_UCLASS_* flags of a code point. */
int et_uni_class(uint32_t cp);
/* Decode one code point at s[*pos] (n bytes in s), advancing *pos.  Invalid input gives U+FFFD
 * and advances one byte; *valid (if non-NULL) says which happened. */
uint32_t et_utf8_decode(const uint8_t *s, size_t n, size_t *pos, int *valid);
/* Length of the well-formed UTF-8 sequence at s (1..4), or 0 if the bytes there are invalid. */
int et_utf8_seq_len(const uint8_t *s, size_t n);
/* Encode cp into out (4 bytes room); returns the byte count (U+FFFD for invalid cp). */
int et_utf8_encode(uint32_t cp, char *out);

/* Canonical combining class (0 for starters). */
int et_uni_ccc(uint32_t cp);
/* NFC (Unicode canonical composition, UAX #15) of n code points: writes at most 4n code points
 * (room the caller provides; NFC output never exceeds that) and returns the count.
 * tmp needs room for 4n code points too. */
long et_uni_nfc(const uint32_t *in, long n, uint32_t *out, uint32_t *tmp);
/* NFC of valid UTF-8 text; returns a malloc'ed string (length in *out_len) or NULL when out of
 * memory.  Text with no code point >= U+0300 is already NFC and comes back as a copy. */
char *et_utf8_nfc(const char *s, size_t n, size_t *out_len);

#endif
