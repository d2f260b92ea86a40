/* The plotting library (see plot.h): an RGB canvas, a few raster primitives, text through
 * stb_truetype, axis layout with "nice" ticks (linear: 1/2/5 x 10^k steps; log: decades, with
 * 2 and 5 in between when the axis spans few decades), series drawing, legend, PNG out.
 *
 * This file holds the only STB_*_IMPLEMENTATION definitions of stb_image_write and
 * stb_truetype in edgetune; other files include the headers without them.
 */
#include "plot.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#include <stb/stb_image_write.h>
#define STB_TRUETYPE_IMPLEMENTATION
#define STBTT_STATIC
#include <stb/stb_truetype.h>
#pragma GCC diagnostic pop

enum { ET__LINE, ET__DASHED, ET__SCATTER, ET__BARS };

typedef struct { double x0, y0, x1, y1; } et__box;

typedef struct {
    int kind, n;
    char *name;
    double *x, *y, *lo, *hi;
    char **labels;
} et__series;

struct et_plot {
    int w, h, log_x, log_y;
    char *title, *xlabel, *ylabel;
    et__series *s;
    int n_s;
    char **cats;                  /* bar categories */
    int n_cat;
    uint8_t *px;                  /* RGB */
    /* layout, set at save time */
    int l, r, t, b;               /* plot area in pixels */
    double x0, x1, y0, y1;        /* data range (log10 on log axes) */
    stbtt_fontinfo font;
    unsigned char *font_data;
    et__box placed[256];          /* scatter labels drawn so far (overlaps are dropped) */
    int n_placed;
};

static const uint8_t et__palette[10][3] = {
    {31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40}, {148, 103, 189},
    {140, 86, 75}, {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207},
};

/* ---- objects -------------------------------------------------------------------------- */

et_plot *et_plot_new(int width, int height) {
    if (width < 200 || height < 150 || width > 8000 || height > 8000) return NULL;
    et_plot *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->w = width, p->h = height;
    return p;
}

static void et__series_free(et__series *s) {
    free(s->name); free(s->x); free(s->y); free(s->lo); free(s->hi);
    if (s->labels) for (int i = 0; i < s->n; i++) free(s->labels[i]);
    free(s->labels);
}

void et_plot_free(et_plot *p) {
    if (!p) return;
    for (int i = 0; i < p->n_s; i++) et__series_free(&p->s[i]);
    for (int i = 0; i < p->n_cat; i++) free(p->cats[i]);
    free(p->cats); free(p->s); free(p->title); free(p->xlabel); free(p->ylabel);
    free(p->px); free(p->font_data); free(p);
}

static void et__set(char **dst, const char *s) { free(*dst); *dst = s ? strdup(s) : NULL; }
void et_plot_title(et_plot *p, const char *s) { et__set(&p->title, s); }
void et_plot_xlabel(et_plot *p, const char *s) { et__set(&p->xlabel, s); }
void et_plot_ylabel(et_plot *p, const char *s) { et__set(&p->ylabel, s); }
void et_plot_log(et_plot *p, int lx, int ly) { p->log_x = lx, p->log_y = ly; }

static double *et__dup(const double *v, int n) {
    if (!v) return NULL;
    double *d = malloc(sizeof *d * (size_t)(n > 0 ? n : 1));
    if (d) memcpy(d, v, sizeof *d * (size_t)n);
    return d;
}

static et__series *et__add(et_plot *p, int kind, const char *name, const double *x,
                           const double *y, const double *lo, const double *hi, int n) {
    if (n < 0 || !y || (kind != ET__BARS && !x)) return NULL;
    et__series *ns = realloc(p->s, sizeof *ns * (size_t)(p->n_s + 1));
    if (!ns) return NULL;
    p->s = ns;
    et__series *s = &p->s[p->n_s];
    memset(s, 0, sizeof *s);
    s->kind = kind, s->n = n;
    s->name = name ? strdup(name) : NULL;
    s->x = kind == ET__BARS ? NULL : et__dup(x, n);
    s->y = et__dup(y, n), s->lo = et__dup(lo, n), s->hi = et__dup(hi, n);
    if ((kind != ET__BARS && !s->x) || !s->y || (lo && !s->lo) || (hi && !s->hi)) {
        et__series_free(s);
        return NULL;
    }
    p->n_s++;
    return s;
}

