/* Columns of floats as text, compiled: `finite_formatted` of `outputs.numbers` in one call.
 *
 * The text is what Python's own `"%.17g" % value` and `"%.6f" % value` write: correctly rounded
 * (half to even on the exact binary value), independent of the C locale. Most values are
 * written by `exact_digits`, which scales the double by a power of ten in exact 128-bit integer
 * arithmetic and rounds the remainder itself (a tenth of the cost of a general conversion);
 * the values it does not take (very large or small magnitudes, subnormals) are written by
 * PyOS_double_to_string, the routine Python's %-format calls. The tests compare both with
 * Python on millions of values, exact ties of the last digit among them.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

typedef unsigned __int128 u128;

static const uint64_t POW10[20] = {
    1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL, 100000000ULL,
    1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL, 10000000000000ULL,
    100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL, 100000000000000000ULL,
    1000000000000000000ULL, 10000000000000000000ULL,
};

#define MAX_POW5 27 /* 5**27 < 2**63: a 53-bit mantissa times it fits in 116 bits */

static const uint64_t POW5[MAX_POW5 + 1] = {
    1ULL, 5ULL, 25ULL, 125ULL, 625ULL, 3125ULL, 15625ULL, 78125ULL, 390625ULL, 1953125ULL,
    9765625ULL, 48828125ULL, 244140625ULL, 1220703125ULL, 6103515625ULL, 30517578125ULL,
    152587890625ULL, 762939453125ULL, 3814697265625ULL, 19073486328125ULL,
    95367431640625ULL, 476837158203125ULL, 2384185791015625ULL, 11920928955078125ULL,
    59604644775390625ULL, 298023223876953125ULL, 1490116119384765625ULL,
    7450580596923828125ULL,
};

/* round(|x| * 10**q), half to even, for |x| = mantissa * 2**exponent; 0 when it is not
 * exactly computable here (the caller then uses the general conversion), else 1. */
static int scaled_rounded(uint64_t mantissa, int exponent, int q, uint64_t *out) {
    u128 numerator, quotient, remainder, half;
    if (q >= 0) {
        int shift;
        if (q > MAX_POW5)
            return 0;
        numerator = (u128)mantissa * POW5[q];
        shift = exponent + q;
        if (shift >= 0) {
            if (shift > 63 || (numerator >> (64 - shift)) != 0)
                return 0;
            *out = (uint64_t)(numerator << shift);
            return 1;
        }
        shift = -shift;
        if (shift >= 127) { /* numerator < 2**116: less than half of one */
            *out = 0;
            return 1;
        }
        quotient = numerator >> shift;
        remainder = numerator & ((((u128)1) << shift) - 1);
        half = ((u128)1) << (shift - 1);
    } else {
        /* |x| / 10**p = mantissa * 2**(exponent - p) / 5**p */
        int p = -q, shift = exponent - p;
        u128 denominator;
        if (p > MAX_POW5)
            return 0;
        denominator = POW5[p];
        numerator = mantissa;
        if (shift >= 0) {
            if (shift > 70)
                return 0;
            numerator <<= shift;
        } else {
            if (-shift > 60)
                return 0;
            denominator <<= -shift;
        }
        quotient = numerator / denominator;
        remainder = numerator % denominator;
        remainder <<= 1;
        if (remainder > denominator || (remainder == denominator && (quotient & 1)))
            quotient += 1;
        if (quotient >> 63)
            return 0;
        *out = (uint64_t)quotient;
        return 1;
    }
    if (remainder > half || (remainder == half && (quotient & 1)))
        quotient += 1;
    if (quotient >> 63)
        return 0;
    *out = (uint64_t)quotient;
    return 1;
}

/* The decimal digits of `value` (at least `width`, zero-padded) at `to`; their number. */
static int put_digits(char *to, uint64_t value, int width) {
    char buffer[24];
    int n = 0, i;
    do {
        buffer[n++] = (char)('0' + value % 10);
        value /= 10;
    } while (value != 0);
    while (n < width)
        buffer[n++] = '0';
    for (i = 0; i < n; i++)
        to[i] = buffer[n - 1 - i];
    return n;
}

/* `x` as "%.<precision><code>" writes it, at `to` (room for 64 characters); its length, or
 * -1 where the general conversion must write it. */
