/* Task loading for the study, in two layouts (tools/data/README.md describes the first):
 *
 *   built-in   build/data/<task>/task.json  name, kind, labels, prompt_template
 *              build/data/<task>/test.json  [{id, user, input, output, profile: [item]}]
 *              build/data/<task>/stats.json difficulty (entropy, majority / profile-prior)
 *              Records are grouped into users by "user"; every record of a user carries the
 *              same profile, so the first one's is used.
 *   LaMP       DIR/dev_questions.json  [{id, input, profile}]
 *              DIR/dev_outputs.json    {"task": "LaMP_N", "golds": [{id, output}]}
 *              Each question is one user (LaMP's profiles are per question).
 *
 * A profile item becomes (text, label): text is the first of description / text / abstract /
 * title, label the first of score / tag / category / title when title is not the text.
 * LaMP directories carry no stats.json: their difficulty (label entropy, majority-class and
 * profile-prior baselines, profile sizes) is computed here (et_study_task_baselines) the way
 * tools/data/tasks.py computes the built-in tasks'.
 * Every malformed input ends in an error naming the file, the field and the bad value.
 */
#include "study.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

static const char *const et__kind_names[ET_TASK_KIND_COUNT] = {
    "rating", "classification", "attribution", "generation",
};

const char *et_task_kind_name(et_task_kind k) {
    return (unsigned)k < ET_TASK_KIND_COUNT ? et__kind_names[k] : "?";
}

static char *et__read_file(const char *path, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) { snprintf(err, errlen, "%s: cannot open", path); return NULL; }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (n < 0 || n > (1L << 31)) {
        fclose(f);
        snprintf(err, errlen, "%s: unreadable size %ld", path, n);
        return NULL;
    }
    char *buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf); fclose(f);
        snprintf(err, errlen, "%s: read failed", path);
        return NULL;
    }
    buf[n] = 0;
    fclose(f);
    return buf;
}

static cJSON *et__parse_file(const char *path, char *err, size_t errlen) {
    char *buf = et__read_file(path, err, errlen);
    if (!buf) return NULL;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithOpts(buf, &end, 1);
    if (!j) {
        long off = end ? (long)(end - buf) : -1;
        snprintf(err, errlen, "%s: invalid JSON near byte %ld", path, off);
    }
    free(buf);
    return j;
}

/* a string field; what: a description for the error, e.g. "record 3" */
static const char *et__str(const cJSON *o, const char *field, const char *path, const char *what,
                           int required, char *err, size_t errlen) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, field);
    if (cJSON_IsString(v)) return v->valuestring;
    if (cJSON_IsNumber(v) && !strcmp(field, "score")) return NULL;   /* handled by caller */
    if (required || (v && !cJSON_IsNull(v))) {
        char *shown = v ? cJSON_PrintUnformatted(v) : NULL;
        snprintf(err, errlen, "%s: %s: field \"%s\" %s%.60s", path, what, field,
                 v ? "is not a string: " : "is missing", shown ? shown : "");
        free(shown);
    }
    return NULL;
}

static char *et__dup(const char *s) { return s ? strdup(s) : NULL; }

void et_study_task_free(et_study_task *t) {
    if (!t) return;
    for (int u = 0; u < t->n_users; u++) {
        et_study_user *us = &t->users[u];
        for (int i = 0; i < us->n_profile; i++) free(us->profile[i].text), free(us->profile[i].label);
        for (int i = 0; i < us->n_test; i++)
            free(us->test[i].id), free(us->test[i].input), free(us->test[i].output);
        free(us->profile); free(us->test); free(us->name);
    }
    for (int i = 0; i < t->n_labels; i++) free(t->labels[i]);
    free(t->labels); free(t->users); free(t->name); free(t->source); free(t->prompt_template);
    memset(t, 0, sizeof *t);
}

int et_study_task_label(const et_study_task *t, const char *s) {
    for (int i = 0; i < t->n_labels; i++)
        if (!strcmp(t->labels[i], s)) return i;
    return -1;
}