int et_plot_line(et_plot *p, const char *name, const double *x, const double *y,
                 const double *lo, const double *hi, int n) {
    return et__add(p, ET__LINE, name, x, y, lo, hi, n) ? 0 : -1;
}

int et_plot_line_dashed(et_plot *p, const char *name, const double *x, const double *y, int n) {
    return et__add(p, ET__DASHED, name, x, y, NULL, NULL, n) ? 0 : -1;
}

int et_plot_scatter(et_plot *p, const char *name, const double *x, const double *y,
                    const char *const *labels, int n) {
    et__series *s = et__add(p, ET__SCATTER, name, x, y, NULL, NULL, n);
    if (!s) return -1;
    if (labels) {
        s->labels = calloc((size_t)(n > 0 ? n : 1), sizeof *s->labels);
        if (!s->labels) return -1;
        for (int i = 0; i < n; i++) s->labels[i] = labels[i] ? strdup(labels[i]) : NULL;
    }
    return 0;
}

int et_plot_bars(et_plot *p, const char *name, const char *const *categories, int n_cat,
                 const double *v, const double *lo, const double *hi) {
    if (p->n_cat == 0) {
        if (n_cat <= 0 || !categories) return -1;
        p->cats = calloc((size_t)n_cat, sizeof *p->cats);
        if (!p->cats) return -1;
        for (int i = 0; i < n_cat; i++) p->cats[i] = strdup(categories[i] ? categories[i] : "");
        p->n_cat = n_cat;
    } else if (n_cat != p->n_cat) {
        return -1;
    }
    return et__add(p, ET__BARS, name, NULL, v, lo, hi, n_cat) ? 0 : -1;
}

/* ---- raster ----------------------------------------------------------------------------- */

static void et__blend(et_plot *p, int x, int y, const uint8_t c[3], double a) {
    if (x < 0 || y < 0 || x >= p->w || y >= p->h || a <= 0) return;
    if (a > 1) a = 1;
    uint8_t *d = p->px + ((size_t)y * p->w + x) * 3;
    for (int k = 0; k < 3; k++) d[k] = (uint8_t)(d[k] + (c[k] - d[k]) * a + 0.5);
}

static void et__rect(et_plot *p, int x0, int y0, int x1, int y1, const uint8_t c[3]) {
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) et__blend(p, x, y, c, 1.0);
}

static void et__disk(et_plot *p, double cx, double cy, double r, const uint8_t c[3]) {
    for (int y = (int)floor(cy - r - 1); y <= (int)ceil(cy + r + 1); y++)
        for (int x = (int)floor(cx - r - 1); x <= (int)ceil(cx + r + 1); x++) {
            double d = sqrt((x - cx) * (x - cx) + (y - cy) * (y - cy));
            et__blend(p, x, y, c, r + 0.5 - d);         /* 1px anti-aliased rim */
        }
}

/* thick line of width wdt; dash > 0: on/off pattern length in pixels */
static void et__line(et_plot *p, double x0, double y0, double x1, double y1, double wdt,
                     const uint8_t c[3], double dash) {
    double len = hypot(x1 - x0, y1 - y0);
    if (!isfinite(len) || len > 1e5) return;
    int steps = (int)(len * 2) + 1;
    for (int i = 0; i <= steps; i++) {
        double t = (double)i / steps;
        if (dash > 0 && fmod(t * len, 2 * dash) > dash) continue;
        double x = x0 + t * (x1 - x0), y = y0 + t * (y1 - y0);
        if (wdt <= 1.01) et__blend(p, (int)lround(x), (int)lround(y), c, 1.0);
        else et__disk(p, x, y, wdt / 2 - 0.5, c);
    }
}

/* ---- text ------------------------------------------------------------------------------- */

static int et__utf8(const char **s) {
    const unsigned char *u = (const unsigned char *)*s;
    int c = u[0], n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    for (int i = 1; i < n; i++)
        if ((u[i] & 0xC0) != 0x80) { *s += 1; return 0xFFFD; }
    *s += n;
    if (n == 1) return c;
    if (n == 2) return (c & 0x1F) << 6 | (u[1] & 0x3F);
    if (n == 3) return (c & 0x0F) << 12 | (u[1] & 0x3F) << 6 | (u[2] & 0x3F);
    return (c & 0x07) << 18 | (u[1] & 0x3F) << 12 | (u[2] & 0x3F) << 6 | (u[3] & 0x3F);
}

