/* The plotting library writes real PNGs: each figure kind (lines with error bars, log-log
 * with a dashed roofline, labelled scatter, grouped bars) is saved at 1000x650, read back with
 * stb_image, and checked for size, for ink in the plot area and in the title band (text
 * rendered), and for the series colours being present.  Bad input (non-positive value on a
 * log axis, unwritable path) must fail with a message naming it. */
#include "harness.h"
#include "bench/plot.h"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
#pragma GCC diagnostic pop
#include <sys/stat.h>

static const char *dir(void) {
    static char d[256];
    const char *b = getenv("BUILD");
    snprintf(d, sizeof d, "%s/test-plot", b ? b : "build");
    mkdir(d, 0755);
    return d;
}

/* counts of non-white pixels in a box, and pixels close to colour c */
static void ink(const unsigned char *img, int w, int x0, int y0, int x1, int y1,
                const int c[3], int *n_ink, int *n_col) {
    *n_ink = *n_col = 0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) {
            const unsigned char *p = img + ((size_t)y * w + x) * 3;
            if (p[0] < 250 || p[1] < 250 || p[2] < 250) (*n_ink)++;
            if (c && abs(p[0] - c[0]) < 12 && abs(p[1] - c[1]) < 12 && abs(p[2] - c[2]) < 12) (*n_col)++;
        }
}

static unsigned char *check_png(const char *path, int *w) {
    int h, ch;
    unsigned char *img = stbi_load(path, w, &h, &ch, 3);
    CHECK(img != NULL, "cannot read %s back", path);
    if (!img) return NULL;
    CHECK(*w == 1000 && h == 650, "size %dx%d", *w, h);
    struct stat st;
    CHECK(stat(path, &st) == 0 && st.st_size > 5000, "PNG suspiciously small: %ld", (long)st.st_size);
    int n_ink, n_col;
    ink(img, *w, 200, 0, 800, 45, NULL, &n_ink, &n_col);
    CHECK(n_ink > 300, "title band has %d inked pixels", n_ink);
    return img;
}

static const int blue[3] = {31, 119, 180}, orange[3] = {255, 127, 14};

static void test_lines_errorbars(void) {
    et_plot *p = et_plot_new(1000, 650);
    et_plot_title(p, "Score vs profile size (mean \xc2\xb1 95% CI)");
    et_plot_xlabel(p, "profile items");
    et_plot_ylabel(p, "accuracy");
    et_plot_log(p, 1, 0);
    double x[] = {4, 16, 64, 200}, y[] = {0.2, 0.3, 0.35, 0.4}, lo[] = {0.15, 0.25, 0.3, 0.33},
           hi[] = {0.25, 0.36, 0.41, 0.45}, y2[] = {0.1, 0.2, 0.3, NAN};
    CHECK(et_plot_line(p, "f32", x, y, lo, hi, 4) == 0, "line");
    CHECK(et_plot_line(p, "q4_0", x, y2, NULL, NULL, 4) == 0, "line 2");
    char path[300], err[256];
    snprintf(path, sizeof path, "%s/lines.png", dir());
    CHECK(et_plot_save(p, path, err, sizeof err) == 0, "save: %s", err);
    et_plot_free(p);
    int w;
    unsigned char *img = check_png(path, &w);
    if (!img) return;
    int n_ink, n_b, n_o;
    ink(img, w, 95, 55, 975, 575, blue, &n_ink, &n_b);
    ink(img, w, 95, 55, 975, 575, orange, &n_ink, &n_o);
    CHECK(n_b > 500 && n_o > 300, "series colours: blue %d orange %d", n_b, n_o);
    stbi_image_free(img);
}

static void test_loglog_scatter(void) {
    et_plot *p = et_plot_new(1000, 650);
    et_plot_title(p, "Roofline");
    et_plot_xlabel(p, "arithmetic intensity (FLOP/byte)");
    et_plot_ylabel(p, "GFLOP/s");
    et_plot_log(p, 1, 1);
    double rx[] = {0.01, 10, 1000}, ry[] = {0.33, 330, 330};
    double sx[] = {0.5, 2, 60}, sy[] = {10, 40, 200};
    const char *lab[] = {"matvec q4_0", NULL, "gemm f32"};
    CHECK(et_plot_line_dashed(p, "roof", rx, ry, 3) == 0, "roof");
    CHECK(et_plot_scatter(p, "kernels", sx, sy, lab, 3) == 0, "scatter");
    char path[300], err[256];
    snprintf(path, sizeof path, "%s/roofline.png", dir());
    CHECK(et_plot_save(p, path, err, sizeof err) == 0, "save: %s", err);
    et_plot_free(p);
    int w;
    unsigned char *img = check_png(path, &w);
    if (img) {
        int n_ink, n_o;
        ink(img, w, 95, 55, 975, 575, orange, &n_ink, &n_o);
        CHECK(n_o > 150, "scatter points drawn: %d", n_o);
        stbi_image_free(img);
    }
    /* a zero on a log axis is an error, named */
    p = et_plot_new(1000, 650);
    et_plot_log(p, 0, 1);
    double zx[] = {1, 2}, zy[] = {0, 1};
    et_plot_line(p, "bad", zx, zy, NULL, NULL, 2);
    CHECK(et_plot_save(p, path, err, sizeof err) == -1 && strstr(err, "bad") && strstr(err, "log"),
          "log error message: %s", err);
    et_plot_free(p);
}

static void test_grouped_bars(void) {
    et_plot *p = et_plot_new(1000, 650);
    et_plot_title(p, "Method vs task");
    et_plot_ylabel(p, "score");
    const char *cats[] = {"rating", "section", "attribution", "synopsis"};
    double a[] = {0.4, 0.3, 0.55, 0.2}, b[] = {0.45, 0.25, 0.6, 0.22}, lo[] = {0.4, 0.2, 0.5, 0.2},
           hi[] = {0.5, 0.3, 0.7, 0.25};
    CHECK(et_plot_bars(p, "zero-shot", cats, 4, a, NULL, NULL) == 0, "bars");
    CHECK(et_plot_bars(p, "LoRA", cats, 4, b, lo, hi) == 0, "bars 2");
    CHECK(et_plot_bars(p, "bad", cats, 3, b, NULL, NULL) == -1, "category count mismatch");
    char path[300], err[256];
    snprintf(path, sizeof path, "%s/bars.png", dir());
    CHECK(et_plot_save(p, path, err, sizeof err) == 0, "save: %s", err);
    et_plot_free(p);
    int w;
    unsigned char *img = check_png(path, &w);
    if (!img) return;
    int n_ink, n_b, n_o;
    ink(img, w, 95, 55, 975, 555, blue, &n_ink, &n_b);
    ink(img, w, 95, 55, 975, 555, orange, &n_ink, &n_o);
    CHECK(n_b > 5000 && n_o > 5000, "bars filled: %d %d", n_b, n_o);
    ink(img, w, 95, 560, 975, 600, NULL, &n_ink, &n_b);
    CHECK(n_ink > 200, "category labels: %d", n_ink);
    stbi_image_free(img);
    p = et_plot_new(1000, 650);
    et_plot_bars(p, "x", cats, 4, a, NULL, NULL);
    CHECK(et_plot_save(p, "/nonexistent-dir/x.png", err, sizeof err) == -1 && strstr(err, "nonexistent"),
          "unwritable path: %s", err);
    et_plot_free(p);
}

int main(void) {
    RUN(test_lines_errorbars);
    RUN(test_loglog_scatter);
    RUN(test_grouped_bars);
    return DONE();
}
