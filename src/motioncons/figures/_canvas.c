/* Drawing on an indexed canvas, compiled: the per-figure steps of `figures.canvas`.
 *
 * A canvas is a writable 2-D uint8 buffer of `height` rows of `1 + width` bytes: each row
 * starts with its PNG filter byte, then its pixels' palette indices, so that the canvas is
 * the PNG's uncompressed image data as it is. A stamp (`canvas.stamp_bytes`) is a 10-byte
 * header (width and height as uint16, the offset of its corner from the point it is placed
 * at as int16, the index that stands for "not drawn" as uint8, a byte of padding; all
 * little-endian) followed by its pixels row by row.
 *
 * The Python fallback in `canvas.py` computes every coordinate with the same floating-point
 * operations in the same order (this file is built without contracting them into fused
 * multiply-adds), so both draw the same pixels; the tests compare them.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <string.h>

#define HEADER 10
#define FAR 10000.0 /* coordinates beyond this (pixels) are not drawn */

typedef struct {
    Py_buffer view;
    unsigned char *data;
    Py_ssize_t width, height, stride;
} Canvas;

static int open_canvas(PyObject *object, Canvas *canvas) {
    if (PyObject_GetBuffer(object, &canvas->view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0)
        return -1;
    if (canvas->view.ndim != 2 || canvas->view.itemsize != 1 || canvas->view.shape[1] < 1) {
        PyBuffer_Release(&canvas->view);
        PyErr_SetString(PyExc_ValueError, "a canvas is a 2-D uint8 array of rows of 1 + width");
        return -1;
    }
    canvas->data = (unsigned char *)canvas->view.buf;
    canvas->height = canvas->view.shape[0];
    canvas->stride = canvas->view.shape[1];
    canvas->width = canvas->stride - 1;
    return 0;
}

static inline void put(const Canvas *canvas, double x, double y, unsigned char ink) {
    if (x >= 0 && y >= 0 && x < (double)canvas->width && y < (double)canvas->height)
        canvas->data[(Py_ssize_t)y * canvas->stride + 1 + (Py_ssize_t)x] = ink;
}

static int near(double value) { return value > -FAR && value < FAR; }

/* floor(v) inline, for a value of a coordinate that is near(): the same value as floor(), but
 * for the sign of a zero (which selects the same pixel). floor() is a call into the C library
 * per pixel, most of the time of a figure's lines. */
static inline double floor_near(double v) {
    double truncated = (double)(long)v;
    return truncated > v ? truncated - 1.0 : truncated;
}

/* The pixels of a segment: n + 1 evenly spaced points, n its longer side rounded up; each
 * point's nearest pixel, and for a thickness of 2 also the next pixel across the segment.
 * A coordinate that does not change along the segment is not computed again for each point:
 * x0 + 0 * i / n is x0 (or, for x0 = -0, +0: the same pixel). */
static void segment(const Canvas *canvas, double x0, double y0, double x1, double y1,
                    unsigned char ink, int thickness) {
    double dx = x1 - x0, dy = y1 - y0;
    double longest = fabs(dx) > fabs(dy) ? fabs(dx) : fabs(dy);
    long n, i;
    int across_y = fabs(dx) >= fabs(dy);
    if (!(near(x0) && near(y0) && near(x1) && near(y1)))
        return;
    n = (long)ceil(longest);
    if (n < 1)
        n = 1;
    for (i = 0; i <= n; i++) {
        double x = dx == 0.0 ? x0 : x0 + dx * (double)i / (double)n;
        double y = dy == 0.0 ? y0 : y0 + dy * (double)i / (double)n;
        if (thickness < 2) {
            put(canvas, floor_near(x + 0.5), floor_near(y + 0.5), ink);
        } else if (across_y) {
            put(canvas, floor_near(x + 0.5), floor_near(y), ink);
            put(canvas, floor_near(x + 0.5), floor_near(y) + 1, ink);
        } else {
            put(canvas, floor_near(x), floor_near(y + 0.5), ink);
            put(canvas, floor_near(x) + 1, floor_near(y + 0.5), ink);
        }
    }
}

typedef struct {
    const unsigned char *pixels;
    long width, height, dx, dy;
    unsigned char clear;
} Stamp;

static int read_stamp(PyObject *object, Stamp *stamp) {
    const unsigned char *data;
    Py_ssize_t size;
    if (!PyBytes_Check(object)) {
        PyErr_SetString(PyExc_TypeError, "a stamp is bytes");
        return -1;
    }
    data = (const unsigned char *)PyBytes_AS_STRING(object);
    size = PyBytes_GET_SIZE(object);
    if (size < HEADER) {
        PyErr_SetString(PyExc_ValueError, "a stamp is shorter than its header");
        return -1;
    }
    stamp->width = data[0] | (data[1] << 8);
    stamp->height = data[2] | (data[3] << 8);
    stamp->dx = (int16_t)(uint16_t)(data[4] | (data[5] << 8));
    stamp->dy = (int16_t)(uint16_t)(data[6] | (data[7] << 8));
    stamp->clear = data[8];
    stamp->pixels = data + HEADER;
    if (size != HEADER + stamp->width * stamp->height) {
        PyErr_SetString(PyExc_ValueError, "a stamp's size does not match its header");
        return -1;
    }
    return 0;
}

/* The stamp with its anchor at (x, y), each rounded half to even as Python's round(). */
static void place(const Canvas *canvas, const Stamp *stamp, double x, double y) {
    long left, top, row, column, first, last;
    if (!(near(x) && near(y)))
        return;
    left = (long)nearbyint(x) + stamp->dx;
    top = (long)nearbyint(y) + stamp->dy;
    first = left < 0 ? -left : 0;
    last = left + stamp->width > (long)canvas->width ? (long)canvas->width - left
                                                      : stamp->width;
    for (row = top < 0 ? -top : 0; row < stamp->height && top + row < (long)canvas->height;
         row++) {
        const unsigned char *source = stamp->pixels + row * stamp->width;
        unsigned char *target = canvas->data + (top + row) * canvas->stride + 1 + left;
        for (column = first; column < last; column++)
            if (source[column] != stamp->clear)
                target[column] = source[column];
    }
}

static int as_double(PyObject *object, double *value) {
    *value = PyFloat_AsDouble(object);
    return (*value == -1.0 && PyErr_Occurred()) ? -1 : 0;
}

static int as_ink(PyObject *object, unsigned char *ink) {
    long value = PyLong_AsLong(object);
    if (value == -1 && PyErr_Occurred())
        return -1;
    if (value < 0 || value > 255) {
        PyErr_SetString(PyExc_ValueError, "an ink is a palette index, 0 to 255");
        return -1;
    }
    *ink = (unsigned char)value;
    return 0;
}

PyDoc_STRVAR(paste_doc, "paste(canvas, stamp, x, y, /)\n--\n\n"
             "The stamp placed at (x, y), rounded; its clear pixels leave the canvas as it is.");

static PyObject *paste(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Canvas canvas;
    Stamp stamp;
    double x, y;
    (void)self;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "paste(canvas, stamp, x, y)");
        return NULL;
    }
    if (read_stamp(args[1], &stamp) < 0 || as_double(args[2], &x) < 0
        || as_double(args[3], &y) < 0 || open_canvas(args[0], &canvas) < 0)
        return NULL;
    place(&canvas, &stamp, x, y);
    PyBuffer_Release(&canvas.view);
    Py_RETURN_NONE;
}