/* profile array -> items.  0 or -1 (err set). */
static int et__profile(const cJSON *arr, const char *path, const char *what, et_study_user *u,
                       et_task_kind kind, char *err, size_t errlen) {
    if (!cJSON_IsArray(arr)) {
        snprintf(err, errlen, "%s: %s: field \"profile\" is %s", path, what,
                 arr ? "not a list" : "missing");
        return -1;
    }
    int n = cJSON_GetArraySize(arr);
    u->profile = calloc((size_t)(n > 0 ? n : 1), sizeof *u->profile);
    if (!u->profile) { snprintf(err, errlen, "%s: out of memory", path); return -1; }
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        char w[96];
        snprintf(w, sizeof w, "%s profile item %d", what, i);
        if (!cJSON_IsObject(it)) {
            snprintf(err, errlen, "%s: %s is not an object", path, w);
            return -1;
        }
        err[0] = 0;
        const char *desc = et__str(it, "description", path, w, 0, err, errlen);
        const char *text = et__str(it, "text", path, w, 0, err, errlen);
        const char *abs = et__str(it, "abstract", path, w, 0, err, errlen);
        const char *title = et__str(it, "title", path, w, 0, err, errlen);
        const char *tag = et__str(it, "tag", path, w, 0, err, errlen);
        const char *cat = et__str(it, "category", path, w, 0, err, errlen);
        const char *score = et__str(it, "score", path, w, 0, err, errlen);
        if (err[0]) return -1;
        char numbuf[32];
        const cJSON *sv = cJSON_GetObjectItemCaseSensitive(it, "score");
        if (cJSON_IsNumber(sv)) {                      /* LaMP-3 stores scores as strings; be lenient */
            snprintf(numbuf, sizeof numbuf, "%g", sv->valuedouble);
            score = numbuf;
        }
        const char *body = desc ? desc : text ? text : abs ? abs : NULL;
        const char *label = score ? score : tag ? tag : cat ? cat : NULL;
        if (kind == ET_TASK_ATTRIBUTION) {             /* quotations / paper titles */
            body = text ? text : title ? title : body;
            label = NULL;
        } else if (!body) {
            body = title, title = NULL;
        } else if (!label) {
            label = title;
        }
        if (!body) {
            snprintf(err, errlen, "%s: %s has none of the fields description/text/abstract/title",
                     path, w);
            return -1;
        }
        u->profile[i].text = strdup(body);
        u->profile[i].label = et__dup(label);
        if (!u->profile[i].text || (label && !u->profile[i].label)) {
            snprintf(err, errlen, "%s: out of memory", path);
            return -1;
        }
        u->n_profile = ++i;
    }
    return 0;
}

static double et__num(const cJSON *o, const char *a, const char *b) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);
    if (v && b) v = cJSON_GetObjectItemCaseSensitive(v, b);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static int et__kind_of(const char *s, et_task_kind *k) {
    for (int i = 0; i < ET_TASK_KIND_COUNT; i++)
        if (!strcmp(s, et__kind_names[i])) { *k = (et_task_kind)i; return 0; }
    return -1;
}

static void et__no_stats(et_study_task *t) {
    t->entropy_bits = t->majority_acc = t->majority_f1 = t->majority_mae = NAN;
    t->prior_acc = t->prior_f1 = t->prior_mae = t->profile_median = NAN;
}

