/* RELION's per-movie motion files, compiled: the steps of the bulk reader that are most of
 * its time in Python. `cut_as` cuts a file by its session's layout as
 * `relion_batch._cut_as` does; `read_cut` reads a chunk's files as `relion_batch._head` does
 * and cuts each by the layout its head names, in one call; and `parse_rows` reads the shift
 * rows by position with the same rules and the same floats as
 * `fixed_columns.parse_rows_numpy` (their docstrings say why each rule is there). Where a
 * file is not exactly as the fast path expects, they leave it to the Python code, which reads
 * it in full.
 *
 * parse_rows: a block's first row fixes the columns: a frame number, then the x and y
 * shifts, each right-aligned in its field, spaces, a line break. Every row must have the same width and
 * these rules; the frames must be 1..n. A shift is its digits as an integer (at most 15, so
 * exact in a double) divided by the power of ten of its decimals (exact too): one rounding,
 * as float() rounds the same decimal text. A minus sign makes it negative, "-0.000000" -0.0.
 *
 * Every index below is checked against the length of its bytes: a file is untrusted input.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DIGITS 15   /* digits of a shift: below 10**15, exact in a double */
#define FRAME_DIGITS 8  /* digits of a frame number read */

static const double POWERS[MAX_DIGITS + 1] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};

typedef struct {
    Py_ssize_t frame, x_end, y_end, width;
} Layout;

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* `( *[1-9][0-9]*)( +-?[0-9]+\.[0-9]+)( +-?[0-9]+\.[0-9]+)( *)\n` over the first row, as
 * a full match; the fields no wider than a space, a dot and MAX_DIGITS. */
static int first_row_layout(const unsigned char *s, Py_ssize_t n, Layout *layout) {
    Py_ssize_t i = 0, start, field;
    while (i < n && s[i] == ' ') i++;
    if (i >= n || s[i] < '1' || s[i] > '9') return 0;
    while (i < n && is_digit(s[i])) i++;
    layout->frame = i;
    for (field = 0; field < 2; field++) {
        start = i;
        while (i < n && s[i] == ' ') i++;
        if (i == start) return 0;
        if (i < n && s[i] == '-') i++;
        start = i;
        while (i < n && is_digit(s[i])) i++;
        if (i == start || i >= n || s[i] != '.') return 0;
        start = ++i;
        while (i < n && is_digit(s[i])) i++;
        if (i == start) return 0;
        if (field == 0) layout->x_end = i; else layout->y_end = i;
    }
    while (i < n && s[i] == ' ') i++;
    if (i >= n || s[i] != '\n') return 0;
    layout->width = i + 1;
    if (layout->x_end - layout->frame - 2 > MAX_DIGITS
            || layout->y_end - layout->x_end - 2 > MAX_DIGITS)
        return 0;
    return 1;
}

/* A frame number: spaces, then digits up to the field's end, no leading zero, no more than
 * FRAME_DIGITS of them; 0 if not. */
static long long frame_number(const unsigned char *row, Py_ssize_t end) {
    Py_ssize_t i = 0;
    long long value = 0;
    while (i < end && row[i] == ' ') i++;
    if (i == end || row[i] == '0' || end - i > FRAME_DIGITS) return 0;
    for (; i < end; i++) {
        if (!is_digit(row[i])) return 0;
        value = value * 10 + (row[i] - '0');
    }
    return value;
}

/* A shift in row[start:end]: a space, spaces, an optional minus, digits, one dot, digits up
 * to the field's end. Returns 0 if the field is not such a number. */
