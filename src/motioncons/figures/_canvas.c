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

/* The pixels of a segment: n + 1 evenly spaced points, n its longer side rounded up; each
 * point's nearest pixel, and for a thickness of 2 also the next pixel across the segment. */
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
        double x = x0 + dx * (double)i / (double)n;
        double y = y0 + dy * (double)i / (double)n;
        if (thickness < 2) {
            put(canvas, floor(x + 0.5), floor(y + 0.5), ink);
        } else if (across_y) {
            put(canvas, floor(x + 0.5), floor(y), ink);
            put(canvas, floor(x + 0.5), floor(y) + 1, ink);
        } else {
            put(canvas, floor(x), floor(y + 0.5), ink);
            put(canvas, floor(x) + 1, floor(y + 0.5), ink);
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
    if (list == Py_None)
        return 0;
    segment = Py_BuildValue("(dddd)", x0, y0, x1, y1);
    if (segment == NULL)
        return -1;
    failed = PyList_Append(list, segment);
    Py_DECREF(segment);
    return failed;
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
    PyObject *canvas_object, *stamps, *render, *grid, *ticks;
    double low, high, base, sign, divisor, offset, denominator, scale, label_at;
    double grid_from, grid_to, tick_from, tick_to, values[MAX_TICKS];
    long count;
    int vertical, n, i;
    Canvas canvas;
    (void)self;
    if (!PyArg_ParseTuple(args, "Oddl(dddddd)p(dd)(dd)dO!OOO:axis", &canvas_object, &low,
                          &high, &count, &base, &sign, &divisor, &offset, &denominator, &scale,
                          &vertical, &grid_from, &grid_to, &tick_from, &tick_to, &label_at,
                          &PyDict_Type, &stamps, &render, &grid, &ticks))
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
    for (i = 0; i < n; i++) {
        double p = base + sign * ((values[i] / divisor - offset) / denominator * scale);
        char *formatted = PyOS_double_to_string(values[i], 'g', 4, 0, NULL);
        PyObject *text, *stamp;
        Stamp placed;
        int failed;
        if (formatted == NULL)
            goto error;
        text = PyUnicode_FromString(formatted);
        PyMem_Free(formatted);
        if (text == NULL)
            goto error;
        stamp = PyDict_GetItemWithError(stamps, text);
        if (stamp != NULL)
            Py_INCREF(stamp);
        else if (!PyErr_Occurred())
            stamp = PyObject_CallOneArg(render, text);
        Py_DECREF(text);
        if (stamp == NULL)
            goto error;
        failed = read_stamp(stamp, &placed);
        if (!failed) {
            if (vertical)
                place(&canvas, &placed, label_at, p);
            else
                place(&canvas, &placed, p, label_at);
        }
        Py_DECREF(stamp);
        if (failed)
            goto error;
        if (vertical ? append_segment(grid, grid_from, p, grid_to, p) < 0
                         || append_segment(ticks, tick_from, p, tick_to, p) < 0
                     : append_segment(grid, p, grid_from, p, grid_to) < 0
                         || append_segment(ticks, p, tick_from, p, tick_to) < 0)
            goto error;
    }
    PyBuffer_Release(&canvas.view);
    Py_RETURN_TRUE;
error:
    PyBuffer_Release(&canvas.view);
    return NULL;
}

static PyMethodDef methods[] = {
    {"paste", (PyCFunction)(void (*)(void))paste, METH_FASTCALL, paste_doc},
    {"paste_at", (PyCFunction)(void (*)(void))paste_at, METH_FASTCALL, paste_at_doc},
    {"polyline", (PyCFunction)(void (*)(void))polyline, METH_FASTCALL, polyline_doc},
    {"segments", (PyCFunction)(void (*)(void))segments, METH_FASTCALL, segments_doc},
    {"glyph_run", (PyCFunction)(void (*)(void))glyph_run, METH_FASTCALL, glyph_run_doc},
    {"axis", axis, METH_VARARGS, axis_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_canvas",
    "Drawing on an indexed canvas, compiled (see figures.canvas).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__canvas(void) { return PyModule_Create(&module); }
