/*
 * plot.c - `kiln plot LOG.csv... -o OUT.svg|OUT.png`: draws the curves of `kiln train
 * --log` files, several runs overlaid: the losses (every column whose name ends in
 * "loss", from the step rows, else the epoch rows) against the step in one panel, the
 * accuracies (columns ending in "accuracy", from the epoch rows) against the step in a
 * second. Each file has a colour, each column of a panel a dash pattern. The drawing
 * goes through a painter with two implementations: SVG text, or the raster canvas of
 * raster.c written as PNG.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "raster.h"

struct plot_args {
    const char *out, *title;
    int64_t width, height;
};

#define PL(f) offsetof(struct plot_args, f)

static const struct opt_def plot_opts[] = {
    {"-o", "OUT", OPT_STR, PL(out), 0, 0, NULL, 1, NULL,
     "the image to write: .svg, or .png (needs libpng)", 0},
    {"--title", "TEXT", OPT_STR, PL(title), 0, 0, NULL, 1, "the file names", "the title", 0},
    {"--width", "PX", OPT_INT, PL(width), 320, 8192, NULL, 1, NULL, "image width", 0},
    {"--height", "PX", OPT_INT, PL(height), 200, 8192, NULL, 1, NULL, "image height (both panels)",
     0},
};

#define N_OPTS ((int)(sizeof(plot_opts) / sizeof(plot_opts[0])))

static void plot_defaults(struct plot_args *a)
{
    memset(a, 0, sizeof(*a));
    a->width = 960;
    a->height = 640;
}

void plot_help(FILE *f)
{
    struct plot_args d;
    plot_defaults(&d);
    fprintf(f, "usage: kiln plot LOG.csv... -o OUT.svg|OUT.png [options]\n\n"
               "Draws the loss curves (columns ending in 'loss', per logged step) and the\n"
               "accuracy curves (columns ending in 'accuracy', per epoch) of `kiln train --log`\n"
               "files against the training step, several runs overlaid.\n\noptions:\n");
    opts_help(f, plot_opts, N_OPTS, 1, &d);
}

/* ==== The curves ==== */

#define MAX_SERIES 64

struct series {
    char label[192];
    int panel; /* 0: loss, 1: accuracy */
    uint32_t color;
    double dash;
    int n, cap;
    double *x, *y;
};

struct curves {
    struct series s[MAX_SERIES];
    int n;
    int has_acc;
};

static int add_point(struct series *s, double x, double y)
{
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 256;
        double *nx = realloc(s->x, sizeof(double) * (size_t)cap);
        if (nx != NULL) {
            s->x = nx;
        }
        double *ny = nx != NULL ? realloc(s->y, sizeof(double) * (size_t)cap) : NULL;
        if (ny == NULL) {
            return 0;
        }
        s->y = ny;
        s->cap = cap;
    }
    s->x[s->n] = x;
    s->y[s->n++] = y;
    return 1;
}

static void free_curves(struct curves *c)
{
    for (int i = 0; i < c->n; i++) {
        free(c->s[i].x);
        free(c->s[i].y);
    }
}

/* Splits line (modified) at commas into at most max fields. */
static int split(char *line, char **f, int max)
{
    int n = 0;
    line[strcspn(line, "\r\n")] = '\0';
    for (char *p = line; n < max;) {
        f[n++] = p;
        p = strchr(p, ',');
        if (p == NULL) {
            break;
        }
        *p++ = '\0';
    }
    return n;
}

static const uint32_t palette[8] = {0x1f77b4, 0xd62728, 0x2ca02c, 0xff7f0e,
                                    0x9467bd, 0x8c564b, 0xe377c2, 0x17becf};

static int ends_with(const char *s, const char *t)
{
    size_t n = strlen(s), m = strlen(t);
    return n >= m && strcmp(s + n - m, t) == 0;
}