static int shift_value(const unsigned char *row, Py_ssize_t start, Py_ssize_t end,
                       double *value) {
    Py_ssize_t i = start, decimals = -1;
    int64_t digits = 0;
    int negative = 0;
    if (row[i] != ' ') return 0;
    while (i < end && row[i] == ' ') i++;
    if (i < end && row[i] == '-') {
        negative = 1;
        i++;
    }
    if (i == end || !is_digit(row[i])) return 0;  /* a digit before the dot */
    for (; i < end; i++) {
        unsigned char c = row[i];
        if (is_digit(c)) {
            digits = digits * 10 + (c - '0');
        } else if (c == '.' && decimals < 0) {  /* after a digit: the first one is */
            decimals = end - i - 1;
        } else {
            return 0;
        }
    }
    if (decimals < 1) return 0;  /* no dot, or nothing after it */
    if (decimals > MAX_DIGITS) decimals = MAX_DIGITS;  /* not reached: fields are narrower */
    *value = (double)digits / POWERS[decimals];
    if (negative) *value = -*value;
    return 1;
}

/* The rows of `block` into `out` (2 doubles a row): the row count, or 0 if the block is not
 * in its first row's layout with frames 1..n. */
static Py_ssize_t parse_block(const unsigned char *block, Py_ssize_t size, double *out) {
    const unsigned char *newline = memchr(block, '\n', (size_t)size);
    Layout layout = {0, 0, 0, 0};
    Py_ssize_t rows, r, i;
    if (newline == NULL || !first_row_layout(block, newline - block + 1, &layout)) return 0;
    if (size % layout.width) return 0;
    rows = size / layout.width;
    for (r = 0; r < rows; r++) {
        const unsigned char *row = block + r * layout.width;
        if (row[layout.width - 1] != '\n') return 0;
        for (i = layout.y_end; i < layout.width - 1; i++)
            if (row[i] != ' ') return 0;
        if (frame_number(row, layout.frame) != r + 1) return 0;
        if (!shift_value(row, layout.frame, layout.x_end, &out[2 * r])
                || !shift_value(row, layout.x_end, layout.y_end, &out[2 * r + 1]))
            return 0;
    }
    return rows;
}

/* ------------------------------------------------------------------ a file cut by a layout */

static int is_space(unsigned char c) {  /* \s of a bytes regular expression */
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int starts_with_keyword(const unsigned char *s, Py_ssize_t n) {
    static const char *const keywords[] = {"data_", "loop_", "save_", "global_", "stop_"};
    size_t k, i;
    for (k = 0; k < sizeof keywords / sizeof *keywords; k++) {
        size_t length = strlen(keywords[k]);
        if ((size_t)n < length) continue;
        for (i = 0; i < length; i++) {
            unsigned char c = s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i];  /* (?i:...) */
            if (c != (unsigned char)keywords[k][i]) break;
        }
        if (i == length) return 1;
    }
    return 0;
}

/* `s.find(what, start)`: where `what` first starts in s[start:n], or -1. */
static Py_ssize_t find(const unsigned char *s, Py_ssize_t n, Py_ssize_t start,
                       const char *what) {
    size_t length = strlen(what);
    const unsigned char *at;
    Py_ssize_t i = start < 0 ? 0 : start;
    while (i + (Py_ssize_t)length <= n) {
        at = memchr(s + i, what[0], (size_t)(n - i));
        if (at == NULL) return -1;
        i = at - s;
        if (i + (Py_ssize_t)length > n) return -1;
        if (memcmp(at, what, length) == 0) return i;
        i++;
    }
    return -1;
}

static int contains(const unsigned char *s, Py_ssize_t n, const char *what) {
    size_t length = strlen(what);
    Py_ssize_t i;
    for (i = 0; i + (Py_ssize_t)length <= n; i++)
        if (memcmp(s + i, what, length) == 0) return 1;
    return 0;
}

/* `_NAME_VALUE.match(raw, start)`: blanks, a bare STAR value, blanks, a line break. Sets the
 * value's bounds and returns where its line ends, or -1. */