static double et__text_w(et_plot *p, const char *s, double size) {
    float sc = stbtt_ScaleForPixelHeight(&p->font, (float)size);
    double w = 0;
    while (*s) {
        int adv, lsb;
        stbtt_GetCodepointHMetrics(&p->font, et__utf8(&s), &adv, &lsb);
        w += adv * sc;
    }
    return w;
}

/* Draw s with its box's top-left at (x, y) (rot90: rotated counter-clockwise, the box's
 * bottom-left at (x, y+w) reads upward).  align: 0 left, 1 centre, 2 right (along the text). */
static void et__text(et_plot *p, double x, double y, const char *s, double size,
                     const uint8_t c[3], int align, int rot90) {
    if (!s || !*s) return;
    float sc = stbtt_ScaleForPixelHeight(&p->font, (float)size);
    int asc, desc, gap;
    stbtt_GetFontVMetrics(&p->font, &asc, &desc, &gap);
    int tw = (int)ceil(et__text_w(p, s, size)) + 2, th = (int)ceil((asc - desc) * sc) + 2;
    unsigned char *g = calloc((size_t)tw * th, 1);
    if (!g) return;
    double pen = 0;
    int base = (int)lround(asc * sc);
    for (const char *q = s; *q;) {
        int cp = et__utf8(&q), adv, lsb, x0, y0, x1, y1;
        stbtt_GetCodepointHMetrics(&p->font, cp, &adv, &lsb);
        stbtt_GetCodepointBitmapBox(&p->font, cp, sc, sc, &x0, &y0, &x1, &y1);
        int gx = (int)lround(pen) + x0, gy = base + y0, gw = x1 - x0, gh = y1 - y0;
        if (gw > 0 && gh > 0 && gx >= 0 && gy >= 0 && gx + gw <= tw && gy + gh <= th)
            stbtt_MakeCodepointBitmap(&p->font, g + (size_t)gy * tw + gx, gw, gh, tw, sc, sc, cp);
        pen += adv * sc;
    }
    double off = align == 1 ? tw / 2.0 : align == 2 ? tw : 0;
    for (int j = 0; j < th; j++)
        for (int i = 0; i < tw; i++) {
            double a = g[(size_t)j * tw + i] / 255.0;
            if (a <= 0) continue;
            if (!rot90) et__blend(p, (int)lround(x - off) + i, (int)lround(y) + j, c, a);
            else et__blend(p, (int)lround(x) + j, (int)lround(y + off) - i, c, a);
        }
    free(g);
}

/* ---- axes ------------------------------------------------------------------------------- */

static double et__tx(const et_plot *p, double v) {   /* data -> pixel */
    if (p->log_x) v = log10(v);
    return p->l + (v - p->x0) / (p->x1 - p->x0) * (p->r - p->l);
}
static double et__ty(const et_plot *p, double v) {
    if (p->log_y) v = log10(v);
    return p->b - (v - p->y0) / (p->y1 - p->y0) * (p->b - p->t);
}