/* A C-contiguous float64 array of shape (n, columns): points (2) or segments' ends (4). */
static int open_rows(PyObject *object, Py_buffer *view, Py_ssize_t columns, const char *what) {
    if (PyObject_GetBuffer(object, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        return -1;
    if (view->ndim != 2 || view->shape[1] != columns || view->itemsize != sizeof(double)
        || view->format == NULL || strcmp(view->format, "d") != 0) {
        PyBuffer_Release(view);
        PyErr_Format(PyExc_ValueError, "%s are a float64 array of shape (n, %zd)", what,
                     columns);
        return -1;
    }
    return 0;
}

static int open_points(PyObject *object, Py_buffer *view, Py_ssize_t *count) {
    if (open_rows(object, view, 2, "points") < 0)
        return -1;
    *count = view->shape[0];
    return 0;
}

/* The ink and thickness arguments of the line-drawing steps. */
static int ink_and_thickness(PyObject *const *args, unsigned char *ink, int *thickness) {
    long value;
    if (as_ink(args[0], ink) < 0)
        return -1;
    value = PyLong_AsLong(args[1]);
    if (value == -1 && PyErr_Occurred())
        return -1;
    *thickness = value > 1 ? 2 : 1;
    return 0;
}

PyDoc_STRVAR(paste_at_doc, "paste_at(canvas, stamp, points, /)\n--\n\n"
             "The stamp placed at each of the points (float64, shape (n, 2)), in order.");

static PyObject *paste_at(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Canvas canvas;
    Stamp stamp;
    Py_buffer points;
    Py_ssize_t count, i;
    const double *xy;
    (void)self;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "paste_at(canvas, stamp, points)");
        return NULL;
    }
    if (read_stamp(args[1], &stamp) < 0 || open_points(args[2], &points, &count) < 0)
        return NULL;
    if (open_canvas(args[0], &canvas) < 0) {
        PyBuffer_Release(&points);
        return NULL;
    }
    xy = (const double *)points.buf;
    for (i = 0; i < count; i++)
        place(&canvas, &stamp, xy[2 * i], xy[2 * i + 1]);
    PyBuffer_Release(&canvas.view);
    PyBuffer_Release(&points);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(polyline_doc, "polyline(canvas, points, ink, thickness, /)\n--\n\n"
             "Segments joining the points (float64, shape (n, 2)) in order, 1 or 2 pixels "
             "thick; one point is drawn as a dot.");

static PyObject *polyline(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Canvas canvas;
    Py_buffer points;
    Py_ssize_t count, i;
    const double *xy;
    unsigned char ink;
    int thickness;
    (void)self;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "polyline(canvas, points, ink, thickness)");
        return NULL;
    }
    if (ink_and_thickness(args + 2, &ink, &thickness) < 0
        || open_points(args[1], &points, &count) < 0)
        return NULL;
    if (open_canvas(args[0], &canvas) < 0) {
        PyBuffer_Release(&points);
        return NULL;
    }
    xy = (const double *)points.buf;
    if (count == 1)
        segment(&canvas, xy[0], xy[1], xy[0], xy[1], ink, thickness);
    for (i = 1; i < count; i++)
        segment(&canvas, xy[2 * i - 2], xy[2 * i - 1], xy[2 * i], xy[2 * i + 1], ink,
                thickness);
    PyBuffer_Release(&canvas.view);
    PyBuffer_Release(&points);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(segments_doc, "segments(canvas, ends, ink, thickness, /)\n--\n\n"
             "Each segment from (x0, y0) to (x1, y1), the rows of ends (float64, shape "
             "(k, 4)), in order.");