/* Reads one log file into series (file index fi, for the colour). */
static int read_log(const char *path, int fi, int n_files, struct curves *c)
{
    char line[4096], *f[64], *h[64];
    char header[4096];
    FILE *fp = fopen(path, "r");
    if (fp == NULL) {
        fprintf(stderr, "kiln plot: %s: %s\n", path, strerror(errno));
        return 0;
    }
    int nh = 0, col_kind = -1, col_step = -1, first = c->n, has_step_rows = 0;
    if (fgets(header, sizeof(header), fp) != NULL) {
        nh = split(header, h, 64);
    }
    for (int i = 0; i < nh; i++) {
        col_kind = strcmp(h[i], "kind") == 0 ? i : col_kind;
        col_step = strcmp(h[i], "step") == 0 ? i : col_step;
    }
    if (col_kind < 0 || col_step < 0) {
        fprintf(stderr,
                "kiln plot: %s: line 1 is not the header of a kiln train --log file "
                "(no 'kind' and 'step' columns)\n",
                path);
        fclose(fp);
        return 0;
    }
    const char *base = strrchr(path, '/') != NULL ? strrchr(path, '/') + 1 : path;
    int col_of[MAX_SERIES];
    for (int i = 0; i < nh && c->n < MAX_SERIES; i++) {
        int loss = ends_with(h[i], "loss"), acc = ends_with(h[i], "accuracy");
        if (!loss && !acc) {
            continue;
        }
        struct series *s = &c->s[c->n];
        memset(s, 0, sizeof(*s));
        s->panel = acc;
        s->color = palette[fi % 8];

        if (n_files > 1) {
            snprintf(s->label, sizeof(s->label), "%s %s", base, h[i]);
        } else {
            snprintf(s->label, sizeof(s->label), "%s", h[i]);
        }
        col_of[c->n - first] = i;
        c->n++;
    }
    /* two passes: loss curves use the step rows when there are any */
    long data_start = ftell(fp);
    for (int pass = 0; pass < 2; pass++) {
        int lineno = 1;
        fseek(fp, data_start, SEEK_SET);
        while (fgets(line, sizeof(line), fp) != NULL) {
            lineno++;
            int nf = split(line, f, 64);
            if (nf == 1 && f[0][0] == '\0') {
                continue;
            }
            char *end;
            double step = nf > col_step ? strtod(f[col_step], &end) : NAN;
            if (nf != nh || isnan(step) || *end != '\0') {
                fprintf(stderr, "kiln plot: %s: line %d: expected %d fields with a step, got %d\n",
                        path, lineno, nh, nf);
                fclose(fp);
                return 0;
            }
            int is_step = strcmp(f[col_kind], "step") == 0;
            has_step_rows |= is_step;
            if (pass == 0) {
                continue;
            }
            for (int j = first; j < c->n; j++) {
                int col = col_of[j - first];
                struct series *s = &c->s[j];
                int want = s->panel == 1 ? !is_step : (has_step_rows ? is_step : !is_step);
                double v = f[col][0] != '\0' ? strtod(f[col], &end) : NAN;
                if (f[col][0] != '\0' && *end != '\0') {
                    fprintf(stderr,
                            "kiln plot: %s: line %d, column %d (%s): '%s' is not a number\n", path,
                            lineno, col + 1, h[col], f[col]);
                    fclose(fp);
                    return 0;
                }
                if (want && isfinite(v) && !add_point(s, step, v)) {
                    fclose(fp);
                    return 0;
                }
            }
        }
    }
    fclose(fp);
    /* a dash pattern per column of a panel that has data: solid, dashed, dotted */
    int k_panel[2] = {0, 0};
    for (int j = first; j < c->n; j++) {
        struct series *s = &c->s[j];
        if (s->n > 0) {
            c->has_acc |= s->panel == 1;
            int k = k_panel[s->panel]++;
            s->dash = k == 0 ? 0.0 : (k == 1 ? 7.0 : 2.5);
        }
    }
    return 1;
}

/* ==== Drawing ==== */

struct painter {
    void *ud;
    void (*polyline)(void *ud, const double *x, const double *y, int n, uint32_t color,
                     double width, double dash);
    /* anchor: 0 start, 1 middle, 2 end; up: rotated to read bottom to top */
    void (*text)(void *ud, double x, double y, const char *s, int anchor, int up, int bold);
    void (*rect)(void *ud, double x, double y, double w, double h, uint32_t fill, uint32_t stroke);
    double char_w; /* the width of a character of text, for the legend's box */
};

/* -- SVG -- */

static void svg_escape(FILE *f, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '<') {
            fputs("&lt;", f);
        } else if (*s == '>') {
            fputs("&gt;", f);
        } else if (*s == '&') {
            fputs("&amp;", f);
        } else if (*s == '"') {
            fputs("&quot;", f);
        } else {
            fputc(*s, f);
        }
    }
}

static void svg_polyline(void *ud, const double *x, const double *y, int n, uint32_t color,
                         double width, double dash)
{
    FILE *f = ud;
    fprintf(f, "<polyline fill=\"none\" stroke=\"#%06x\" stroke-width=\"%g\"", color, width);
    if (dash > 0) {
        fprintf(f, " stroke-dasharray=\"%g %g\"", dash, dash);
    }
    fprintf(f, " points=\"");
    for (int i = 0; i < n; i++) {
        fprintf(f, "%s%.2f,%.2f", i ? " " : "", x[i], y[i]);
    }
    fprintf(f, "\"/>\n");
}

