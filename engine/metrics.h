/* Task metrics of the personalization study, computed the way LaMP's evaluation does.
 *
 *   classification (LaMP-2):  accuracy and macro-F1 over the task's full label list
 *                             (sklearn f1_score(average="macro", labels=all): a label that is
 *                             neither predicted nor gold scores F1 = 0, zero_division = 0);
 *   rating (LaMP-3):          MAE and RMSE of the numeric ratings;
 *   generation (LaMP-4/5):    ROUGE-1 and ROUGE-L F-measure as Google's rouge-score package
 *                             computes them with its default tokenizer and use_stemmer=False
 *                             (what LaMP's evaluate("rouge") call uses): lower-case, every run
 *                             of characters other than [a-z0-9] becomes a separator, no
 *                             stemming, no stop words.  Labels are ids 0..n_labels-1.
 */
#ifndef ET_METRICS_H
#define ET_METRICS_H

#include <stddef.h>

typedef struct et_rouge {
    double p, r, f;   /* precision, recall, F-measure (2pr/(p+r), 0 when p+r == 0) */
} et_rouge;

/* Fraction of i with pred[i] == gold[i]; 0 for n == 0. */
double et_metric_accuracy(const int *pred, const int *gold, int n);
/* Unweighted mean over labels 0..n_labels-1 of per-label F1; ids outside the range count as
 * wrong predictions of no label. */
double et_metric_macro_f1(const int *pred, const int *gold, int n, int n_labels);
double et_metric_mae(const double *pred, const double *gold, int n);
double et_metric_rmse(const double *pred, const double *gold, int n);

/* rouge-score's default tokenizer: writes up to max_tok tokens as offsets into a
 * lower-cased copy in buf (size >= strlen(text)+1).  Returns the token count. */
int et_rouge_tokenize(const char *text, char *buf, const char **tok, int max_tok);

/* ROUGE-1 and ROUGE-L (sentence-level LCS, rouge-score's "rougeL", not "rougeLsum") of a
 * prediction against one reference.  Returns 0, or -1 if memory could not be had. */
int et_metric_rouge(const char *pred, const char *ref, et_rouge *r1, et_rouge *rl);

#endif