static PyObject *segments(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Canvas canvas;
    Py_buffer ends;
    Py_ssize_t i;
    const double *xy;
    unsigned char ink;
    int thickness;
    (void)self;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "segments(canvas, ends, ink, thickness)");
        return NULL;
    }
    if (ink_and_thickness(args + 2, &ink, &thickness) < 0
        || open_rows(args[1], &ends, 4, "segment ends") < 0)
        return NULL;
    if (open_canvas(args[0], &canvas) < 0) {
        PyBuffer_Release(&ends);
        return NULL;
    }
    xy = (const double *)ends.buf;
    for (i = 0; i < ends.shape[0]; i++)
        segment(&canvas, xy[4 * i], xy[4 * i + 1], xy[4 * i + 2], xy[4 * i + 3], ink,
                thickness);
    PyBuffer_Release(&canvas.view);
    PyBuffer_Release(&ends);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(glyph_run_doc, "glyph_run(canvas, text, count, x, y, glyphs, advances, /)\n--\n\n"
"The first `count` characters of `text` glyph by glyph from (x, y): each the stamp\n"
"``glyphs[char]`` (a space is not drawn) at x plus the advances before it, each the\n"
"advance ``advances[pair]`` of the character and the next one of `text` (the character\n"
"alone at its end). Returns the sum of the advances, or None, with nothing drawn, where a\n"
"glyph or an advance is not in its table. With `canvas` None, draws nothing.");

static PyObject *glyph_run(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    PyObject *text, *glyphs, *advances, *result = NULL;
    Py_ssize_t count, length, i;
    double x, y, offset = 0.0, *starts = NULL;
    PyObject **stamps = NULL;
    int draw, missing = 0;
    Canvas canvas;
    (void)self;
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError,
                        "glyph_run(canvas, text, count, x, y, glyphs, advances)");
        return NULL;
    }
    text = args[1];
    glyphs = args[5];
    advances = args[6];
    if (!PyUnicode_Check(text) || !PyDict_Check(glyphs) || !PyDict_Check(advances)) {
        PyErr_SetString(PyExc_TypeError, "text is a str, glyphs and advances dicts");
        return NULL;
    }
    count = PyLong_AsSsize_t(args[2]);
    if (count == -1 && PyErr_Occurred())
        return NULL;
    length = PyUnicode_GET_LENGTH(text);
    if (count < 0 || count > length) {
        PyErr_SetString(PyExc_ValueError, "count is beyond the text");
        return NULL;
    }
    if (as_double(args[3], &x) < 0 || as_double(args[4], &y) < 0)
        return NULL;
    draw = args[0] != Py_None;
    starts = PyMem_Malloc(sizeof(double) * (size_t)(count + 1));
    stamps = PyMem_Calloc((size_t)(count + 1), sizeof(PyObject *));
    if (starts == NULL || stamps == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (i = 0; i < count && !missing; i++) {
        PyObject *key, *found;
        double advance;
        starts[i] = offset;
        if (draw && PyUnicode_READ_CHAR(text, i) != ' ') {
            key = PyUnicode_Substring(text, i, i + 1);
            if (key == NULL)
                goto done;
            found = PyDict_GetItemWithError(glyphs, key); /* borrowed */
            Py_DECREF(key);
            if (found == NULL && PyErr_Occurred())
                goto done;
            if (found == NULL || !PyBytes_Check(found)) {
                missing = 1;
                break;
            }
            stamps[i] = found;
        }
        key = PyUnicode_Substring(text, i, i + 2 < length ? i + 2 : length);
        if (key == NULL)
            goto done;
        found = PyDict_GetItemWithError(advances, key);
        Py_DECREF(key);
        if (found == NULL && PyErr_Occurred())
            goto done;
        if (found == NULL || !PyFloat_Check(found)) {
            missing = 1;
            break;
        }
        advance = PyFloat_AS_DOUBLE(found);
        offset += advance;
    }
    if (missing) {
        result = Py_None;
        Py_INCREF(result);
        goto done;
    }
    if (draw) {
        Stamp stamp;
        if (open_canvas(args[0], &canvas) < 0)
            goto done;
        for (i = 0; i < count; i++) {
            if (stamps[i] == NULL)
                continue;
            if (read_stamp(stamps[i], &stamp) < 0) {
                PyBuffer_Release(&canvas.view);
                goto done;
            }
            place(&canvas, &stamp, x + starts[i], y);
        }
        PyBuffer_Release(&canvas.view);
    }
    result = PyFloat_FromDouble(offset);
done:
    PyMem_Free(starts);
    PyMem_Free(stamps);
    return result;
}