static Py_ssize_t name_line(const unsigned char *raw, Py_ssize_t size, Py_ssize_t start,
                            Py_ssize_t *name_start, Py_ssize_t *name_end) {
    Py_ssize_t i = start;
    while (i < size && (raw[i] == ' ' || raw[i] == '\t')) i++;
    /* A NUL byte may start a bare value in Python's rule: declined here, the caller decides. */
    if (i == start || i >= size || is_space(raw[i]) || memchr("_$;[]#'\"", raw[i], 8) != NULL
            || raw[i] == '\0' || starts_with_keyword(raw + i, size - i))
        return -1;
    *name_start = i;
    while (i < size && !is_space(raw[i])) i++;
    *name_end = i;
    while (i < size && (raw[i] == ' ' || raw[i] == '\t')) i++;
    return i < size && raw[i] == '\n' ? i + 1 : -1;
}

/* `_COMMENTS.fullmatch(raw, start, end)`: lines of blanks and a comment, then whitespace. */
static int comments_to_end(const unsigned char *raw, Py_ssize_t start, Py_ssize_t end) {
    Py_ssize_t i = start;
    for (;;) {
        Py_ssize_t j = i;
        while (j < end && (raw[j] == ' ' || raw[j] == '\t')) j++;
        if (j < end && raw[j] == '#')
            while (j < end && raw[j] != '\n') j++;
        if (j < end && raw[j] == '\n') {
            i = j + 1;
            continue;
        }
        break;
    }
    for (; i < end; i++)
        if (!is_space(raw[i])) return 0;
    return 1;
}

/* `_rows` then `_without_blank_lines` of raw from `start`: sets the rows' bounds, or returns
 * 0 (no rows to read here, or rows that need a line break added: the caller decides). */
static int shift_rows(const unsigned char *raw, Py_ssize_t size, Py_ssize_t start,
                      Py_ssize_t *rows_start, Py_ssize_t *rows_end) {
    Py_ssize_t end = size, i, comment = -1, line_start, last;
    const unsigned char *found;
    if (start > size) start = size;
    for (i = start; i + 6 <= size; i = found - raw + 1) {  /* the next block: "\ndata_" */
        found = memchr(raw + i, '\n', (size_t)(size - i));
        if (found == NULL || found + 6 > raw + size) break;
        if (memcmp(found + 1, "data_", 5) == 0) {
            end = found - raw + 1;
            break;
        }
    }
    found = memchr(raw + start, '#', (size_t)(end - start));
    if (found != NULL) comment = found - raw;
    if (comment >= 0) {
        line_start = comment;
        while (line_start > start && raw[line_start - 1] != '\n') line_start--;
        for (i = line_start; i < comment; i++)  /* only blanks before the comment */
            if (!is_space(raw[i])) return 0;
        if (!comments_to_end(raw, comment, end)) return 0;
        end = line_start;
    }
    last = end;  /* rows.rstrip() */
    while (last > start && is_space(raw[last - 1])) last--;
    for (i = last; i < end; i++)  /* up to the line break after the last row */
        if (raw[i] == '\n') {
            *rows_start = start;
            *rows_end = i + 1;
            return 1;
        }
    return 0;
}

PyDoc_STRVAR(cut_as_doc,
"cut_as(raw, head_size, tail, /)\n--\n\n"
"A per-movie file cut by its session's layout, as relion_batch._cut_as cuts it: from\n"
"head_size on, blanks, the movie name, blanks, a line break, `tail`, then the shift rows up\n"
"to the next block without trailing comments and blank lines. (the movie name, the rows),\n"
"or None where the file is not so (the caller cuts it itself).");

/* The cut of `cut_as`: whether the file is so, and where its name and rows are. */
static int cut_by_layout(const unsigned char *bytes, Py_ssize_t size, Py_ssize_t head_size,
                         const char *tail, Py_ssize_t tail_size, Py_ssize_t *name_start,
                         Py_ssize_t *name_end, Py_ssize_t *rows_start, Py_ssize_t *rows_end) {
    Py_ssize_t after;
    if (head_size < 0 || head_size > size) return 0;
    after = name_line(bytes, size, head_size, name_start, name_end);
    if (after < 0 || size - after < tail_size
            || memcmp(bytes + after, tail, (size_t)tail_size) != 0)
        return 0;
    for (Py_ssize_t i = *name_start; i < *name_end; i++)
        if (bytes[i] >= 0x80) return 0;
    if (contains(bytes + *name_start, *name_end - *name_start, "@u")
            || contains(bytes + *name_start, *name_end - *name_start, "data_global_shift"))
        return 0;
    return shift_rows(bytes, size, after + tail_size, rows_start, rows_end);
}

