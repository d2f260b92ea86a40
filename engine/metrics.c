/* Task metrics (see metrics.h for which definition each follows and why).
 *
 * ROUGE follows rouge-score 0.1.2 (rouge_scorer.py, tokenize.py): text.lower(), re.sub
 * "[^a-z0-9]+" -> " ", split on whitespace, keep tokens matching "^[a-z0-9]+$".  Python's
 * str.lower() maps two non-ASCII code points to ASCII letters (U+0130 'İ' -> "i" + U+0307,
 * U+212A KELVIN SIGN -> "k"); we map them the same way so token streams match byte for byte.
 * Every other non-ASCII character lower-cases to a non-ASCII one and becomes a separator.
 */
#include "metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double et_metric_accuracy(const int *pred, const int *gold, int n) {
    if (n <= 0) return 0.0;
    int ok = 0;
    for (int i = 0; i < n; i++) ok += pred[i] == gold[i];
    return (double)ok / n;
}

double et_metric_macro_f1(const int *pred, const int *gold, int n, int n_labels) {
    if (n_labels <= 0) return 0.0;
    double sum = 0.0;
    for (int c = 0; c < n_labels; c++) {
        int tp = 0, fp = 0, fn = 0;
        for (int i = 0; i < n; i++) {
            int p = pred[i] == c, g = gold[i] == c;
            tp += p && g; fp += p && !g; fn += !p && g;
        }
        /* sklearn: F1 = 2tp / (2tp + fp + fn), 0 when the denominator is 0 (zero_division=0) */
        if (tp + fp + fn > 0) sum += 2.0 * tp / (2.0 * tp + fp + fn);
    }
    return sum / n_labels;
}

double et_metric_mae(const double *pred, const double *gold, int n) {
    if (n <= 0) return 0.0;
    double s = 0.0;
    for (int i = 0; i < n; i++) s += fabs(pred[i] - gold[i]);
    return s / n;
}

double et_metric_rmse(const double *pred, const double *gold, int n) {
    if (n <= 0) return 0.0;
    double s = 0.0;
    for (int i = 0; i < n; i++) s += (pred[i] - gold[i]) * (pred[i] - gold[i]);
    return sqrt(s / n);
}

/* ---- ROUGE ------------------------------------------------------------------------------ */

int et_rouge_tokenize(const char *text, char *buf, const char **tok, int max_tok) {
    const unsigned char *s = (const unsigned char *)text;
    size_t o = 0;
    int nt = 0, in_tok = 0;
    while (*s) {
        char c = 0;
        size_t adv = 1;
        int sep_after = 0;
        if (*s < 0x80) {
            unsigned char ch = *s;
            if (ch >= 'A' && ch <= 'Z') ch = (unsigned char)(ch - 'A' + 'a');
            if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')) c = (char)ch;
        } else if (s[0] == 0xC4 && s[1] == 0xB0) {
            c = 'i', adv = 2, sep_after = 1;        /* U+0130 -> "i\u0307": 'i' then a separator */
        } else if (s[0] == 0xE2 && s[1] == 0x84 && s[2] == 0xAA) {
            c = 'k', adv = 3;                       /* U+212A KELVIN SIGN -> 'k' */
        } else {
            /* other UTF-8 sequence: skip its continuation bytes, it is a separator */
            adv = 1;
            while (s[adv] >= 0x80 && s[adv] < 0xC0) adv++;
        }
        if (c) {
            if (!in_tok) {
                if (nt < max_tok) tok[nt] = buf + o;
                nt++;
                in_tok = 1;
            }
            buf[o++] = c;
            if (sep_after) buf[o++] = 0, in_tok = 0;
        } else if (in_tok) {
            buf[o++] = 0;
            in_tok = 0;
        }
        s += adv;
    }
    buf[o] = 0;
    return nt < max_tok ? nt : max_tok;
}

static int et__cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void et__score(double hit, int n_pred, int n_ref, et_rouge *r) {
    r->p = hit / (n_pred > 1 ? n_pred : 1);
    r->r = hit / (n_ref > 1 ? n_ref : 1);
    r->f = r->p + r->r > 0 ? 2 * r->p * r->r / (r->p + r->r) : 0.0;
}

int et_metric_rouge(const char *pred, const char *ref, et_rouge *r1, et_rouge *rl) {
    size_t lp = strlen(pred), lr = strlen(ref);
    /* a text of L bytes has at most L/2+1 tokens (tokens are separated) */
    int mp = (int)(lp / 2 + 1), mr = (int)(lr / 2 + 1);
    char *bp = malloc(lp + 1), *br = malloc(lr + 1);
    const char **tp = malloc(sizeof *tp * (size_t)mp * 2), **tr = malloc(sizeof *tr * (size_t)mr * 2);
    int *row = malloc(sizeof *row * (size_t)(mr + 1) * 2);
    int rc = -1;
    if (!bp || !br || !tp || !tr || !row) goto done;
    int np = et_rouge_tokenize(pred, bp, tp, mp), nr = et_rouge_tokenize(ref, br, tr, mr);

    /* ROUGE-L: longest common subsequence of the token sequences (two DP rows) */
    int *prev = row, *cur = row + (mr + 1);
    memset(prev, 0, sizeof *prev * (size_t)(nr + 1));
    for (int i = 0; i < np; i++) {
        cur[0] = 0;
        for (int j = 0; j < nr; j++)
            cur[j + 1] = !strcmp(tp[i], tr[j]) ? prev[j] + 1
                         : (prev[j + 1] > cur[j] ? prev[j + 1] : cur[j]);
        int *t = prev; prev = cur; cur = t;
    }
    int lcs = prev[nr];
    if (np == 0 || nr == 0) rl->p = rl->r = rl->f = 0.0;   /* rouge-score returns 0 for empty */
    else et__score(lcs, np, nr, rl);

    /* ROUGE-1: clipped unigram overlap = sum over words of min(count_pred, count_ref) */
    const char **sp = tp + mp, **sr = tr + mr;
    memcpy(sp, tp, sizeof *sp * (size_t)np);
    memcpy(sr, tr, sizeof *sr * (size_t)nr);
    qsort(sp, (size_t)np, sizeof *sp, et__cmp_str);
    qsort(sr, (size_t)nr, sizeof *sr, et__cmp_str);
    int hit = 0;
    for (int i = 0, j = 0; i < np && j < nr;) {
        int c = strcmp(sp[i], sr[j]);
        if (c == 0) hit++, i++, j++;
        else if (c < 0) i++;
        else j++;
    }
    et__score(hit, np, nr, r1);
    rc = 0;
done:
    free(bp); free(br); free(tp); free(tr); free(row);
    return rc;
}