/* ------------------------------------------------------------------------- axes */

#define MAX_TICKS 64
#define EXACT_INTEGER 4503599627370496.0 /* 2**52: integers below it are exact */

static const double POWERS_OF_TEN[16] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};

/* Python's round(x, 10): the correctly rounded decimal of 10 places, read back. */
static int round_10(double x, double *out) {
    char *text = PyOS_double_to_string(x, 'f', 10, 0, NULL);
    if (text == NULL)
        return -1;
    *out = PyOS_string_to_double(text, NULL, NULL);
    PyMem_Free(text);
    return (*out == -1.0 && PyErr_Occurred()) ? -1 : 0;
}

#define NOT_HERE -2

/* overlay.nice_ticks(low, high, count) into values: its count, NOT_HERE where it is not
 * computed here (magnitudes beyond 1e15 or below 1e-300, integers past 2**52, more than
 * MAX_TICKS; the caller then uses Python's), -1 on an error. Python's ints and floats are followed:
 * a step of 1, 2, 5 or 10 times a non-negative power of ten is an int there, and so are the
 * first tick and the ticks, exact, and not rounded; a step of 2.5 times one, or of a power
 * below one, is a float, and each tick is rounded to 10 places. */
static int nice_ticks(double low, double high, long count, double *values) {
    static const double multiples[5] = {1.0, 2.0, 2.5, 5.0, 10.0};
    double span = high - low, raw, magnitude, step, miss = INFINITY, first, quotient, ticks;
    long exponent, n, i, k, intervals = count - 1 > 1 ? count - 1 : 1;
    int integral, step_integral;
    if (!isfinite(span) || span <= 0) {
        values[0] = low;
        return 1;
    }
    raw = span / (double)intervals;
    exponent = (long)floor(log10(raw));
    if (exponent > 15 || exponent < -300)
        return NOT_HERE;
    integral = exponent >= 0;
    magnitude = integral ? POWERS_OF_TEN[exponent] : pow(10.0, (double)exponent);
    step = magnitude;
    step_integral = integral;
    for (k = 0; k < 5; k++) {
        double candidate = multiples[k] * magnitude;
        double distance = fabs(span / candidate - (double)(count - 1));
        if (distance < miss) {
            step = candidate;
            step_integral = integral && k != 2;
            miss = distance;
        }
    }
    quotient = ceil(low / step);
    if (!(fabs(quotient) < EXACT_INTEGER))
        return NOT_HERE;
    first = quotient * step;
    if (step_integral && !(fabs(first) < EXACT_INTEGER))
        return NOT_HERE;
    ticks = (high - first) / step + 1e-9;
    if (!(ticks < MAX_TICKS && ticks > -MAX_TICKS))
        return NOT_HERE;
    n = (long)ticks + 1; /* int() truncates towards zero; range() of it may be empty */
    if (n < 0)
        n = 0;
    for (i = 0; i < n; i++) {
        double value = first + (double)i * step;
        if (step_integral) {
            if (!(fabs(value) < EXACT_INTEGER))
                return NOT_HERE;
            values[i] = value;
        } else if (round_10(value, &values[i]) < 0) {
            return -1;
        }
    }
    return (int)n;
}

static int append_segment(PyObject *list, double x0, double y0, double x1, double y1) {
    PyObject *segment;
    int failed;
    segment = Py_BuildValue("(dddd)", x0, y0, x1, y1);
    if (segment == NULL)
        return -1;
    failed = PyList_Append(list, segment);
    Py_DECREF(segment);
    return failed;
}

/* Segments collected while an axis is laid out, drawn after. */
typedef struct {
    double *ends;
    Py_ssize_t count, capacity;
} Segments;

static int add_segment(Segments *segments, double x0, double y0, double x1, double y1) {
    double *at;
    if (segments == NULL)
        return 0;
    if (segments->count == segments->capacity) {
        Py_ssize_t capacity = segments->capacity ? 2 * segments->capacity : 32;
        double *grown = PyMem_Realloc(segments->ends, sizeof(double) * 4 * (size_t)capacity);
        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        segments->ends = grown;
        segments->capacity = capacity;
    }
    at = segments->ends + 4 * segments->count++;
    at[0] = x0;
    at[1] = y0;
    at[2] = x1;
    at[3] = y1;
    return 0;
}

static void draw_segments(const Canvas *canvas, const Segments *segments, unsigned char ink) {
    Py_ssize_t i;
    for (i = 0; i < segments->count; i++)
        segment(canvas, segments->ends[4 * i], segments->ends[4 * i + 1],
                segments->ends[4 * i + 2], segments->ends[4 * i + 3], ink, 1);
}