static void svg_text(void *ud, double x, double y, const char *s, int anchor, int up, int bold)
{
    static const char *const anchors[] = {"start", "middle", "end"};
    FILE *f = ud;
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\"", x, up ? y : y + 5,
            anchors[up ? 1 : anchor]);
    if (up) {
        fprintf(f, " transform=\"rotate(-90 %.1f %.1f)\"", x, y);
    }
    if (bold) {
        fprintf(f, " font-weight=\"bold\" font-size=\"16\"");
    }
    fprintf(f, ">");
    svg_escape(f, s);
    fprintf(f, "</text>\n");
}

static void svg_rect(void *ud, double x, double y, double w, double h, uint32_t fill,
                     uint32_t stroke)
{
    FILE *f = ud;
    fprintf(f,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#%06x\" "
            "stroke=\"#%06x\"/>\n",
            x, y, w, h, fill, stroke);
}

/* -- raster -- */

static void png_polyline(void *ud, const double *x, const double *y, int n, uint32_t color,
                         double width, double dash)
{
    for (int i = 1; i < n; i++) {
        raster_line(ud, x[i - 1], y[i - 1], x[i], y[i], color, width, dash);
    }
}

static void png_text(void *ud, double x, double y, const char *s, int anchor, int up, int bold)
{
    int scale = 2, w = raster_text_width(s, scale);
    (void)bold;
    if (up) {
        raster_text_up(ud, (int)x - 7, (int)(y + w / 2.0), s, scale, 0x333333);
        return;
    }
    int x0 = (int)x - (anchor == 1 ? w / 2 : anchor == 2 ? w : 0);
    raster_text(ud, x0, (int)y - 7, s, scale, 0x222222);
}

static void png_rect(void *ud, double x, double y, double w, double h, uint32_t fill,
                     uint32_t stroke)
{
    struct raster *r = ud;
    raster_rect(r, (int)x, (int)y, (int)w, (int)h, fill);
    raster_line(r, x, y, x + w, y, stroke, 1, 0);
    raster_line(r, x, y + h, x + w, y + h, stroke, 1, 0);
    raster_line(r, x, y, x, y + h, stroke, 1, 0);
    raster_line(r, x + w, y, x + w, y + h, stroke, 1, 0);
}

/* A "nice" tick spacing: 1, 2 or 5 times a power of ten, about target ticks. */
static double tick_step(double range, int target)
{
    double raw = range / target, mag = pow(10.0, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1.0 : f < 3.0 ? 2.0 : f < 7.0 ? 5.0 : 10.0) * mag;
}

static void tick_label(double v, double step, char *buf, size_t n)
{
    int digits = step >= 1.0 ? 0 : (int)ceil(-log10(step) - 1e-9);
    snprintf(buf, n, "%.*f", digits, fabs(v) < step * 1e-6 ? 0.0 : v);
}

struct frame {
    double x, y, w, h;     /* the plot area in pixels */
    double x0, x1, y0, y1; /* the data range */
};

/* How much of a panel's curves a box (pixels) would hide: points sampled along every
 * segment that fall inside it. */
static int points_in(const struct curves *c, int panel, const struct frame *fr, double bx,
                     double by, double bw, double bh)
{
    int n = 0;
    for (int i = 0; i < c->n; i++) {
        const struct series *s = &c->s[i];
        for (int k = 0; s->panel == panel && k < s->n; k++) {
            int j = k > 0 ? k - 1 : k;
            for (int t = 0; t < 16; t++) {
                double x = s->x[j] + (s->x[k] - s->x[j]) * t / 16.0;
                double y = s->y[j] + (s->y[k] - s->y[j]) * t / 16.0;
                double px = fr->x + (x - fr->x0) / (fr->x1 - fr->x0) * fr->w;
                double py = fr->y + fr->h - (y - fr->y0) / (fr->y1 - fr->y0) * fr->h;
                n += px >= bx && px <= bx + bw && py >= by && py <= by + bh;
            }
        }
    }
    return n;
}