int et_study_task_load(const char *data_dir, const char *name, et_study_task *t, char *err,
                       size_t errlen) {
    memset(t, 0, sizeof *t);
    et__no_stats(t);
    char path[1024];
    cJSON *task = NULL, *test = NULL, *stats = NULL;
    snprintf(path, sizeof path, "%s/%s/task.json", data_dir, name);
    if (!(task = et__parse_file(path, err, errlen))) goto fail;
    t->name = strdup(name);
    snprintf(path, sizeof path, "%s/%s", data_dir, name);
    t->source = strdup(path);
    snprintf(path, sizeof path, "%s/%s/task.json", data_dir, name);
    const char *kind = et__str(task, "kind", path, "task", 1, err, errlen);
    if (!kind) goto fail;
    if (et__kind_of(kind, &t->kind)) {
        snprintf(err, errlen, "%s: field \"kind\" has unknown value \"%.40s\" (rating, "
                 "classification, attribution, generation)", path, kind);
        goto fail;
    }
    const char *tmpl = et__str(task, "prompt_template", path, "task", 1, err, errlen);
    if (!tmpl) goto fail;
    t->prompt_template = strdup(tmpl);
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(task, "labels");
    if (t->kind != ET_TASK_GENERATION) {
        if (!cJSON_IsArray(labels) || cJSON_GetArraySize(labels) < 2) {
            snprintf(err, errlen, "%s: field \"labels\" must be a list of at least 2 strings for "
                     "kind %s", path, kind);
            goto fail;
        }
        t->n_labels = cJSON_GetArraySize(labels);
        t->labels = calloc((size_t)t->n_labels, sizeof *t->labels);
        for (int i = 0; i < t->n_labels; i++) {
            const cJSON *l = cJSON_GetArrayItem(labels, i);
            if (!cJSON_IsString(l)) {
                snprintf(err, errlen, "%s: field \"labels\"[%d] is not a string", path, i);
                goto fail;
            }
            t->labels[i] = strdup(l->valuestring);
        }
    }

    snprintf(path, sizeof path, "%s/%s/test.json", data_dir, name);
    if (!(test = et__parse_file(path, err, errlen))) goto fail;
    if (!cJSON_IsArray(test)) {
        snprintf(err, errlen, "%s: top level is not a list of records", path);
        goto fail;
    }
    int n = cJSON_GetArraySize(test);
    t->users = calloc((size_t)(n > 0 ? n : 1), sizeof *t->users);
    if (!t->users) { snprintf(err, errlen, "%s: out of memory", path); goto fail; }
    int r = 0;
    const cJSON *rec;
    cJSON_ArrayForEach(rec, test) {
        char w[48];
        snprintf(w, sizeof w, "record %d", r++);
        if (!cJSON_IsObject(rec)) { snprintf(err, errlen, "%s: %s is not an object", path, w); goto fail; }
        const char *id = et__str(rec, "id", path, w, 1, err, errlen);
        const char *user = et__str(rec, "user", path, w, 1, err, errlen);
        const char *in = et__str(rec, "input", path, w, 1, err, errlen);
        const char *out = et__str(rec, "output", path, w, 1, err, errlen);
        if (!id || !user || !in || !out) goto fail;
        if (t->kind != ET_TASK_GENERATION && et_study_task_label(t, out) < 0) {
            snprintf(err, errlen, "%s: %s (id %s): field \"output\" value \"%.40s\" is not one of "
                     "the task's labels", path, w, id, out);
            goto fail;
        }
        et_study_user *u = t->n_users ? &t->users[t->n_users - 1] : NULL;
        if (!u || strcmp(u->name, user)) {           /* records are sorted by user */
            for (int k = 0; k < t->n_users; k++)
                if (!strcmp(t->users[k].name, user)) {
                    snprintf(err, errlen, "%s: %s: field \"user\" value \"%.60s\" appears in two "
                             "separate runs (records must be grouped by user)", path, w, user);
                    goto fail;
                }
            u = &t->users[t->n_users++];
            u->name = strdup(user);
            u->test = calloc((size_t)n, sizeof *u->test);
            if (!u->test) { snprintf(err, errlen, "%s: out of memory", path); goto fail; }
            if (et__profile(cJSON_GetObjectItemCaseSensitive(rec, "profile"), path, w, u, t->kind,
                            err, errlen))
                goto fail;
        }
        et_study_query *q = &u->test[u->n_test++];
        q->id = strdup(id), q->input = strdup(in), q->output = strdup(out);
    }
    if (t->n_users == 0) { snprintf(err, errlen, "%s: no records", path); goto fail; }

    snprintf(path, sizeof path, "%s/%s/stats.json", data_dir, name);
    if ((stats = et__parse_file(path, err, errlen))) {   /* optional: difficulty */
        t->entropy_bits = et__num(stats, "label_entropy_bits", NULL);
        t->majority_acc = et__num(stats, "majority_baseline", "accuracy");
        t->majority_f1 = et__num(stats, "majority_baseline", "macro_f1");
        t->majority_mae = et__num(stats, "majority_baseline", "mae");
        t->prior_acc = et__num(stats, "profile_prior_baseline", "accuracy");
        t->prior_f1 = et__num(stats, "profile_prior_baseline", "macro_f1");
        t->prior_mae = et__num(stats, "profile_prior_baseline", "mae");
        t->profile_median = et__num(stats, "profile_size", "median");
    }
    err[0] = 0;
    cJSON_Delete(task); cJSON_Delete(test); cJSON_Delete(stats);
    return 0;
fail:
    cJSON_Delete(task); cJSON_Delete(test); cJSON_Delete(stats);
    et_study_task_free(t);
    return -1;
}

