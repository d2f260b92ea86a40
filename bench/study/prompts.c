/* Prompts built from a user's profile items.
 *
 *   - Training pairs for parameter learning: the task's own prompt template filled with the
 *     profile item, answered by the item's own label (rating: its score; classification: its
 *     tag; generation: its title/synopsis).  Attribution items have no label: the pair is the
 *     item's quotation against a distractor quotation, as the task's queries are built, and
 *     the answer is the true one's position ("[1]" / "[2]").
 *   - RAG context: the retrieved items, best first, one line each in LaMP's style ("... is
 *     the score for ..."), in front of the query, as many as fit in the token budget.
 *   - Retrieval query text: the query's input without the task's instruction prefix.
 *   - Content-free prompt (label calibration): the task's template with "N/A" for every
 *     item, as "Calibrate before use" (Zhao et al., 2021) does.
 * Long item texts are cut at a UTF-8 boundary (ET__ITEM_MAX bytes) so one item cannot take
 * the whole context.
 */
#include "study.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ET__ITEM_MAX 320

typedef struct { char *s; size_t n, cap; int oom; } et__buf;

static void et__put(et__buf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t nc = (b->n + n + 1) * 2;
        char *ns = realloc(b->s, nc);
        if (!ns) { b->oom = 1; return; }
        b->s = ns, b->cap = nc;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}
static void et__puts(et__buf *b, const char *s) { et__put(b, s, strlen(s)); }

/* s cut to at most max bytes, never inside a UTF-8 sequence */
static void et__put_cut(et__buf *b, const char *s, size_t max) {
    size_t n = strlen(s);
    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
    }
    et__put(b, s, n);
}

static char *et__fill(const et_study_task *t, const char *item, const char *a, const char *b) {
    et__buf o = {0};
    et__puts(&o, "");
    for (const char *p = t->prompt_template; *p;) {
        if (!strncmp(p, "{item}", 6) || !strncmp(p, "{description}", 13)) {
            et__put_cut(&o, item ? item : "", ET__ITEM_MAX);
            p += p[1] == 'i' ? 6 : 13;
        } else if (!strncmp(p, "{labels}", 8)) {
            for (int i = 0; i < t->n_labels; i++) {
                if (i) et__puts(&o, ", ");
                et__puts(&o, t->labels[i]);
            }
            p += 8;
        } else if (!strncmp(p, "{a}", 3) || !strncmp(p, "{b}", 3)) {
            et__put_cut(&o, (p[1] == 'a' ? a : b) ? (p[1] == 'a' ? a : b) : "", ET__ITEM_MAX);
            p += 3;
        } else {
            et__put(&o, p, 1);
            p++;
        }
    }
    if (o.oom) { free(o.s); return NULL; }
    return o.s;
}

char *et_study_content_free_prompt(const et_study_task *t) { return et__fill(t, "N/A", "N/A", "N/A"); }

char *et_study_item_prompt(const et_study_task *t, const et_study_item *it,
                           const char *distractor, int true_pos, char **answer) {
    *answer = NULL;
    char *prompt;
    if (t->kind == ET_TASK_ATTRIBUTION) {
        const char *a = true_pos == 0 ? it->text : distractor, *b = true_pos == 0 ? distractor : it->text;
        prompt = et__fill(t, it->text, a, b);
        *answer = strdup(true_pos == 0 ? "[1]" : "[2]");
    } else {
        if (!it->label) return NULL;                 /* nothing to learn from this item */
        prompt = et__fill(t, it->text, NULL, NULL);
        *answer = strdup(it->label);
    }
    if (!prompt || !*answer) { free(prompt); free(*answer); *answer = NULL; return NULL; }
    return prompt;
}

static void et__item_line(et__buf *o, const et_study_task *t, const et_study_item *it) {
    switch (t->kind) {
    case ET_TASK_RATING:
        et__puts(o, it->label ? it->label : "?");
        et__puts(o, " is the score for \"");
        et__put_cut(o, it->text, ET__ITEM_MAX);
        et__puts(o, "\"");
        break;
    case ET_TASK_CLASSIFICATION:
        et__puts(o, "the label for \"");
        et__put_cut(o, it->text, ET__ITEM_MAX);
        et__puts(o, "\" is \"");
        et__puts(o, it->label ? it->label : "?");
        et__puts(o, "\"");
        break;
    case ET_TASK_GENERATION:
        et__puts(o, "\"");
        et__put_cut(o, it->label ? it->label : "", ET__ITEM_MAX);
        et__puts(o, "\" is the summary for \"");
        et__put_cut(o, it->text, ET__ITEM_MAX);
        et__puts(o, "\"");
        break;
    default:
        et__puts(o, "\"");
        et__put_cut(o, it->text, ET__ITEM_MAX);
        et__puts(o, "\"");
    }
}

static int et__approx_tokens(void *ctx, const char *s) { return (int)(strlen(s) / 4) + 1; }

char *et_study_rag_prompt(const et_study_task *t, const et_study_user *u, const int *idx,
                          int k, const char *input, int max_tokens,
                          int (*count_tokens)(void *ctx, const char *s), void *ctx) {
    if (!count_tokens) count_tokens = et__approx_tokens;
    /* grow the history one item at a time; keep the longest that fits */
    et__buf hist = {0};
    et__puts(&hist, "");
    char *best = NULL;
    for (int i = 0; i <= k; i++) {
        if (i > 0) {
            if (idx[i - 1] < 0 || idx[i - 1] >= u->n_profile) break;
            et__puts(&hist, i > 1 ? ", and " : "");
            et__item_line(&hist, t, &u->profile[idx[i - 1]]);
        }
        et__buf o = {0};
        if (i > 0) {
            et__puts(&o, "The user's history: ");
            et__puts(&o, hist.s);
            et__puts(&o, ".\n");
        }
        et__puts(&o, input);
        if (o.oom || hist.oom) { free(o.s); break; }
        if (i > 0 && count_tokens(ctx, o.s) > max_tokens) { free(o.s); break; }
        free(best);
        best = o.s;
    }
    free(hist.s);
    return best;
}

const char *et_study_query_text(const et_study_task *t, const char *input) {
    const char *tm = t->prompt_template;
    const char *ph = NULL;
    static const char *const marks[] = {"{item}", "{description}", "{a}"};
    for (int i = 0; i < 3; i++) {
        const char *m = strstr(tm, marks[i]);
        if (m && (!ph || m < ph)) ph = m;
    }
    if (!ph) return input;
    /* compare the template's prefix (with {labels} filled) against the input */
    const char *p = tm, *q = input;
    while (p < ph) {
        if (!strncmp(p, "{labels}", 8)) {
            for (int i = 0; i < t->n_labels; i++) {
                size_t n = strlen(t->labels[i]);
                if (i) { if (strncmp(q, ", ", 2)) return input; q += 2; }
                if (strncmp(q, t->labels[i], n)) return input;
                q += n;
            }
            p += 8;
        } else {
            if (*p != *q) return input;
            p++, q++;
        }
    }
    return q;
}