/* The legend of a panel, in the corner of its frame that hides the fewest points. */
static void draw_legend(const struct painter *p, const struct curves *c, int panel,
                        const struct frame *fr, int n, double bw)
{
    double bh = 20.0 * n + 8, best_x = 0, best_y = 0;
    int best = -1;
    for (int corner = 0; corner < 4; corner++) {
        double bx = corner % 2 == 0 ? fr->x + fr->w - bw - 8 : fr->x + 8;
        double by = corner < 2 ? fr->y + 8 : fr->y + fr->h - bh - 8;
        int hidden = points_in(c, panel, fr, bx, by, bw, bh);
        if (best < 0 || hidden < best) {
            best = hidden;
            best_x = bx;
            best_y = by;
        }
    }
    p->rect(p->ud, best_x, best_y, bw, bh, 0xffffff, 0xcccccc);
    int row = 0;
    for (int i = 0; i < c->n; i++) {
        const struct series *s = &c->s[i];
        if (s->panel != panel || s->n == 0) {
            continue;
        }
        double lx = best_x + 8, ly = best_y + 14 + 20 * row++;
        double sx[2] = {lx, lx + 30}, sy[2] = {ly, ly};
        p->polyline(p->ud, sx, sy, 2, s->color, 2, s->dash);
        p->text(p->ud, lx + 38, ly, s->label, 0, 0, 0);
    }
}

static void draw_panel(const struct painter *p, const struct curves *c, int panel,
                       const struct frame *fr, const char *ylabel)
{
    char buf[64];
    p->rect(p->ud, fr->x, fr->y, fr->w, fr->h, 0xffffff, 0x888888);
    double xs = tick_step(fr->x1 - fr->x0, 8), ys = tick_step(fr->y1 - fr->y0, 5);
    for (double v = ceil(fr->x0 / xs) * xs; v <= fr->x1 + xs * 1e-9; v += xs) {
        double px = fr->x + (v - fr->x0) / (fr->x1 - fr->x0) * fr->w;
        double gx[2] = {px, px}, gy[2] = {fr->y, fr->y + fr->h};
        p->polyline(p->ud, gx, gy, 2, 0xe4e4e4, 1, 0);
        tick_label(v, xs, buf, sizeof(buf));
        p->text(p->ud, px, fr->y + fr->h + 16, buf, 1, 0, 0);
    }
    for (double v = ceil(fr->y0 / ys) * ys; v <= fr->y1 + ys * 1e-9; v += ys) {
        double py = fr->y + fr->h - (v - fr->y0) / (fr->y1 - fr->y0) * fr->h;
        double gx[2] = {fr->x, fr->x + fr->w}, gy[2] = {py, py};
        p->polyline(p->ud, gx, gy, 2, 0xe4e4e4, 1, 0);
        tick_label(v, ys, buf, sizeof(buf));
        p->text(p->ud, fr->x - 8, py, buf, 2, 0, 0);
    }
    p->text(p->ud, fr->x - 96, fr->y + fr->h / 2, ylabel, 1, 1, 0);
    int n_legend = 0;
    size_t longest = 0;
    for (int i = 0; i < c->n; i++) {
        const struct series *s = &c->s[i];
        if (s->panel != panel || s->n == 0) {
            continue;
        }
        n_legend++;
        longest = strlen(s->label) > longest ? strlen(s->label) : longest;
        double *px = malloc(sizeof(double) * (size_t)s->n);
        double *py = malloc(sizeof(double) * (size_t)s->n);
        for (int k = 0; px != NULL && py != NULL && k < s->n; k++) {
            px[k] = fr->x + (s->x[k] - fr->x0) / (fr->x1 - fr->x0) * fr->w;
            py[k] = fr->y + fr->h - (s->y[k] - fr->y0) / (fr->y1 - fr->y0) * fr->h;
        }
        if (px != NULL && py != NULL) {
            p->polyline(p->ud, px, py, s->n, s->color, 2, s->dash);
        }
        free(px);
        free(py);
    }
    draw_legend(p, c, panel, fr, n_legend, (double)longest * p->char_w + 54);
}

/* The data range of a panel, padded by 5% vertically. */
static int range_of(const struct curves *c, int panel, double x0, double x1, struct frame *fr)
{
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < c->n; i++) {
        for (int k = 0; c->s[i].panel == panel && k < c->s[i].n; k++) {
            lo = fmin(lo, c->s[i].y[k]);
            hi = fmax(hi, c->s[i].y[k]);
        }
    }
    if (!(lo <= hi)) {
        return 0;
    }
    double pad = hi > lo ? 0.05 * (hi - lo) : (fabs(hi) > 0 ? 0.05 * fabs(hi) : 1.0);
    fr->y0 = lo - pad;
    fr->y1 = hi + pad;
    fr->x0 = x0;
    fr->x1 = x1 > x0 ? x1 : x0 + 1;
    return 1;
}