/* ---- LaMP's own layout --------------------------------------------------------------- */

/* LaMP's prompts (the benchmark paper's templates), for training pairs made from profile items */
static const struct { int n; et_task_kind kind; const char *tmpl; } et__lamp[] = {
    {1, ET_TASK_ATTRIBUTION, "For an author who has written the paper with the title \"{item}\", "
        "which reference is related? Just answer with [1] or [2] without explanation. "
        "[1]: \"{a}\" [2]: \"{b}\""},
    {2, ET_TASK_CLASSIFICATION, "Which tag does this movie relate to among the following tags? "
        "Just answer with the tag name without further explanation. tags: [{labels}] "
        "description: {description}"},
    {3, ET_TASK_RATING, "What is the score of the following review on a scale of 1 to 5? just "
        "answer with 1, 2, 3, 4, or 5 without further explanation. review: {item}"},
    {4, ET_TASK_GENERATION, "Generate a headline for the following article: {description}"},
    {5, ET_TASK_GENERATION, "Generate a title for the following abstract of a paper: {description}"},
    {6, ET_TASK_GENERATION, "Generate a subject for the following email: {description}"},
    {7, ET_TASK_GENERATION, "Paraphrase the following tweet without any explanation before or "
        "after it: {description}"},
};

static int et__add_label(et_study_task *t, const char *s) {
    if (et_study_task_label(t, s) >= 0) return 0;
    char **nl = realloc(t->labels, sizeof *nl * (size_t)(t->n_labels + 1));
    if (!nl) return -1;
    t->labels = nl;
    return (t->labels[t->n_labels++] = strdup(s)) ? 0 : -1;
}