static double et__nice_step(double range, int target) {
    double raw = range / target, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

static void et__fmt_tick(char *buf, size_t n, double v, double step, int log_axis) {
    if (log_axis) {
        double a = fabs(v);
        if (a >= 1e5 || (a < 1e-3 && a > 0)) snprintf(buf, n, "%.0e", v);
        else snprintf(buf, n, "%g", v);
        return;
    }
    int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (fabs(v) < step * 1e-6) v = 0;
    if (fabs(v) >= 1e6) snprintf(buf, n, "%.3g", v);
    else snprintf(buf, n, "%.*f", dec > 6 ? 6 : dec, v);
}

/* data range of one axis over all series (values on log axes must be > 0) */
static int et__range(et_plot *p, int axis_y, double *lo, double *hi, char *err, size_t errlen) {
    int lg = axis_y ? p->log_y : p->log_x;
    *lo = INFINITY, *hi = -INFINITY;
    for (int i = 0; i < p->n_s; i++) {
        et__series *s = &p->s[i];
        for (int j = 0; j < s->n; j++) {
            double v[3] = { axis_y ? s->y[j] : (s->x ? s->x[j] : NAN), NAN, NAN };
            if (axis_y && s->lo) v[1] = s->lo[j];
            if (axis_y && s->hi) v[2] = s->hi[j];
            for (int k = 0; k < 3; k++) {
                if (!isfinite(v[k])) continue;
                if (lg && v[k] <= 0) {
                    snprintf(err, errlen, "plot: series '%s' has %s value %g on a log axis",
                             s->name ? s->name : "?", axis_y ? "y" : "x", v[k]);
                    return -1;
                }
                double t = lg ? log10(v[k]) : v[k];
                if (t < *lo) *lo = t;
                if (t > *hi) *hi = t;
            }
        }
    }
    if (!isfinite(*lo)) *lo = 0, *hi = 1;
    if (*hi - *lo < 1e-12) {
        double d = lg ? 0.5 : (fabs(*lo) > 0 ? fabs(*lo) * 0.1 : 1);
        *lo -= d, *hi += d;
    }
    double pad = (*hi - *lo) * 0.05;
    *lo -= pad, *hi += pad;
    return 0;
}

static const uint8_t et__black[3] = {0, 0, 0}, et__grid[3] = {225, 225, 225},
                     et__dark[3] = {60, 60, 60}, et__white[3] = {255, 255, 255};

static void et__axis_ticks(et_plot *p, int axis_y) {
    int lg = axis_y ? p->log_y : p->log_x;
    double lo = axis_y ? p->y0 : p->x0, hi = axis_y ? p->y1 : p->x1;
    double ticks[64];
    int nt = 0;
    double step = 0;
    if (lg) {
        int dec = (int)(floor(hi) - ceil(lo)) + 1;
        static const double sub3[] = {1, 2, 5}, sub1[] = {1};
        const double *sub = dec <= 3 ? sub3 : sub1;
        int nsub = dec <= 3 ? 3 : 1, every = dec > 12 ? (dec + 11) / 12 : 1;
        for (int e = (int)floor(lo); e <= (int)ceil(hi) && nt < 64; e++) {
            if (e % every) continue;
            for (int k = 0; k < nsub && nt < 64; k++) {
                double t = log10(sub[k]) + e;
                if (t >= lo && t <= hi) ticks[nt++] = t;
            }
        }
    } else {
        step = et__nice_step(hi - lo, axis_y ? 6 : 8);
        for (double t = ceil(lo / step) * step; t <= hi + step * 1e-9 && nt < 64; t += step)
            ticks[nt++] = t;
    }
    for (int i = 0; i < nt; i++) {
        char buf[48];
        double v = lg ? pow(10, ticks[i]) : ticks[i];
        et__fmt_tick(buf, sizeof buf, v, step, lg);
        if (axis_y) {
            double y = p->b - (ticks[i] - lo) / (hi - lo) * (p->b - p->t);
            et__line(p, p->l + 1, y, p->r - 1, y, 1, et__grid, 0);
            et__line(p, p->l - 5, y, p->l, y, 1, et__black, 0);
            et__text(p, p->l - 8, y - 9, buf, 15, et__dark, 2, 0);
        } else {
            double x = p->l + (ticks[i] - lo) / (hi - lo) * (p->r - p->l);
            et__line(p, x, p->t + 1, x, p->b - 1, 1, et__grid, 0);
            et__line(p, x, p->b, x, p->b + 5, 1, et__black, 0);
            et__text(p, x, p->b + 8, buf, 15, et__dark, 1, 0);
        }
    }
}

/* ---- series and legend ------------------------------------------------------------------- */

/* label boxes already placed in this figure: a label that would overlap one is dropped
 * (coincident points would otherwise print unreadable stacks of text) */

static void et__label(et_plot *p, double x, double y, const char *s) {
    double w = et__text_w(p, s, 13), h = 16;
    double lx = x + 8 + w <= p->r - 2 ? x + 8 : x - 8 - w;     /* flip left at the right edge */
    double ly = y - 18 < p->t + 2 ? y + 4 : y - 18;
    et__box b = { lx, ly, lx + w, ly + h };
    for (int i = 0; i < p->n_placed; i++) {
        const et__box *o = &p->placed[i];
        if (b.x0 < o->x1 && o->x0 < b.x1 && b.y0 < o->y1 && o->y0 < b.y1) return;
    }
    if (p->n_placed < 256) p->placed[p->n_placed++] = b;
    et__text(p, lx, ly, s, 13, et__dark, 0, 0);
}

static void et__draw_series(et_plot *p, int idx, int bar_idx, int n_bars) {
    et__series *s = &p->s[idx];
    const uint8_t *c = et__palette[idx % 10];
    if (s->kind == ET__BARS) {
        double slot = (double)(p->r - p->l) / p->n_cat, bw = slot * 0.8 / n_bars;
        double base = et__ty(p, p->log_y ? pow(10, p->y0) : (p->y0 > 0 ? p->y0 : 0));
        for (int j = 0; j < s->n; j++) {
            if (!isfinite(s->y[j])) continue;
            double x = p->l + slot * j + slot * 0.1 + bw * bar_idx, y = et__ty(p, s->y[j]);
            et__rect(p, (int)lround(x), (int)lround(fmin(y, base)), (int)lround(x + bw) - 2,
                     (int)lround(fmax(y, base)), c);
            double lo = s->lo ? s->lo[j] : NAN, hi = s->hi ? s->hi[j] : NAN, xm = x + bw / 2 - 1;
            if (isfinite(lo) && isfinite(hi)) {
                et__line(p, xm, et__ty(p, lo), xm, et__ty(p, hi), 2, et__black, 0);
                et__line(p, xm - 4, et__ty(p, lo), xm + 4, et__ty(p, lo), 2, et__black, 0);
                et__line(p, xm - 4, et__ty(p, hi), xm + 4, et__ty(p, hi), 2, et__black, 0);
            }
        }
        return;
    }
    double px = NAN, py = NAN;
    for (int j = 0; j < s->n; j++) {
        if (!isfinite(s->x[j]) || !isfinite(s->y[j])) { px = NAN; continue; }
        double x = et__tx(p, s->x[j]), y = et__ty(p, s->y[j]);
        if (s->kind != ET__SCATTER && isfinite(px))
            et__line(p, px, py, x, y, s->kind == ET__DASHED ? 2 : 2.5, c,
                     s->kind == ET__DASHED ? 7 : 0);
        px = x, py = y;
    }
    for (int j = 0; j < s->n; j++) {
        if (!isfinite(s->x[j]) || !isfinite(s->y[j]) || s->kind == ET__DASHED) continue;
        double x = et__tx(p, s->x[j]), y = et__ty(p, s->y[j]);
        double lo = s->lo ? s->lo[j] : NAN, hi = s->hi ? s->hi[j] : NAN;
        if (isfinite(lo) && isfinite(hi)) {
            et__line(p, x, et__ty(p, lo), x, et__ty(p, hi), 1.6, c, 0);
            et__line(p, x - 5, et__ty(p, lo), x + 5, et__ty(p, lo), 1.6, c, 0);
            et__line(p, x - 5, et__ty(p, hi), x + 5, et__ty(p, hi), 1.6, c, 0);
        }
        et__disk(p, x, y, s->kind == ET__SCATTER ? 5 : 4, c);
        if (s->labels && s->labels[j]) et__label(p, x, y, s->labels[j]);
    }
}

static void et__legend(et_plot *p) {
    int n = 0;
    double wmax = 0;
    for (int i = 0; i < p->n_s; i++)
        if (p->s[i].name && *p->s[i].name) n++, wmax = fmax(wmax, et__text_w(p, p->s[i].name, 14));
    if (!n) return;
    int lw = (int)wmax + 46, lh = n * 22 + 10, x0 = p->r - lw - 10, y0 = p->t + 10;
    for (int y = y0; y < y0 + lh; y++)
        for (int x = x0; x < x0 + lw; x++) et__blend(p, x, y, et__white, 0.85);
    et__line(p, x0, y0, x0 + lw, y0, 1, et__grid, 0);
    et__line(p, x0, y0 + lh, x0 + lw, y0 + lh, 1, et__grid, 0);
    et__line(p, x0, y0, x0, y0 + lh, 1, et__grid, 0);
    et__line(p, x0 + lw, y0, x0 + lw, y0 + lh, 1, et__grid, 0);
    int row = 0;
    for (int i = 0; i < p->n_s; i++) {
        et__series *s = &p->s[i];
        if (!s->name || !*s->name) continue;
        const uint8_t *c = et__palette[i % 10];
        double y = y0 + 16 + row * 22;
        if (s->kind == ET__BARS) et__rect(p, x0 + 8, (int)y - 6, x0 + 30, (int)y + 6, c);
        else if (s->kind == ET__SCATTER) et__disk(p, x0 + 19, y, 5, c);
        else {
            et__line(p, x0 + 8, y, x0 + 30, y, 2.5, c, s->kind == ET__DASHED ? 5 : 0);
            if (s->kind == ET__LINE) et__disk(p, x0 + 19, y, 4, c);
        }
        et__text(p, x0 + 38, y - 9, s->name, 14, et__black, 0, 0);
        row++;
    }
}

/* ---- save ------------------------------------------------------------------------------- */

static int et__load_font(et_plot *p, char *err, size_t errlen) {
    const char *path = getenv("ET_PLOT_FONT");
    if (!path || !*path) path = ET_PLOT_FONT;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "plot: cannot open font %s (install fonts-dejavu-core)", path);
        return -1;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (n <= 0 || n > (64L << 20) || !(p->font_data = malloc((size_t)n)) ||
        fread(p->font_data, 1, (size_t)n, f) != (size_t)n ||
        !stbtt_InitFont(&p->font, p->font_data, stbtt_GetFontOffsetForIndex(p->font_data, 0))) {
        fclose(f);
        snprintf(err, errlen, "plot: font %s is not a readable TrueType file", path);
        return -1;
    }
    fclose(f);
    return 0;
}

