/* A small PNG plotting library for reports (the study's figures, the kernel roofline).
 *
 * One figure = one set of axes.  Add series (lines with optional error bars, scatter points
 * with optional text labels, or grouped bars over named categories), set titles, axis labels
 * and log scales, then save: everything is laid out and drawn at save time, so ranges come
 * from all the data.  Text is DejaVu Sans through stb_truetype; PNG through stb_image_write.
 * Sizes around 1000x650 are what the layout is tuned for.
 *
 *   et_plot *p = et_plot_new(1000, 650);
 *   et_plot_title(p, "score vs profile size"); et_plot_xlabel(p, "items"); ...
 *   et_plot_line(p, "q4_0", x, y, lo, hi, n);
 *   if (et_plot_save(p, "fig.png", err, sizeof err)) ...;   et_plot_free(p);
 *
 * Adding a series copies its data.  Errors (bad values on a log axis, no font, I/O) surface
 * in et_plot_save with a message; points that are NaN are skipped.
 */
#ifndef ET_PLOT_H
#define ET_PLOT_H

#include <stddef.h>

#define ET_PLOT_FONT "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

typedef struct et_plot et_plot;

et_plot *et_plot_new(int width, int height);           /* NULL if out of memory */
void     et_plot_free(et_plot *p);

void et_plot_title(et_plot *p, const char *s);
void et_plot_xlabel(et_plot *p, const char *s);
void et_plot_ylabel(et_plot *p, const char *s);
void et_plot_log(et_plot *p, int log_x, int log_y);     /* base-10 axes (roofline: both) */

/* Polyline with markers through (x[i], y[i]); lo/hi (either may be NULL) are the absolute
 * ends of a vertical error bar at each point.  dashed: a dashed line without markers (for
 * fronts, bounds and rooflines). */
int et_plot_line(et_plot *p, const char *name, const double *x, const double *y,
                 const double *lo, const double *hi, int n);
int et_plot_line_dashed(et_plot *p, const char *name, const double *x, const double *y, int n);
/* Points; labels (NULL, or NULL entries) are written beside them. */
int et_plot_scatter(et_plot *p, const char *name, const double *x, const double *y,
                    const char *const *labels, int n);
/* Grouped bars: the first call fixes the categories; every series is one bar per category
 * (lo/hi optional error bars).  A figure with bars has a categorical x axis. */
int et_plot_bars(et_plot *p, const char *name, const char *const *categories, int n_cat,
                 const double *v, const double *lo, const double *hi);

int et_plot_save(et_plot *p, const char *png_path, char *err, size_t errlen);

#endif
