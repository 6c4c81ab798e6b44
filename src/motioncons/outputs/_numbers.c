/* Columns of floats as text, compiled: `finite_formatted` of `outputs.numbers` in one call.
 *
 * Each value is written by PyOS_double_to_string, the routine Python's own `"%.17g" % value`
 * and `"%.6f" % value` call (correctly rounded, independent of the C locale), so the text is
 * the same by construction; the tests compare both on millions of values anyway.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <string.h>

PyDoc_STRVAR(finite_formatted_doc,
"finite_formatted(values, code, precision, /)\n--\n\n"
"Each value as Python's ``'%.<precision><code>' % value`` (code 'g' or 'f'), or None unless\n"
"every value is a finite float (exactly a float, not a subclass).");

static PyObject *finite_formatted(PyObject *self, PyObject *args) {
    PyObject *values, *sequence, *out, *text;
    int code, precision;
    Py_ssize_t n, i;
    char *formatted;
    (void)self;
    if (!PyArg_ParseTuple(args, "OCi:finite_formatted", &values, &code, &precision))
        return NULL;
    if ((code != 'g' && code != 'f') || precision < 0 || precision > 60) {
        PyErr_SetString(PyExc_ValueError, "code must be 'g' or 'f', precision 0 to 60");
        return NULL;
    }
    sequence = PySequence_Fast(values, "values must be a sequence");
    if (sequence == NULL)
        return NULL;
    n = PySequence_Fast_GET_SIZE(sequence);
    for (i = 0; i < n; i++) {
        PyObject *value = PySequence_Fast_GET_ITEM(sequence, i);
        if (!PyFloat_CheckExact(value) || !isfinite(PyFloat_AS_DOUBLE(value))) {
            Py_DECREF(sequence);
            Py_RETURN_NONE;
        }
    }
    out = PyList_New(n);
    if (out == NULL) {
        Py_DECREF(sequence);
        return NULL;
    }
    for (i = 0; i < n; i++) {
        double value = PyFloat_AS_DOUBLE(PySequence_Fast_GET_ITEM(sequence, i));
        formatted = PyOS_double_to_string(value, (char)code, precision, 0, NULL);
        if (formatted == NULL) {
            Py_DECREF(out);
            Py_DECREF(sequence);
            return NULL;
        }
        text = PyUnicode_FromStringAndSize(formatted, (Py_ssize_t)strlen(formatted));
        PyMem_Free(formatted);
        if (text == NULL) {
            Py_DECREF(out);
            Py_DECREF(sequence);
            return NULL;
        }
        PyList_SET_ITEM(out, i, text);
    }
    Py_DECREF(sequence);
    return out;
}

static PyMethodDef methods[] = {
    {"finite_formatted", finite_formatted, METH_VARARGS, finite_formatted_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_numbers",
    "Columns of floats as text, compiled (see outputs.numbers).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__numbers(void) { return PyModule_Create(&module); }