static PyObject *cut_as(PyObject *module, PyObject *args) {
    Py_buffer raw, tail;
    Py_ssize_t head_size, name_start = 0, name_end = 0, rows_start = 0, rows_end = 0;
    PyObject *result;
    const unsigned char *bytes;
    (void)module;
    if (!PyArg_ParseTuple(args, "y*ny*", &raw, &head_size, &tail)) return NULL;
    bytes = (const unsigned char *)raw.buf;
    if (cut_by_layout(bytes, raw.len, head_size, tail.buf, tail.len, &name_start, &name_end,
                      &rows_start, &rows_end))
        result = Py_BuildValue("(s#y#)", (const char *)bytes + name_start,
                               name_end - name_start, (const char *)bytes + rows_start,
                               rows_end - rows_start);
    else
        result = Py_NewRef(Py_None);
    PyBuffer_Release(&raw);
    PyBuffer_Release(&tail);
    return result;
}

#define NAME_TAG "_rlnMicrographMovieName"
#define CONTINUATION (1 << 20)

/* `relion_batch._head`: the file's first `size` bytes, and the rest of it when they hold
 * `data_global_shift` but not the block after it (or not that block). NULL with an OSError set
 * where the file cannot be read or is not a regular file (opened without blocking, so that a
 * named pipe does not wait for a writer). */
static PyObject *read_head(const char *path, Py_ssize_t size, Py_ssize_t limit) {
    PyObject *raw;
    Py_ssize_t length = 0, got;
    int fd, failed = 0;
    struct stat status;
    do fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC); while (fd < 0 && errno == EINTR);
    if (fd < 0) return PyErr_SetFromErrnoWithFilename(PyExc_OSError, path);
    if (fstat(fd, &status) < 0) {
        int error = errno;
        close(fd);
        errno = error;
        return PyErr_SetFromErrnoWithFilename(PyExc_OSError, path);
    }
    if (!S_ISREG(status.st_mode) || status.st_size > limit) {  /* /dev/zero, a pipe: never */
        close(fd);
        errno = S_ISREG(status.st_mode) ? EFBIG : EINVAL;
        return PyErr_SetFromErrnoWithFilename(PyExc_OSError, path);
    }
    raw = PyBytes_FromStringAndSize(NULL, size);
    if (raw == NULL) {
        close(fd);
        return NULL;
    }
    do got = read(fd, PyBytes_AS_STRING(raw), (size_t)size); while (got < 0 && errno == EINTR);
    if (got < 0) {
        failed = 1;
    } else {
        const unsigned char *bytes = (const unsigned char *)PyBytes_AS_STRING(raw);
        Py_ssize_t shifts = got == size ? find(bytes, got, 0, "data_global_shift") : 0;
        length = got;
        if (got == size && (shifts < 0 || find(bytes, got, shifts, "\ndata_") < 0)) {
            for (;;) {  /* the rest, a mebibyte at a time, as os.read gives it */
                if (_PyBytes_Resize(&raw, length + CONTINUATION) < 0) {
                    close(fd);
                    return NULL;
                }
                do got = read(fd, PyBytes_AS_STRING(raw) + length, CONTINUATION);
                while (got < 0 && errno == EINTR);
                if (got <= 0) {
                    failed = got < 0;
                    break;
                }
                length += got;
                if (length > limit) {  /* it grew since */
                    errno = EFBIG;
                    failed = 1;
                    break;
                }
            }
        }
    }
    if (failed) {
        PyErr_SetFromErrnoWithFilename(PyExc_OSError, path);
        close(fd);
        Py_DECREF(raw);
        return NULL;
    }
    if (close(fd) < 0) {
        PyErr_SetFromErrnoWithFilename(PyExc_OSError, path);
        Py_DECREF(raw);
        return NULL;
    }
    if (_PyBytes_Resize(&raw, length) < 0) return NULL;
    return raw;
}

