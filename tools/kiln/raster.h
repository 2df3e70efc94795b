/*
 * raster.h - the RGB canvas of `kiln plot`'s PNG output (raster.c): anti-aliased lines,
 * rectangles, 5x7 pixel-font text and PNG writing through libpng.
 */
#ifndef KILN_TOOLS_RASTER_H
#define KILN_TOOLS_RASTER_H

#include <stdint.h>

struct raster {
    int w, h;
    unsigned char *px; /* [h, w, 3], owned */
};

/* Colors are 0xRRGGBB. raster_create returns 0 when out of memory. */
int raster_create(struct raster *r, int w, int h, uint32_t background);
void raster_free(struct raster *r);
void raster_rect(struct raster *r, int x, int y, int w, int h, uint32_t color);

/* A line of width 1 or 2 pixels; dash > 0 draws dash pixels on, dash off. */
void raster_line(struct raster *r, double x0, double y0, double x1, double y1, uint32_t color,
                 double width, double dash);

/* Text with its top-left corner at (x, y), each font pixel scale x scale; _up reads
 * bottom to top from (x, y). Characters outside printable ASCII show as '?'. */
void raster_text(struct raster *r, int x, int y, const char *s, int scale, uint32_t color);
void raster_text_up(struct raster *r, int x, int y, const char *s, int scale, uint32_t color);
int raster_text_width(const char *s, int scale);

/* Writes r as an 8-bit RGB PNG; returns NULL or why it failed. */
const char *raster_write_png(const struct raster *r, const char *path);

#endif /* KILN_TOOLS_RASTER_H */