/* The stamps of one anchor and colour of texts (a dict by text; borrowed) and what makes one
 * that is not there (render(text), which keeps it there). */
typedef struct {
    PyObject *stamps, *render;
} Labels;

static int place_label(const Canvas *canvas, const Labels *labels, PyObject *text, double x,
                       double y) {
    PyObject *stamp = PyDict_GetItemWithError(labels->stamps, text);
    Stamp placed;
    int failed;
    if (stamp != NULL)
        Py_INCREF(stamp);
    else if (!PyErr_Occurred())
        stamp = PyObject_CallOneArg(labels->render, text);
    if (stamp == NULL)
        return -1;
    failed = read_stamp(stamp, &placed);
    if (!failed)
        place(canvas, &placed, x, y);
    Py_DECREF(stamp);
    return failed;
}

/* An axis's layout (see `axis`): the geometry of its ticks and labels. */
typedef struct {
    double position[6]; /* base, sign, divisor, offset, denominator, scale */
    int vertical;
    double grid_from, grid_to, tick_from, tick_to, label_at;
} Axis;

/* The `n` ticks `values` of an axis: their labels placed, their grid lines and ticks added
 * to `grid` and `ticks` (NULL: none), in the order `axis` documents. */
static int axis_ticks(const Canvas *canvas, const double *values, int n, const Axis *axis,
                      const Labels *labels, Segments *grid, Segments *ticks) {
    const double *q = axis->position;
    int i;
    for (i = 0; i < n; i++) {
        double p = q[0] + q[1] * ((values[i] / q[2] - q[3]) / q[4] * q[5]);
        char *formatted = PyOS_double_to_string(values[i], 'g', 4, 0, NULL);
        PyObject *text;
        int failed;
        if (formatted == NULL)
            return -1;
        text = PyUnicode_FromString(formatted);
        PyMem_Free(formatted);
        if (text == NULL)
            return -1;
        failed = axis->vertical ? place_label(canvas, labels, text, axis->label_at, p)
                                : place_label(canvas, labels, text, p, axis->label_at);
        Py_DECREF(text);
        if (failed)
            return -1;
        if (axis->vertical ? add_segment(grid, axis->grid_from, p, axis->grid_to, p) < 0
                                 || add_segment(ticks, axis->tick_from, p, axis->tick_to, p) < 0
                           : add_segment(grid, p, axis->grid_from, p, axis->grid_to) < 0
                                 || add_segment(ticks, p, axis->tick_from, p, axis->tick_to) < 0)
            return -1;
    }
    return 0;
}

static int append_all(PyObject *list, const Segments *segments) {
    Py_ssize_t i;
    for (i = 0; i < segments->count; i++) {
        const double *at = segments->ends + 4 * i;
        if (append_segment(list, at[0], at[1], at[2], at[3]) < 0)
            return -1;
    }
    return 0;
}

PyDoc_STRVAR(axis_doc,
"axis(canvas, low, high, count, position, vertical, grid_span, tick_span, label_at, stamps,\n"
"     render, grid, ticks, /)\n--\n\n"
"The ticks of an axis as `overlay.nice_ticks(low, high, count)` finds them, each at\n"
"p = base + sign * ((value / divisor - offset) / denominator * scale), position being those\n"
"six floats: its label f'{value:.4g}' pasted (the stamp stamps[text], else render(text)) at\n"
"(p, label_at), or (label_at, p) on a vertical axis; its grid line across grid_span and its\n"
"tick across tick_span appended to the lists grid and ticks (None: not drawn). Returns True,\n"
"or False with nothing done where the ticks are not computed here.");

static PyObject *axis(PyObject *self, PyObject *args) {
    PyObject *canvas_object, *grid, *ticks;
    double low, high, values[MAX_TICKS];
    long count;
    int n, failed;
    Axis layout;
    Labels labels;
    Segments grid_segments = {NULL, 0, 0}, tick_segments = {NULL, 0, 0};
    Canvas canvas;
    double *q = layout.position;
    (void)self;
    if (!PyArg_ParseTuple(args, "Oddl(dddddd)p(dd)(dd)dO!OOO:axis", &canvas_object, &low,
                          &high, &count, &q[0], &q[1], &q[2], &q[3], &q[4], &q[5],
                          &layout.vertical, &layout.grid_from, &layout.grid_to,
                          &layout.tick_from, &layout.tick_to, &layout.label_at, &PyDict_Type,
                          &labels.stamps, &labels.render, &grid, &ticks))
        return NULL;
    if ((grid != Py_None && !PyList_Check(grid)) || (ticks != Py_None && !PyList_Check(ticks))) {
        PyErr_SetString(PyExc_TypeError, "grid and ticks are lists or None");
        return NULL;
    }
    n = nice_ticks(low, high, count, values);
    if (n == NOT_HERE)
        Py_RETURN_FALSE;
    if (n < 0)
        return NULL;
    if (open_canvas(canvas_object, &canvas) < 0)
        return NULL;
    failed = axis_ticks(&canvas, values, n, &layout, &labels,
                        grid == Py_None ? NULL : &grid_segments,
                        ticks == Py_None ? NULL : &tick_segments)
             || (grid != Py_None && append_all(grid, &grid_segments) < 0)
             || (ticks != Py_None && append_all(ticks, &tick_segments) < 0);
    PyMem_Free(grid_segments.ends);
    PyMem_Free(tick_segments.ends);
    PyBuffer_Release(&canvas.view);
    if (failed)
        return NULL;
    Py_RETURN_TRUE;
}