/* The result of `read_cut` for one file: None, its bytes, or (layout, name, rows). NULL only
 * on an error that is not the file's (memory) or a path os.open would refuse too. */
static PyObject *read_and_cut(PyObject *path, PyObject *layouts, Py_ssize_t size,
                              Py_ssize_t limit, PyObject *tail_name) {
    PyObject *encoded = NULL, *raw, *head, *layout, *tail, *result;
    const unsigned char *bytes;
    Py_ssize_t length, tag, name_start = 0, name_end = 0, rows_start = 0, rows_end = 0;
    if (!PyUnicode_FSConverter(path, &encoded)) return NULL;  /* os.open's ValueError too */
    raw = read_head(PyBytes_AS_STRING(encoded), size, limit);
    Py_DECREF(encoded);
    if (raw == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_OSError)) return NULL;
        PyErr_Clear();  /* the full parser reports it */
        Py_RETURN_NONE;
    }
    bytes = (const unsigned char *)PyBytes_AS_STRING(raw);
    length = PyBytes_GET_SIZE(raw);
    tag = find(bytes, length, 0, NAME_TAG);
    if (tag < 0) return raw;
    head = PyBytes_FromStringAndSize((const char *)bytes, tag + (Py_ssize_t)strlen(NAME_TAG));
    if (head == NULL) goto error;
    layout = PyDict_GetItemWithError(layouts, head);  /* borrowed: held below */
    Py_DECREF(head);
    if (layout == NULL) {
        if (PyErr_Occurred()) goto error;
        return raw;
    }
    Py_INCREF(layout);  /* the attribute lookup must not be able to free it */
    tail = PyObject_GetAttr(layout, tail_name);
    if (tail == NULL) goto error_layout;
    if (!PyBytes_Check(tail)) {
        Py_DECREF(tail);
        PyErr_SetString(PyExc_TypeError, "a layout's tail must be bytes");
        goto error_layout;
    }
    if (!cut_by_layout(bytes, length, tag + (Py_ssize_t)strlen(NAME_TAG),
                       PyBytes_AS_STRING(tail), PyBytes_GET_SIZE(tail), &name_start, &name_end,
                       &rows_start, &rows_end)) {
        Py_DECREF(tail);
        Py_DECREF(layout);
        return raw;
    }
    Py_DECREF(tail);
    result = Py_BuildValue("(Os#y#)", layout, (const char *)bytes + name_start,
                           name_end - name_start, (const char *)bytes + rows_start,
                           rows_end - rows_start);
    Py_DECREF(layout);
    Py_DECREF(raw);
    return result;
error_layout:
    Py_DECREF(layout);
error:
    Py_DECREF(raw);
    return NULL;
}

PyDoc_STRVAR(read_cut_doc,
"read_cut(paths, layouts, size, limit, /)\n--\n\n"
"Each file read as relion_batch._head reads it (size bytes first, at most limit), and cut as relion_batch._cut cuts it when its\n"
"bytes up to the end of its first movie name tag are a key of `layouts` (whose values have\n"
"a `tail`, as cut_as takes it): a list with, for each path, (layout, the movie name, the\n"
"rows) where cut so, the file's bytes where not, or None where it could not be read.");