static int et__cmp_label(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int et_study_task_load_lamp(const char *dir, et_study_task *t, char *err, size_t errlen) {
    memset(t, 0, sizeof *t);
    et__no_stats(t);
    char qpath[1024], opath[1024];
    snprintf(qpath, sizeof qpath, "%s/dev_questions.json", dir);
    snprintf(opath, sizeof opath, "%s/dev_outputs.json", dir);
    cJSON *qs = NULL, *outs = NULL;
    if (!(qs = et__parse_file(qpath, err, errlen))) goto fail;
    if (!(outs = et__parse_file(opath, err, errlen))) goto fail;
    const char *tname = et__str(outs, "task", opath, "top level", 1, err, errlen);
    if (!tname) goto fail;
    int num = 0, ti = -1;
    if (sscanf(tname, "LaMP_%d", &num) == 1 || sscanf(tname, "LaMP-%d", &num) == 1)
        for (size_t i = 0; i < sizeof et__lamp / sizeof et__lamp[0]; i++)
            if (et__lamp[i].n == num) ti = (int)i;
    if (ti < 0) {
        snprintf(err, errlen, "%s: field \"task\" value \"%.40s\" is not LaMP_1 .. LaMP_7", opath, tname);
        goto fail;
    }
    t->kind = et__lamp[ti].kind;
    t->prompt_template = strdup(et__lamp[ti].tmpl);
    char nm[32];
    snprintf(nm, sizeof nm, "LaMP-%d", num);
    t->name = strdup(nm);
    t->source = strdup(dir);
    const cJSON *golds = cJSON_GetObjectItemCaseSensitive(outs, "golds");
    if (!cJSON_IsArray(golds)) {
        snprintf(err, errlen, "%s: field \"golds\" is %s", opath, golds ? "not a list" : "missing");
        goto fail;
    }
    if (!cJSON_IsArray(qs)) {
        snprintf(err, errlen, "%s: top level is not a list of questions", qpath);
        goto fail;
    }
    int n = cJSON_GetArraySize(qs);
    t->users = calloc((size_t)(n > 0 ? n : 1), sizeof *t->users);
    if (!t->users) { snprintf(err, errlen, "%s: out of memory", qpath); goto fail; }
    if (t->kind == ET_TASK_RATING)
        for (int i = 1; i <= 5; i++) { char b[16]; snprintf(b, sizeof b, "%d", i); et__add_label(t, b); }
    if (t->kind == ET_TASK_ATTRIBUTION) { et__add_label(t, "[1]"); et__add_label(t, "[2]"); }
    int r = 0;
    const cJSON *q;
    cJSON_ArrayForEach(q, qs) {
        char w[48];
        snprintf(w, sizeof w, "question %d", r++);
        if (!cJSON_IsObject(q)) { snprintf(err, errlen, "%s: %s is not an object", qpath, w); goto fail; }
        const char *id = et__str(q, "id", qpath, w, 1, err, errlen);
        const char *in = et__str(q, "input", qpath, w, 1, err, errlen);
        if (!id || !in) goto fail;
        const char *out = NULL;
        const cJSON *g;
        int gi = 0;
        cJSON_ArrayForEach(g, golds) {
            char gw[48];
            snprintf(gw, sizeof gw, "golds[%d]", gi++);
            const char *gid = et__str(g, "id", opath, gw, 1, err, errlen);
            if (!gid) goto fail;
            if (!strcmp(gid, id)) {
                if (!(out = et__str(g, "output", opath, gw, 1, err, errlen))) goto fail;
                break;
            }
        }
        if (!out) {
            snprintf(err, errlen, "%s: no gold output for question id \"%.60s\" of %s", opath, id, qpath);
            goto fail;
        }
        et_study_user *u = &t->users[t->n_users++];
        u->name = strdup(id);
        u->test = calloc(1, sizeof *u->test);
        if (!u->test) { snprintf(err, errlen, "%s: out of memory", qpath); goto fail; }
        u->test[0].id = strdup(id), u->test[0].input = strdup(in), u->test[0].output = strdup(out);
        u->n_test = 1;
        if (et__profile(cJSON_GetObjectItemCaseSensitive(q, "profile"), qpath, w, u, t->kind, err, errlen))
            goto fail;
        if (t->kind == ET_TASK_CLASSIFICATION) {     /* LaMP-2: labels = tags seen, sorted */
            if (et__add_label(t, out)) goto oom;
            for (int i = 0; i < u->n_profile; i++)
                if (u->profile[i].label && et__add_label(t, u->profile[i].label)) goto oom;
        } else if (t->kind != ET_TASK_GENERATION && et_study_task_label(t, out) < 0) {
            snprintf(err, errlen, "%s: gold \"output\" of id \"%.60s\" is \"%.20s\", not a label of %s",
                     opath, id, out, t->name);
            goto fail;
        }
    }
    if (t->n_users == 0) { snprintf(err, errlen, "%s: no questions", qpath); goto fail; }
    if (t->kind == ET_TASK_CLASSIFICATION)
        qsort(t->labels, (size_t)t->n_labels, sizeof *t->labels, et__cmp_label);
    if (et_study_task_baselines(t)) goto oom;
    err[0] = 0;
    cJSON_Delete(qs); cJSON_Delete(outs);
    return 0;
oom:
    snprintf(err, errlen, "%s: out of memory", qpath);
fail:
    cJSON_Delete(qs); cJSON_Delete(outs);
    et_study_task_free(t);
    return -1;
}

/* the most frequent label among counts[], ties to the one listed first; -1 if all are 0 */
static int et__mode(const int *counts, int n) {
    int best = -1;
    for (int l = 0; l < n; l++)
        if (counts[l] > 0 && (best < 0 || counts[l] > counts[best])) best = l;
    return best;
}

static int et__cmp_int(const void *a, const void *b) {
    return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b);
}

