/* The overlay codec's encoder, compiled: `encode_overlays`, what `overlay_codec._encode` does
 * for the movies it is given, one movie after another without numpy's per-call costs.
 *
 * A movie it does not take as it is (not float64 trajectories of shape (n, 2), frame numbers
 * not n int32 or int64, a value that is not finite or does not fit after quantising)
 * is given None, and the Python encoder encodes it; every value is quantised with the same
 * floating-point operations as numpy's (a division, then rounding half to even).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define FITS 4.0e18 /* quantised values beyond this are left to the Python encoder */

typedef struct {
    unsigned char *data;
    Py_ssize_t size, capacity;
} Out;

static int reserve(Out *out, Py_ssize_t more) {
    if (out->size + more <= out->capacity)
        return 0;
    Py_ssize_t capacity = (out->size + more) * 2;
    unsigned char *data = PyMem_Realloc(out->data, (size_t)capacity);
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    out->data = data;
    out->capacity = capacity;
    return 0;
}

/* A zigzag varint; room for it was reserved. */
static void varint(Out *out, int64_t value) {
    uint64_t zigzag = ((uint64_t)value << 1) ^ (value < 0 ? UINT64_MAX : 0);
    while (zigzag >= 0x80) {
        out->data[out->size++] = (unsigned char)(zigzag & 0x7F) | 0x80;
        zigzag >>= 7;
    }
    out->data[out->size++] = (unsigned char)zigzag;
}

/* A float64 array of shape (n, 2), any strides, or 0 (and no exception) when not. */
static int points(PyObject *object, Py_buffer *view) {
    if (PyObject_GetBuffer(object, view, PyBUF_RECORDS_RO) < 0) {
        PyErr_Clear();
        return 0;
    }
    if (view->ndim != 2 || view->shape[1] != 2 || view->itemsize != 8 || view->format == NULL
        || strcmp(view->format, "d") != 0) {
        PyBuffer_Release(view);
        return 0;
    }
    return 1;
}

/* The points quantised, x and y of each in turn; 0 when one does not fit. */
static int quantised(const Py_buffer *view, double quantum, int64_t *into) {
    Py_ssize_t i, axis;
    const char *data = (const char *)view->buf;
    for (i = 0; i < view->shape[0]; i++)
        for (axis = 0; axis < 2; axis++) {
            double value;
            memcpy(&value, data + i * view->strides[0] + axis * view->strides[1], 8);
            value = nearbyint(value / quantum);
            if (!(value > -FITS && value < FITS))
                return 0;
            into[2 * i + axis] = (int64_t)value;
        }
    return 1;
}