static int exact_digits(double x, char code, int precision, char *to) {
    uint64_t bits, mantissa, digits;
    int biased, exponent, length = 0;
    memcpy(&bits, &x, sizeof bits);
    biased = (int)((bits >> 52) & 0x7ff);
    if (biased == 0x7ff)
        return -1;
    mantissa = bits & ((1ULL << 52) - 1);
    if (biased == 0)
        exponent = -1074;
    else {
        mantissa |= 1ULL << 52;
        exponent = biased - 1075;
    }
    if (bits >> 63)
        to[length++] = '-';
    if (code == 'f') {
        if (precision > 17 || !scaled_rounded(mantissa, exponent, precision, &digits))
            return -1;
        length += put_digits(to + length, digits / POW10[precision], 1);
        if (precision > 0) {
            to[length++] = '.';
            length += put_digits(to + length, digits % POW10[precision], precision);
        }
        return length;
    }
    {
        int p = precision == 0 ? 1 : precision, e10, tries, point, count;
        char text[24];
        if (p > 17)
            return -1;
        if (mantissa == 0) {
            to[length++] = '0';
            return length;
        }
        e10 = (int)floor(log10(fabs(x)));
        for (tries = 0;; tries++) {
            if (tries == 3 || !scaled_rounded(mantissa, exponent, p - 1 - e10, &digits))
                return -1;
            if (digits >= POW10[p]) {
                /* rounding up to 10**p is the next power's first number; anything larger
                 * means the exponent was estimated one too low */
                if (digits == POW10[p]) {
                    digits = POW10[p - 1];
                    e10 += 1;
                    break;
                }
                e10 += 1;
            } else if (digits < POW10[p - 1])
                e10 -= 1;
            else
                break;
        }
        if (digits == POW10[p - 1]) {
            /* a value just under 10**e10 rounds up to it at this scale, but is written with
             * the digits of the scale below unless they too round up to 10**e10 */
            uint64_t below;
            if (!scaled_rounded(mantissa, exponent, p - e10, &below))
                return -1;
            if (below < POW10[p]) {
                digits = below;
                e10 -= 1;
            }
        }
        count = put_digits(text, digits, p);
        while (count > 1 && text[count - 1] == '0')
            count--;
        if (e10 < -4 || e10 >= p) {
            to[length++] = text[0];
            if (count > 1) {
                to[length++] = '.';
                memcpy(to + length, text + 1, (size_t)count - 1);
                length += count - 1;
            }
            to[length++] = 'e';
            to[length++] = e10 < 0 ? '-' : '+';
            length += put_digits(to + length, (uint64_t)(e10 < 0 ? -e10 : e10), 2);
            return length;
        }
        point = e10 + 1;
        if (point <= 0) {
            to[length++] = '0';
            to[length++] = '.';
            memset(to + length, '0', (size_t)-point);
            length += -point;
            memcpy(to + length, text, (size_t)count);
            return length + count;
        }
        if (point >= count) {
            memcpy(to + length, text, (size_t)count);
            length += count;
            memset(to + length, '0', (size_t)(point - count));
            return length + point - count;
        }
        memcpy(to + length, text, (size_t)point);
        length += point;
        to[length++] = '.';
        memcpy(to + length, text + point, (size_t)(count - point));
        return length + count - point;
    }
}

PyDoc_STRVAR(finite_formatted_doc,
"finite_formatted(values, code, precision, missing=None, /)\n--\n\n"
"Each value as Python's ``'%.<precision><code>' % value`` (code 'g' or 'f'), or None unless\n"
"every value is a finite float (exactly a float, not a subclass); with `missing` (a str),\n"
"NaN and infinities are allowed and each is given as `missing`.");

static PyObject *finite_formatted(PyObject *self, PyObject *args) {
    PyObject *values, *sequence, *out, *text, *missing = Py_None;
    int code, precision;
    Py_ssize_t n, i;
    char *formatted;
    (void)self;
    if (!PyArg_ParseTuple(args, "OCi|O:finite_formatted", &values, &code, &precision,
                          &missing))
        return NULL;
    if (missing != Py_None && !PyUnicode_Check(missing)) {
        PyErr_SetString(PyExc_TypeError, "missing must be a str or None");
        return NULL;
    }
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
        if (!PyFloat_CheckExact(value)
                || (missing == Py_None && !isfinite(PyFloat_AS_DOUBLE(value)))) {
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
        char fast[64];
        int length;
        if (!isfinite(value)) {
            Py_INCREF(missing);
            PyList_SET_ITEM(out, i, missing);
            continue;
        }
        length = exact_digits(value, (char)code, precision, fast);
        if (length >= 0) {
            text = PyUnicode_New(length, 127); /* ASCII: no decoding */
            if (text != NULL)
                memcpy(PyUnicode_1BYTE_DATA(text), fast, (size_t)length);
            if (text == NULL) {
                Py_DECREF(out);
                Py_DECREF(sequence);
                return NULL;
            }
            PyList_SET_ITEM(out, i, text);
            continue;
        }
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


PyDoc_STRVAR(joined_lines_doc,
"joined_lines(columns, separator, end, /)\n--\n\n"
"The lines of a table whose `columns` are lists of str of one length: each line the\n"
"columns' items joined by `separator`, and ended by `end` (``''`` for no rows): what\n"
"``''.join(separator.join(items) + end for items in zip(*columns))`` gives, in one pass.");

static int joined_size(PyObject *text, Py_ssize_t *size, Py_UCS4 *widest) {
    Py_UCS4 widest_here;
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "every item must be a str");
        return -1;
    }
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(text) < 0)
        return -1;