static void draw(const struct painter *p, const struct curves *c, const struct plot_args *a,
                 const char *title)
{
    double x0 = INFINITY, x1 = -INFINITY;
    for (int i = 0; i < c->n; i++) {
        for (int k = 0; k < c->s[i].n; k++) {
            x0 = fmin(x0, c->s[i].x[k]);
            x1 = fmax(x1, c->s[i].x[k]);
        }
    }
    x0 = x0 < 0 ? x0 : 0;
    int panels = c->has_acc ? 2 : 1;
    double top = 44, bottom = 48, gap = 46, left = 112, right = 24;
    double ph = ((double)a->height - top - bottom - gap * (panels - 1)) / panels;
    p->rect(p->ud, 0, 0, (double)a->width, (double)a->height, 0xffffff, 0xffffff);
    p->text(p->ud, (double)a->width / 2, 20, title, 1, 0, 1);
    for (int k = 0; k < panels; k++) {
        struct frame fr = {left, top + k * (ph + gap), (double)a->width - left - right, ph, 0, 0, 0,
                           0};
        if (range_of(c, k, x0, x1, &fr)) {
            draw_panel(p, c, k, &fr, k == 0 ? "loss" : "accuracy");
        }
    }
    p->text(p->ud, left + ((double)a->width - left - right) / 2, (double)a->height - 12, "step", 1,
            0, 0);
}

int cmd_plot(int argc, char **argv)
{
    struct plot_args a;
    struct curves c;
    const char **pos = malloc(sizeof(*pos) * (size_t)(argc > 0 ? argc : 1));
    int n_pos = 0, help = 0, rc = EXIT_FAILURE;
    char title[512] = "";
    plot_defaults(&a);
    memset(&c, 0, sizeof(c));
    if (pos == NULL ||
        !opts_parse("plot", plot_opts, N_OPTS, 1, argc, argv, &a, pos, argc, &n_pos, &help)) {
        free(pos);
        return EXIT_USAGE;
    }
    if (help) {
        plot_help(stdout);
        free(pos);
        return EXIT_SUCCESS;
    }
    size_t olen = a.out != NULL ? strlen(a.out) : 0;
    int svg = olen > 4 && strcmp(a.out + olen - 4, ".svg") == 0;
    int png = olen > 4 && strcmp(a.out + olen - 4, ".png") == 0;
    if (n_pos < 1 || (!svg && !png)) {
        fprintf(stderr, "kiln plot: expects log files and -o OUT.svg or -o OUT.png (see kiln help "
                        "plot)\n");
        free(pos);
        return EXIT_USAGE;
    }
    for (int i = 0; i < n_pos; i++) {
        if (!read_log(pos[i], i, n_pos, &c)) {
            goto done;
        }
        const char *base = strrchr(pos[i], '/') != NULL ? strrchr(pos[i], '/') + 1 : pos[i];
        snprintf(title + strlen(title), sizeof(title) - strlen(title), "%s%s", i ? ", " : "", base);
    }
    int points = 0, curves = 0;
    for (int i = 0; i < c.n; i++) {
        points += c.s[i].n;
        curves += c.s[i].n > 0;
    }
    if (points == 0) {
        fprintf(stderr, "kiln plot: no loss or accuracy values in the files\n");
        goto done;
    }
    const char *t = a.title != NULL ? a.title : title;
    if (svg) {
        FILE *f = fopen(a.out, "w");
        if (f == NULL) {
            fprintf(stderr, "kiln plot: %s: %s\n", a.out, strerror(errno));
            goto done;
        }
        struct painter p = {f, svg_polyline, svg_text, svg_rect, 7.4};
        fprintf(f,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%lld\" height=\"%lld\" "
                "font-family=\"sans-serif\" font-size=\"13\">\n",
                (long long)a.width, (long long)a.height);
        draw(&p, &c, &a, t);
        fprintf(f, "</svg>\n");
        if (fclose(f) != 0) {
            fprintf(stderr, "kiln plot: %s: %s\n", a.out, strerror(errno));
            goto done;
        }
    } else {
        struct raster r;
        if (!raster_create(&r, (int)a.width, (int)a.height, 0xffffff)) {
            fprintf(stderr, "kiln plot: out of memory\n");
            goto done;
        }
        struct painter p = {&r, png_polyline, png_text, png_rect, 12.0};
        draw(&p, &c, &a, t);
        const char *why = raster_write_png(&r, a.out);
        raster_free(&r);
        if (why != NULL) {
            fprintf(stderr, "kiln plot: %s: %s\n", a.out, why);
            goto done;
        }
    }
    printf("plot: %s (%d curves, %d points)\n", a.out, curves, points);
    rc = EXIT_SUCCESS;
done:
    free_curves(&c);
    free(pos);
    return rc;
}