int et_plot_save(et_plot *p, const char *png_path, char *err, size_t errlen) {
    if (!p->font_data && et__load_font(p, err, errlen)) return -1;
    free(p->px);
    p->px = malloc((size_t)p->w * p->h * 3);
    if (!p->px) { snprintf(err, errlen, "plot: out of memory"); return -1; }
    memset(p->px, 255, (size_t)p->w * p->h * 3);

    p->n_placed = 0;
    int bars = p->n_cat > 0, n_bars = 0;
    for (int i = 0; i < p->n_s; i++) n_bars += p->s[i].kind == ET__BARS;
    if (bars && p->log_x) { snprintf(err, errlen, "plot: bars need a linear x axis"); return -1; }
    p->l = 95, p->r = p->w - 25, p->t = p->title ? 55 : 25, p->b = p->h - (bars ? 95 : 75);
    if (et__range(p, 1, &p->y0, &p->y1, err, errlen)) return -1;
    if (bars) {
        p->x0 = 0, p->x1 = p->n_cat;
        if (!p->log_y && p->y0 > 0 && p->y0 < (p->y1 - p->y0)) p->y0 = 0;   /* bars from 0 */
    } else if (et__range(p, 0, &p->x0, &p->x1, err, errlen)) {
        return -1;
    }

    et__axis_ticks(p, 1);
    if (!bars) et__axis_ticks(p, 0);
    else
        for (int j = 0; j < p->n_cat; j++) {
            double slot = (double)(p->r - p->l) / p->n_cat;
            et__text(p, p->l + slot * (j + 0.5), p->b + 8, p->cats[j],
                     p->n_cat > 8 ? 12 : 15, et__dark, 1, 0);
        }
    for (int i = 0, bi = 0; i < p->n_s; i++) {
        et__draw_series(p, i, bi, n_bars ? n_bars : 1);
        if (p->s[i].kind == ET__BARS) bi++;
    }
    /* frame over the data so lines end cleanly at the plot's edge */
    et__line(p, p->l, p->t, p->r, p->t, 1, et__black, 0);
    et__line(p, p->l, p->b, p->r, p->b, 1, et__black, 0);
    et__line(p, p->l, p->t, p->l, p->b, 1, et__black, 0);
    et__line(p, p->r, p->t, p->r, p->b, 1, et__black, 0);
    et__legend(p);
    if (p->title) et__text(p, p->w / 2.0, 14, p->title, 21, et__black, 1, 0);
    if (p->xlabel) et__text(p, (p->l + p->r) / 2.0, p->h - 34, p->xlabel, 17, et__black, 1, 0);
    if (p->ylabel) et__text(p, 14, (p->t + p->b) / 2.0, p->ylabel, 17, et__black, 1, 1);

    if (!stbi_write_png(png_path, p->w, p->h, 3, p->px, p->w * 3)) {
        snprintf(err, errlen, "plot: cannot write %s", png_path);
        return -1;
    }
    return 0;
}