/* ------------------------------------------------------------------------- overlay */

/* A C-contiguous float64 vector of `count` values. */
static int open_vector(PyObject *object, Py_buffer *view, Py_ssize_t count, const char *what) {
    if (PyObject_GetBuffer(object, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        return -1;
    if (view->ndim != 1 || view->shape[0] != count || view->itemsize != sizeof(double)
        || view->format == NULL || strcmp(view->format, "d") != 0) {
        PyBuffer_Release(view);
        PyErr_Format(PyExc_ValueError, "%s are a float64 vector of %zd values", what, count);
        return -1;
    }
    return 0;
}

static int ink_of(int value, unsigned char *ink) {
    if (value < 0 || value > 255) {
        PyErr_SetString(PyExc_ValueError, "an ink is a palette index, 0 to 255");
        return -1;
    }
    *ink = (unsigned char)value;
    return 0;
}

/* The trajectory points of `xy` (n pairs) on the canvas: x * scale + ox, y * -scale + oy. */
static void to_canvas(const double *xy, Py_ssize_t n, double scale, double ox, double oy,
                      double *out) {
    Py_ssize_t i;
    for (i = 0; i < n; i++) {
        out[2 * i] = xy[2 * i] * scale + ox;
        out[2 * i + 1] = xy[2 * i + 1] * -scale + oy;
    }
}

static void line_through(const Canvas *canvas, const double *xy, Py_ssize_t n,
                         unsigned char ink, int thickness) {
    Py_ssize_t i;
    if (n == 1)
        segment(canvas, xy[0], xy[1], xy[0], xy[1], ink, thickness);
    for (i = 1; i < n; i++)
        segment(canvas, xy[2 * i - 2], xy[2 * i - 1], xy[2 * i], xy[2 * i + 1], ink, thickness);
}

static void place_at(const Canvas *canvas, const Stamp *stamp, const double *xy, Py_ssize_t n) {
    Py_ssize_t i;
    for (i = 0; i < n; i++)
        place(canvas, stamp, xy[2 * i], xy[2 * i + 1]);
}

static void outline_box(const Canvas *canvas, double left, double top, double right,
                        double bottom, unsigned char ink) {
    segment(canvas, left, top, right, top, ink, 1);
    segment(canvas, left, bottom, right, bottom, ink, 1);
    segment(canvas, left, top, left, bottom, ink, 1);
    segment(canvas, right, top, right, bottom, ink, 1);
}

#define PANEL_AXES 6

PyDoc_STRVAR(overlay_panels_doc,
"overlay_panels(canvas, reference, secondary, frames, error, pixel_size, main, lower, labels,\n"
"               inks, marks, /)\n--\n\n"
"An overlay's trajectory panel and error panel, as `overlay.OverlayPlotter._trajectories` and\n"
"`_errors` draw them, to the same pixels: reference and secondary (float64, (n, 2)), frames and\n"
"error (float64, (n,)); main and lower the panels' boxes (left, top, right, bottom); labels four\n"
"(stamps, render) pairs: tick labels anchored mm, rm, lm, and frame labels; inks (grid, black,\n"
"reference, secondary, error line); marks the stamps of the reference's and secondary's dots,\n"
"the first frame's marker and the legend. Returns True, or False with nothing drawn where it\n"
"leaves the figure to Python (ticks not computed here, frame numbers past 2**53, lengths that\n"
"differ, no point).");

static PyObject *overlay_panels(PyObject *self, PyObject *args) {
    PyObject *canvas_object, *reference_object, *secondary_object, *frames_object, *error_object;
    PyObject *marks[4];
    Labels labels[4];
    double pixel_size, main_box[4], lower_box[4];
    int ink_values[5];
    unsigned char grid_ink, black, reference_ink, secondary_ink, error_ink;
    Py_buffer reference = {0}, secondary = {0}, frames = {0}, error = {0};
    Canvas canvas;
    int canvas_open = 0, counts[PANEL_AXES + 2], k;
    double ticks[PANEL_AXES + 2][MAX_TICKS];
    Segments grid = {NULL, 0, 0}, tick_marks = {NULL, 0, 0};
    double *points = NULL;
    PyObject *result = NULL;
    Stamp dots[2], start, legend;
    Py_ssize_t n, i;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOOOOd(dddd)(dddd)((O!O)(O!O)(O!O)(O!O))(iiiii)(OOOO):overlay_panels",
                          &canvas_object, &reference_object, &secondary_object, &frames_object,
                          &error_object, &pixel_size, &main_box[0], &main_box[1], &main_box[2],
                          &main_box[3], &lower_box[0], &lower_box[1], &lower_box[2],
                          &lower_box[3], &PyDict_Type, &labels[0].stamps, &labels[0].render,
                          &PyDict_Type, &labels[1].stamps, &labels[1].render, &PyDict_Type,
                          &labels[2].stamps, &labels[2].render, &PyDict_Type,
                          &labels[3].stamps, &labels[3].render, &ink_values[0], &ink_values[1],
                          &ink_values[2], &ink_values[3], &ink_values[4], &marks[0], &marks[1],
                          &marks[2], &marks[3]))
        return NULL;
    if (ink_of(ink_values[0], &grid_ink) < 0 || ink_of(ink_values[1], &black) < 0
        || ink_of(ink_values[2], &reference_ink) < 0 || ink_of(ink_values[3], &secondary_ink) < 0
        || ink_of(ink_values[4], &error_ink) < 0)
        return NULL;
    if (marks[3] == Py_None)
        Py_RETURN_FALSE; /* a legend drawn in Python */
    if (read_stamp(marks[0], &dots[0]) < 0 || read_stamp(marks[1], &dots[1]) < 0
        || read_stamp(marks[2], &start) < 0 || read_stamp(marks[3], &legend) < 0)
        return NULL;
    if (open_rows(reference_object, &reference, 2, "reference shifts") < 0)
        return NULL;
    n = reference.shape[0];
    if (open_rows(secondary_object, &secondary, 2, "secondary shifts") < 0)
        goto done;
    if (secondary.shape[0] != n || n < 1) {
        result = Py_False;
        Py_INCREF(result);
        goto done;
    }
    if (open_vector(frames_object, &frames, n, "frames") < 0
        || open_vector(error_object, &error, n, "errors") < 0)
        goto done;
    {
        const double *ref = reference.buf, *sec = secondary.buf, *frame = frames.buf;
        const double *err = error.buf;
        double left = main_box[0], top = main_box[1], right = main_box[2], bottom = main_box[3];
        double width = right - left, height = bottom - top;
        double low_x = ref[0], high_x = ref[0], low_y = ref[1], high_y = ref[1];
        double spread, span, scale, x0, y0, ox, oy, f0, f1, ceiling, most;
        double e_left = lower_box[0], e_top = lower_box[1], e_right = lower_box[2];
        double e_bottom = lower_box[3];
        int with_angstrom = isfinite(pixel_size) && pixel_size > 0;
        Axis axes[PANEL_AXES + 2];
        double lows[PANEL_AXES + 2], highs[PANEL_AXES + 2];
        long tick_counts[PANEL_AXES + 2] = {6, 6, 6, 6, 3, 8};
        int label_of[PANEL_AXES + 2] = {0, 1, 0, 2, 1, 0};
        Py_ssize_t step;
        for (i = 0; i < n; i++) {
            const double *pairs[2] = {ref + 2 * i, sec + 2 * i};
            for (k = 0; k < 2; k++) {
                const double *xy = pairs[k];
                if (xy[0] < low_x) low_x = xy[0];
                if (xy[0] > high_x) high_x = xy[0];
                if (xy[1] < low_y) low_y = xy[1];
                if (xy[1] > high_y) high_y = xy[1];
            }
            if (!(fabs(frame[i]) < EXACT_INTEGER)) {
                result = Py_False;
                Py_INCREF(result);
                goto done;
            }
        }
        spread = high_y - low_y > high_x - low_x ? high_y - low_y : high_x - low_x;
        span = spread * 1.12;
        if (0.5 > span)
            span = 0.5;
        scale = height / span < width / span ? height / span : width / span;
        x0 = (low_x + high_x) / 2 - width / scale / 2;
        y0 = (low_y + high_y) / 2 - height / scale / 2;
        ox = left - x0 * scale;
        oy = bottom + y0 * scale;
        f0 = frame[0];
        f1 = frame[n - 1] > frame[0] ? frame[n - 1] : f0 + 1;
        most = err[0];
        for (i = 1; i < n; i++)
            if (err[i] > most)
                most = err[i];
        ceiling = most * 1.15;
        if (0.05 > ceiling)
            ceiling = 0.05;
        /* x and y in pixels, x and y in Å, the error and the frame axes */
        lows[0] = x0, highs[0] = x0 + width / scale;
        lows[1] = y0, highs[1] = y0 + height / scale;
        lows[2] = lows[0] * pixel_size, highs[2] = highs[0] * pixel_size;
        lows[3] = lows[1] * pixel_size, highs[3] = highs[1] * pixel_size;
        lows[4] = 0.0, highs[4] = ceiling;
        lows[5] = f0, highs[5] = f1;
        axes[0] = (Axis){{left, 1.0, 1.0, x0, 1.0, scale}, 0, top, bottom, bottom, bottom + 4,
                         bottom + 12};
        axes[1] = (Axis){{bottom, -1.0, 1.0, y0, 1.0, scale}, 1, left, right, left - 4, left,
                         left - 6};
        axes[2] = (Axis){{left, 1.0, pixel_size, x0, 1.0, scale}, 0, top, bottom, top - 4, top,
                         top - 12};
        axes[3] = (Axis){{bottom, -1.0, pixel_size, y0, 1.0, scale}, 1, left, right, right,
                         right + 4, right + 6};
        axes[4] = (Axis){{e_bottom, -1.0, ceiling, 0.0, 1.0, e_bottom - e_top}, 1, e_left,
                         e_right, e_left, e_left, e_left - 6};
        axes[5] = (Axis){{e_left, 1.0, 1.0, f0, f1 - f0, e_right - e_left}, 0, e_top, e_bottom,
                         e_bottom, e_bottom + 4, e_bottom + 11};
        for (k = 0; k < PANEL_AXES; k++) {
            if ((k == 2 || k == 3) && !with_angstrom)
                continue;
            counts[k] = nice_ticks(lows[k], highs[k], tick_counts[k], ticks[k]);
            if (counts[k] == NOT_HERE) {
                result = Py_False;
                Py_INCREF(result);
                goto done;
            }
            if (counts[k] < 0)
                goto done;
        }
        points = PyMem_Malloc(sizeof(double) * 4 * (size_t)n);
        if (points == NULL) {
            PyErr_NoMemory();
            goto done;
        }
        if (open_canvas(canvas_object, &canvas) < 0)
            goto done;
        canvas_open = 1;
        /* The trajectory panel. */
        for (k = 0; k < 4; k++) {
            if ((k == 2 || k == 3) && !with_angstrom)
                continue;
            if (axis_ticks(&canvas, ticks[k], counts[k], &axes[k], &labels[label_of[k]],
                           k < 2 ? &grid : NULL, &tick_marks) < 0)
                goto done;
        }
        draw_segments(&canvas, &grid, grid_ink);
        draw_segments(&canvas, &tick_marks, black);
        outline_box(&canvas, left, top, right, bottom, black);
        to_canvas(ref, n, scale, ox, oy, points);
        to_canvas(sec, n, scale, ox, oy, points + 2 * n);
        line_through(&canvas, points, n, reference_ink, 2);
        place_at(&canvas, &dots[0], points, n);
        line_through(&canvas, points + 2 * n, n, secondary_ink, 2);
        place_at(&canvas, &dots[1], points + 2 * n, n);
        place(&canvas, &start, points[0], points[1]);
        step = (n + 5) / 6;
        if (step < 1)
            step = 1;
        for (i = 0; i < n; i += step) {
            PyObject *text = PyUnicode_FromFormat("%lld", (long long)frame[i]);
            int failed;
            if (text == NULL)
                goto done;
            failed = place_label(&canvas, &labels[3], text, points[2 * i] + 5,
                                 points[2 * i + 1] - 5);
            Py_DECREF(text);
            if (failed)
                goto done;
        }
        place(&canvas, &legend, left + 6, top + 6);
        /* The error panel. */
        grid.count = tick_marks.count = 0;
        if (axis_ticks(&canvas, ticks[4], counts[4], &axes[4], &labels[1], &grid, NULL) < 0
            || axis_ticks(&canvas, ticks[5], counts[5], &axes[5], &labels[0], NULL,
                          &tick_marks) < 0)
            goto done;
        draw_segments(&canvas, &grid, grid_ink);
        draw_segments(&canvas, &tick_marks, black);
        for (i = 0; i < n; i++) {
            points[2 * i] = e_left + (frame[i] - f0) / (f1 - f0) * (e_right - e_left);
            points[2 * i + 1] = e_bottom - err[i] / ceiling * (e_bottom - e_top);
        }
        line_through(&canvas, points, n, error_ink, 1);
        outline_box(&canvas, e_left, e_top, e_right, e_bottom, black);
        result = Py_True;
        Py_INCREF(result);
    }
done:
    if (canvas_open)
        PyBuffer_Release(&canvas.view);
    PyMem_Free(points);
    PyMem_Free(grid.ends);
    PyMem_Free(tick_marks.ends);
    if (error.obj != NULL)
        PyBuffer_Release(&error);
    if (frames.obj != NULL)
        PyBuffer_Release(&frames);
    if (secondary.obj != NULL)
        PyBuffer_Release(&secondary);
    PyBuffer_Release(&reference);
    return result;
}

static PyMethodDef methods[] = {
    {"paste", (PyCFunction)(void (*)(void))paste, METH_FASTCALL, paste_doc},
    {"paste_at", (PyCFunction)(void (*)(void))paste_at, METH_FASTCALL, paste_at_doc},
    {"polyline", (PyCFunction)(void (*)(void))polyline, METH_FASTCALL, polyline_doc},
    {"segments", (PyCFunction)(void (*)(void))segments, METH_FASTCALL, segments_doc},
    {"glyph_run", (PyCFunction)(void (*)(void))glyph_run, METH_FASTCALL, glyph_run_doc},
    {"axis", axis, METH_VARARGS, axis_doc},
    {"overlay_panels", overlay_panels, METH_VARARGS, overlay_panels_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_canvas",
    "Drawing on an indexed canvas, compiled (see figures.canvas).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__canvas(void) { return PyModule_Create(&module); }
