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

static PyMethodDef methods[] = {
    {"paste", (PyCFunction)(void (*)(void))paste, METH_FASTCALL, paste_doc},
    {"paste_at", (PyCFunction)(void (*)(void))paste_at, METH_FASTCALL, paste_at_doc},
    {"polyline", (PyCFunction)(void (*)(void))polyline, METH_FASTCALL, polyline_doc},
    {"segments", (PyCFunction)(void (*)(void))segments, METH_FASTCALL, segments_doc},
    {"glyph_run", (PyCFunction)(void (*)(void))glyph_run, METH_FASTCALL, glyph_run_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_canvas",
    "Drawing on an indexed canvas, compiled (see figures.canvas).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__canvas(void) { return PyModule_Create(&module); }