static PyObject *read_cut(PyObject *module, PyObject *args) {
    PyObject *paths, *layouts, *sequence, *out = NULL, *tail_name;
    Py_ssize_t size, limit, count, i;
    (void)module;
    if (!PyArg_ParseTuple(args, "OO!nn", &paths, &PyDict_Type, &layouts, &size, &limit))
        return NULL;
    if (size <= 0 || limit < 0) {
        PyErr_SetString(PyExc_ValueError, "size must be positive, limit not negative");
        return NULL;
    }
    sequence = PySequence_Fast(paths, "paths must be a sequence of str");
    if (sequence == NULL) return NULL;
    tail_name = PyUnicode_InternFromString("tail");
    if (tail_name == NULL) goto done;
    count = PySequence_Fast_GET_SIZE(sequence);
    out = PyList_New(count);
    if (out == NULL) goto done;
    for (i = 0; i < count; i++) {
        PyObject *path = PySequence_Fast_GET_ITEM(sequence, i), *entry;
        if (!PyUnicode_Check(path)) {
            PyErr_SetString(PyExc_TypeError, "paths must be str");
            Py_CLEAR(out);
            goto done;
        }
        entry = read_and_cut(path, layouts, size, limit, tail_name);
        if (entry == NULL) {
            Py_CLEAR(out);
            goto done;
        }
        PyList_SET_ITEM(out, i, entry);
    }
done:
    Py_XDECREF(tail_name);
    Py_DECREF(sequence);
    return out;
}

PyDoc_STRVAR(parse_rows_doc,
"parse_rows(blocks, /)\n--\n\n"
"Each block's rows read by position: (spans, shifts), where spans[i] is the (start, end) of\n"
"block i's rows in shifts (a bytearray of float64 x, y pairs), or None where its rows are not\n"
"all in the columns of its first row with frames 1..n.");

static PyObject *parse_rows(PyObject *module, PyObject *blocks) {
    PyObject *sequence = PySequence_Fast(blocks, "blocks must be a sequence of bytes");
    PyObject *spans = NULL, *shifts = NULL, *result = NULL;
    Py_ssize_t count, i, total = 0, position = 0;
    (void)module;
    if (sequence == NULL) return NULL;
    count = PySequence_Fast_GET_SIZE(sequence);
    for (i = 0; i < count; i++) {
        PyObject *block = PySequence_Fast_GET_ITEM(sequence, i);
        if (!PyBytes_Check(block)) {
            PyErr_SetString(PyExc_TypeError, "blocks must be bytes");
            goto done;
        }
        total += PyBytes_GET_SIZE(block) / 10 + 1;  /* a row is at least 10 bytes */
    }
    spans = PyList_New(count);
    shifts = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)(2 * total * sizeof(double)));
    if (spans == NULL || shifts == NULL) goto done;
    for (i = 0; i < count; i++) {
        PyObject *block = PySequence_Fast_GET_ITEM(sequence, i);
        double *out = (double *)PyByteArray_AS_STRING(shifts) + 2 * position;
        Py_ssize_t rows = parse_block((const unsigned char *)PyBytes_AS_STRING(block),
                                      PyBytes_GET_SIZE(block), out);
        PyObject *span;
        if (rows) {
            span = Py_BuildValue("(nn)", position, position + rows);
            if (span == NULL) goto done;
            position += rows;
        } else {
            span = Py_NewRef(Py_None);
        }
        PyList_SET_ITEM(spans, i, span);
    }
    if (PyByteArray_Resize(shifts, (Py_ssize_t)(2 * position * sizeof(double))) < 0) goto done;
    result = PyTuple_Pack(2, spans, shifts);
done:
    Py_DECREF(sequence);
    Py_XDECREF(spans);
    Py_XDECREF(shifts);
    return result;
}

static PyMethodDef methods[] = {
    {"parse_rows", parse_rows, METH_O, parse_rows_doc},
    {"cut_as", cut_as, METH_VARARGS, cut_as_doc},
    {"read_cut", read_cut, METH_VARARGS, read_cut_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_relion_rows",
    "RELION's per-movie motion files cut and read, compiled (see formats.compiled).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__relion_rows(void) { return PyModule_Create(&module); }