#endif
    if (PY_SSIZE_T_MAX - *size < PyUnicode_GET_LENGTH(text)) {
        PyErr_NoMemory();
        return -1;
    }
    *size += PyUnicode_GET_LENGTH(text);
    widest_here = PyUnicode_MAX_CHAR_VALUE(text);
    if (widest_here > *widest)
        *widest = widest_here;
    return 0;
}

static Py_ssize_t copied(PyObject *out, Py_ssize_t at, PyObject *text) {
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    if (PyUnicode_KIND(out) == PyUnicode_1BYTE_KIND) {
        memcpy(PyUnicode_1BYTE_DATA(out) + at, PyUnicode_1BYTE_DATA(text), (size_t)length);
        return at + length;
    }
    if (PyUnicode_CopyCharacters(out, at, text, 0, length) < 0)
        return -1;
    return at + length;
}

static PyObject *joined_lines(PyObject *self, PyObject *args) {
    PyObject *columns, *separator, *end, *out = NULL;
    PyObject **lists = NULL;
    Py_ssize_t width, rows = 0, size = 0, separators = 0, i, j, at = 0;
    Py_UCS4 widest = 0;
    (void)self;
    if (!PyArg_ParseTuple(args, "O!UU:joined_lines", &PyList_Type, &columns, &separator, &end))
        return NULL;
    width = PyList_GET_SIZE(columns);
    if (width == 0)
        return PyUnicode_New(0, 0);
    lists = PyMem_Malloc((size_t)width * sizeof(PyObject *));
    if (lists == NULL)
        return PyErr_NoMemory();
    for (j = 0; j < width; j++) {
        lists[j] = PyList_GET_ITEM(columns, j);
        if (!PyList_Check(lists[j])) {
            PyErr_SetString(PyExc_TypeError, "every column must be a list");
            goto done;
        }
        if (j == 0)
            rows = PyList_GET_SIZE(lists[0]);
        else if (PyList_GET_SIZE(lists[j]) != rows) {
            PyErr_SetString(PyExc_ValueError, "the columns differ in length");
            goto done;
        }
    }
    /* The separator's and the end's widest characters; their lengths are counted below. */
    if (joined_size(separator, &separators, &widest) < 0
            || joined_size(end, &separators, &widest) < 0)
        goto done;
    size = PyUnicode_GET_LENGTH(separator) * (width - 1) + PyUnicode_GET_LENGTH(end);
    if (size > 0 && rows > PY_SSIZE_T_MAX / 2 / size) {
        PyErr_NoMemory();
        goto done;
    }
    size *= rows;
    for (j = 0; j < width; j++)
        for (i = 0; i < rows; i++)
            if (joined_size(PyList_GET_ITEM(lists[j], i), &size, &widest) < 0)
                goto done;
    out = PyUnicode_New(size, widest);
    if (out == NULL)
        goto done;
    for (i = 0; i < rows && at >= 0; i++) {
        for (j = 0; j < width && at >= 0; j++) {
            if (j > 0)
                at = copied(out, at, separator);
            if (at >= 0)
                at = copied(out, at, PyList_GET_ITEM(lists[j], i));
        }
        if (at >= 0)
            at = copied(out, at, end);
    }
    if (at < 0)
        Py_CLEAR(out);
done:
    PyMem_Free(lists);
    return out;
}

static PyMethodDef methods[] = {
    {"finite_formatted", finite_formatted, METH_VARARGS, finite_formatted_doc},
    {"joined_lines", joined_lines, METH_VARARGS, joined_lines_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_numbers",
    "Columns of floats as text, and tables of text as lines, compiled (see outputs.numbers).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__numbers(void) { return PyModule_Create(&module); }