/* One movie's blob, Py_None when the Python encoder is to encode it, or NULL on an error. */
static PyObject *encode_one(PyObject *frames_object, PyObject *reference_object,
                            PyObject *fitted_object, double quantum, Out *out,
                            int64_t **scratch, Py_ssize_t *scratch_size) {
    Py_buffer reference, fitted, frames;
    int have_frames = 0, consecutive;
    Py_ssize_t n, i;
    int64_t *ref, *fit, *frame, previous;
    PyObject *result = NULL;
    int error = 0;
    if (!points(reference_object, &reference))
        Py_RETURN_NONE;
    if (!points(fitted_object, &fitted)) {
        PyBuffer_Release(&reference);
        Py_RETURN_NONE;
    }
    n = reference.shape[0];
    if (fitted.shape[0] != n)
        goto done;
    if (frames_object != Py_None) {
        if (PyObject_GetBuffer(frames_object, &frames, PyBUF_RECORDS_RO) < 0) {
            PyErr_Clear();
            goto done;
        }
        have_frames = 1;
        if (frames.format == NULL || frames.ndim != 1 || frames.shape[0] != n
            || !((frames.itemsize == 8 && (strcmp(frames.format, "l") == 0
                                           || strcmp(frames.format, "q") == 0))
                 || (frames.itemsize == 4 && strcmp(frames.format, "i") == 0)))
            goto done;
    }
    if (*scratch_size < 5 * n) {
        int64_t *grown = PyMem_Realloc(*scratch, (size_t)(5 * n + 1) * sizeof(int64_t));
        if (grown == NULL) {
            PyErr_NoMemory();
            error = 1;
            goto done;
        }
        *scratch = grown;
        *scratch_size = 5 * n + 1;
    }
    ref = *scratch;
    fit = ref + 2 * n;
    frame = fit + 2 * n;
    if (!quantised(&reference, quantum, ref) || !quantised(&fitted, quantum, fit))
        goto done;
    for (i = 0; i < n; i++) {
        const char *at = have_frames ? (const char *)frames.buf + i * frames.strides[0] : NULL;
        if (!have_frames) {
            frame[i] = i + 1;
        } else if (frames.itemsize == 8) {
            memcpy(&frame[i], at, 8);
        } else {
            int32_t small;
            memcpy(&small, at, 4);
            frame[i] = small;
        }
        if (frame[i] > (int64_t)FITS || frame[i] < -(int64_t)FITS)
            goto done;
    }
    consecutive = n > 0;
    for (i = 1; i < n && consecutive; i++)
        consecutive = frame[i] - frame[i - 1] == 1;
    out->size = 0;
    if (reserve(out, (3 + 5 * n) * 10) < 0) {
        error = 1;
        goto done;
    }
    varint(out, n);
    varint(out, n ? frame[0] : 0);
    varint(out, consecutive);
    if (!consecutive)
        for (i = 0, previous = 0; i < n; previous = frame[i], i++)
            varint(out, frame[i] - previous);
    for (i = 0, previous = 0; i < n; previous = ref[2 * i], i++)
        varint(out, ref[2 * i] - previous);
    for (i = 0, previous = 0; i < n; previous = ref[2 * i + 1], i++)
        varint(out, ref[2 * i + 1] - previous);
    for (i = 0; i < n; i++)
        varint(out, fit[2 * i] - ref[2 * i]);
    for (i = 0; i < n; i++)
        varint(out, fit[2 * i + 1] - ref[2 * i + 1]);
    result = PyBytes_FromStringAndSize((const char *)out->data, out->size);
    error = result == NULL;
done:
    if (have_frames)
        PyBuffer_Release(&frames);
    PyBuffer_Release(&reference);
    PyBuffer_Release(&fitted);
    if (error)
        return NULL;
    if (result == NULL)
        Py_RETURN_NONE;
    return result;
}

PyDoc_STRVAR(encode_overlays_doc,
"encode_overlays(frames, references, fitted, quantum, /)\n--\n\n"
"The blob of each movie (`overlay_codec.encode_overlay`): its frame numbers (int32 or int64,\n"
"or None for 1..n), reference and fitted secondary (float64, (n, 2)), from three lists of\n"
"the same length; None for a movie left to the Python encoder.");

static PyObject *encode_overlays(PyObject *self, PyObject *args) {
    PyObject *frames, *references, *fitted, *result = NULL;
    double quantum;
    Py_ssize_t count, i;
    Out out = {NULL, 0, 0};
    int64_t *scratch = NULL;
    Py_ssize_t scratch_size = 0;
    (void)self;
    if (!PyArg_ParseTuple(args, "O!O!O!d:encode_overlays", &PyList_Type, &frames,
                          &PyList_Type, &references, &PyList_Type, &fitted, &quantum))
        return NULL;
    count = PyList_GET_SIZE(references);
    if (PyList_GET_SIZE(frames) != count || PyList_GET_SIZE(fitted) != count) {
        PyErr_SetString(PyExc_ValueError, "the three lists differ in length");
        return NULL;
    }
    if (!(quantum > 0 && isfinite(quantum))) {
        PyErr_SetString(PyExc_ValueError, "the quantum must be a positive number");
        return NULL;
    }
    result = PyList_New(count);
    if (result == NULL)
        return NULL;
    for (i = 0; i < count; i++) {
        PyObject *blob = encode_one(PyList_GET_ITEM(frames, i), PyList_GET_ITEM(references, i),
                                    PyList_GET_ITEM(fitted, i), quantum, &out, &scratch,
                                    &scratch_size);
        if (blob == NULL) {
            Py_CLEAR(result);
            break;
        }
        PyList_SET_ITEM(result, i, blob);
    }
    PyMem_Free(out.data);
    PyMem_Free(scratch);
    return result;
}

static PyMethodDef methods[] = {
    {"encode_overlays", encode_overlays, METH_VARARGS, encode_overlays_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_overlay_codec",
    "The overlay codec's encoder, compiled (see figures.overlay_codec).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__overlay_codec(void) { return PyModule_Create(&module); }