int et_study_task_baselines(et_study_task *t) {
    et__no_stats(t);
    int *sizes = malloc(sizeof *sizes * (size_t)(t->n_users + 1));
    if (!sizes) return -1;
    for (int u = 0; u < t->n_users; u++) sizes[u] = t->users[u].n_profile;
    qsort(sizes, (size_t)t->n_users, sizeof *sizes, et__cmp_int);
    if (t->n_users)
        t->profile_median = t->n_users % 2 ? sizes[t->n_users / 2]
                                           : 0.5 * (sizes[t->n_users / 2 - 1] + sizes[t->n_users / 2]);
    free(sizes);
    if (t->kind == ET_TASK_GENERATION || t->n_labels < 1) return 0;
    int nq = 0;
    for (int u = 0; u < t->n_users; u++) nq += t->users[u].n_test;
    int *gold = malloc(sizeof *gold * (size_t)(nq + 1)), *pm = malloc(sizeof *pm * (size_t)(nq + 1)),
        *pp = malloc(sizeof *pp * (size_t)(nq + 1)), *all = calloc((size_t)t->n_labels, sizeof *all),
        *mine = calloc((size_t)t->n_labels, sizeof *mine), *gc = calloc((size_t)t->n_labels, sizeof *gc);
    double *gv = malloc(sizeof *gv * (size_t)(nq + 1)), *vm = malloc(sizeof *vm * (size_t)(nq + 1)),
           *vp = malloc(sizeof *vp * (size_t)(nq + 1));
    int rc = -1;
    if (!gold || !pm || !pp || !all || !mine || !gc || !gv || !vm || !vp) goto out;
    /* the majority label from what a learner may see: every user's profile labels (never the
     * test golds); a task whose profiles carry no labels (attribution) takes its first label */
    for (int u = 0; u < t->n_users; u++)
        for (int i = 0; i < t->users[u].n_profile; i++) {
            int l = t->users[u].profile[i].label ? et_study_task_label(t, t->users[u].profile[i].label) : -1;
            if (l >= 0) all[l]++;
        }
    int maj = et__mode(all, t->n_labels);
    if (maj < 0) maj = 0;
    int q = 0;
    for (int u = 0; u < t->n_users; u++) {
        const et_study_user *us = &t->users[u];
        memset(mine, 0, sizeof *mine * (size_t)t->n_labels);
        for (int i = 0; i < us->n_profile; i++) {
            int l = us->profile[i].label ? et_study_task_label(t, us->profile[i].label) : -1;
            if (l >= 0) mine[l]++;
        }
        int prior = et__mode(mine, t->n_labels);   /* the user's own most frequent label */
        for (int i = 0; i < us->n_test; i++, q++) {
            gold[q] = et_study_task_label(t, us->test[i].output);
            if (gold[q] >= 0) gc[gold[q]]++;
            pm[q] = maj, pp[q] = prior >= 0 ? prior : maj;
            gv[q] = atof(us->test[i].output), vm[q] = atof(t->labels[maj]), vp[q] = atof(t->labels[pp[q]]);
        }
    }
    t->entropy_bits = 0;
    for (int l = 0; l < t->n_labels; l++)
        if (gc[l] > 0) t->entropy_bits -= (double)gc[l] / nq * log2((double)gc[l] / nq);
    t->majority_acc = et_metric_accuracy(pm, gold, nq);
    t->majority_f1 = et_metric_macro_f1(pm, gold, nq, t->n_labels);
    t->prior_acc = et_metric_accuracy(pp, gold, nq);
    t->prior_f1 = et_metric_macro_f1(pp, gold, nq, t->n_labels);
    if (t->kind == ET_TASK_RATING) {
        t->majority_mae = et_metric_mae(vm, gv, nq);
        t->prior_mae = et_metric_mae(vp, gv, nq);
    }
    if (t->kind == ET_TASK_ATTRIBUTION) t->prior_acc = t->prior_f1 = NAN;   /* no labels in profiles */
    rc = 0;
out:
    free(gold); free(pm); free(pp); free(all); free(mine); free(gc); free(gv); free(vm); free(vp);
    return rc;
}

int et_study_sample_users(const et_study_task *t, int n, int *idx) {
    int m = t->n_users;
    int *perm = malloc(sizeof *perm * (size_t)(m > 0 ? m : 1));
    if (!perm) return -1;
    for (int i = 0; i < m; i++) perm[i] = i;
    /* seeded by the task name, so the sample is fixed per task and independent of cells */
    uint64_t s = 1469598103934665603ULL;
    for (const char *c = t->name; *c; c++) s = (s ^ (unsigned char)*c) * 1099511628211ULL;
    for (int i = m - 1; i > 0; i--) {
        s ^= s >> 12; s ^= s << 25; s ^= s >> 27;
        int j = (int)((s * 0x2545F4914F6CDD1DULL >> 11) % (uint64_t)(i + 1));
        int tmp = perm[i]; perm[i] = perm[j]; perm[j] = tmp;
    }
    if (n <= 0 || n > m) n = m;
    memcpy(idx, perm, sizeof *idx * (size_t)n);
    free(perm);
    return n;
}
