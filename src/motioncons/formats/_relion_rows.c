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
 * read_packed: `read_cut`, and then for each file so cut whose rows parse, are plain observed
 * shifts and are all the frames its header announces, what `relion_batch._read_chunk_packed`
 * makes of it (its key as `trajectory.movie_key` makes it of an ASCII name): the files of a
 * session after the first, at the cost of reading them. The others are left to Python as
 * read_cut leaves them.
 *
 * Every index below is checked against the length of its bytes: a file is untrusted input.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
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

/* A file read and, where its head names a learned layout, cut: `raw` its bytes (NULL where it
 * could not be read), `layout` (a new reference) and the bounds of its name and rows where
 * cut so. -1 on an error that is not the file's (memory) or a path os.open would refuse too. */
typedef struct {
    PyObject *raw, *layout;
    Py_ssize_t name_start, name_end, rows_start, rows_end;
} Cut;

static int read_cut_one(PyObject *path, PyObject *layouts, Py_ssize_t size, Py_ssize_t limit,
                        PyObject *tail_name, Cut *cut) {
    PyObject *encoded = NULL, *head, *layout, *tail;
    const unsigned char *bytes;
    Py_ssize_t length, tag;
    int cut_so;
    cut->raw = cut->layout = NULL;
    if (!PyUnicode_FSConverter(path, &encoded)) return -1;  /* os.open's ValueError too */
    cut->raw = read_head(PyBytes_AS_STRING(encoded), size, limit);
    Py_DECREF(encoded);
    if (cut->raw == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_OSError)) return -1;
        PyErr_Clear();  /* the full parser reports it */
        return 0;
    }
    bytes = (const unsigned char *)PyBytes_AS_STRING(cut->raw);
    length = PyBytes_GET_SIZE(cut->raw);
    tag = find(bytes, length, 0, NAME_TAG);
    if (tag < 0) return 0;
    head = PyBytes_FromStringAndSize((const char *)bytes, tag + (Py_ssize_t)strlen(NAME_TAG));
    if (head == NULL) goto error;
    layout = PyDict_GetItemWithError(layouts, head);  /* borrowed: held below */
    Py_DECREF(head);
    if (layout == NULL) {
        if (PyErr_Occurred()) goto error;
        return 0;
    }
    Py_INCREF(layout);  /* the attribute lookup must not be able to free it */
    tail = PyObject_GetAttr(layout, tail_name);
    if (tail == NULL) goto error_layout;
    if (!PyBytes_Check(tail)) {
        Py_DECREF(tail);
        PyErr_SetString(PyExc_TypeError, "a layout's tail must be bytes");
        goto error_layout;
    }
    cut_so = cut_by_layout(bytes, length, tag + (Py_ssize_t)strlen(NAME_TAG),
                           PyBytes_AS_STRING(tail), PyBytes_GET_SIZE(tail), &cut->name_start,
                           &cut->name_end, &cut->rows_start, &cut->rows_end);
    Py_DECREF(tail);
    if (cut_so)
        cut->layout = layout;
    else
        Py_DECREF(layout);
    return 0;
error_layout:
    Py_DECREF(layout);
error:
    Py_CLEAR(cut->raw);
    return -1;
}

/* The result of `read_cut` for one file: None, its bytes, or (layout, name, rows); the
 * references of `cut` are given to it. */
static PyObject *cut_entry(Cut *cut) {
    PyObject *result;
    const char *bytes;
    if (cut->raw == NULL) Py_RETURN_NONE;
    if (cut->layout == NULL) {
        result = cut->raw;
        cut->raw = NULL;
        return result;
    }
    bytes = PyBytes_AS_STRING(cut->raw);
    result = Py_BuildValue("(Os#y#)", cut->layout, bytes + cut->name_start,
                           cut->name_end - cut->name_start, bytes + cut->rows_start,
                           cut->rows_end - cut->rows_start);
    Py_CLEAR(cut->layout);
    Py_CLEAR(cut->raw);
    return result;
}

static PyObject *read_and_cut(PyObject *path, PyObject *layouts, Py_ssize_t size,
                              Py_ssize_t limit, PyObject *tail_name) {
    Cut cut;
    if (read_cut_one(path, layouts, size, limit, tail_name, &cut) < 0) return NULL;
    return cut_entry(&cut);
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

/* ------------------------------------------------------------------------- movie keys */

/* The tokens of `trajectory.movie_key`'s trailer, as given by the caller (its own lists). */
typedef struct {
    Py_ssize_t count;
    const char *text[64];
    Py_ssize_t length[64];
} Tokens;

static int open_tokens(PyObject *sequence, Tokens *tokens) {
    Py_ssize_t i;
    if (!PyTuple_Check(sequence) || PyTuple_GET_SIZE(sequence) > 64) {
        PyErr_SetString(PyExc_TypeError, "tokens are a tuple of at most 64 bytes");
        return -1;
    }
    tokens->count = PyTuple_GET_SIZE(sequence);
    for (i = 0; i < tokens->count; i++) {
        PyObject *token = PyTuple_GET_ITEM(sequence, i);
        if (!PyBytes_Check(token) || PyBytes_GET_SIZE(token) == 0) {
            PyErr_SetString(PyExc_TypeError, "tokens are a tuple of at most 64 bytes");
            return -1;
        }
        tokens->text[i] = PyBytes_AS_STRING(token);
        tokens->length[i] = PyBytes_GET_SIZE(token);
    }
    return 0;
}

static unsigned char lower(unsigned char c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* Where `movie_key`'s trailer (`(?:\.(?i:extension)|suffix)+$`) starts in s[0:n], or n: the
 * leftmost start from which a run of tokens reaches the end (the regular expression's match),
 * found from the end: at[i] tells whether s[i:n] is such a run. For names without a line
 * break, where `$` is the end. */
static Py_ssize_t trailer_start(const unsigned char *s, Py_ssize_t n, const Tokens *extensions,
                                const Tokens *suffixes, unsigned char *at) {
    Py_ssize_t i, k, j;
    at[n] = 1;
    for (i = n - 1; i >= 0; i--) {
        at[i] = 0;
        if (s[i] == '.') {
            for (k = 0; k < extensions->count && !at[i]; k++) {
                Py_ssize_t length = extensions->length[k];
                if (i + 1 + length > n || !at[i + 1 + length]) continue;
                for (j = 0; j < length; j++)
                    if (lower(s[i + 1 + j]) != lower((unsigned char)extensions->text[k][j]))
                        break;
                at[i] = j == length;
            }
        }
        for (k = 0; k < suffixes->count && !at[i]; k++) {
            Py_ssize_t length = suffixes->length[k];
            at[i] = i + length <= n && at[i + length]
                    && memcmp(s + i, suffixes->text[k], (size_t)length) == 0;
        }
    }
    for (i = 0; i < n; i++)
        if (at[i]) return i;
    return n;
}

/* `trajectory.movie_key(name)` of an ASCII name without a line break, as a new str. */
static PyObject *key_of(const unsigned char *name, Py_ssize_t n, const Tokens *extensions,
                        const Tokens *suffixes) {
    Py_ssize_t base = 0, i, end;
    unsigned char small[512], *at = small;
    PyObject *key;
    for (i = 0; i < n; i++)  /* the base name, after the last / or \ */
        if (name[i] == '/' || name[i] == '\\') base = i + 1;
    name += base;
    n -= base;
    if (n >= 22 && name[21] == '_') {  /* cryoSPARC's 21-digit prefix */
        for (i = 0; i < 21 && name[i] >= '0' && name[i] <= '9'; i++) {}
        if (i == 21) {
            name += 22;
            n -= 22;
        }
    }
    if (n + 1 > (Py_ssize_t)sizeof small) {
        at = PyMem_Malloc((size_t)n + 1);
        if (at == NULL) return PyErr_NoMemory();
    }
    end = trailer_start(name, n, extensions, suffixes, at);
    if (at != small) PyMem_Free(at);
    if (end == 0) end = n;  /* all of it a trailer: the name as it is */
    key = PyUnicode_New(end, 127);
    if (key == NULL) return NULL;
    for (i = 0; i < end; i++)
        PyUnicode_1BYTE_DATA(key)[i] = name[i] == '.' ? '_' : name[i];
    return key;
}

PyDoc_STRVAR(movie_key_doc,
"movie_key(name, extensions, suffixes, /)\n--\n\n"
"trajectory.movie_key(name) of an ASCII name without a line break (bytes), given the\n"
"extensions and aligner suffixes of its trailer (tuples of bytes).");

static PyObject *movie_key(PyObject *module, PyObject *args) {
    Py_buffer name;
    PyObject *extension_tuple, *suffix_tuple, *key = NULL;
    Tokens extensions, suffixes;
    Py_ssize_t i;
    (void)module;
    if (!PyArg_ParseTuple(args, "y*OO", &name, &extension_tuple, &suffix_tuple)) return NULL;
    if (open_tokens(extension_tuple, &extensions) < 0 || open_tokens(suffix_tuple, &suffixes) < 0)
        goto done;
    for (i = 0; i < name.len; i++)
        if (((const unsigned char *)name.buf)[i] >= 0x80 || ((const char *)name.buf)[i] == '\n') {
            PyErr_SetString(PyExc_ValueError, "an ASCII name without a line break");
            goto done;
        }
    key = key_of(name.buf, name.len, &extensions, &suffixes);
done:
    PyBuffer_Release(&name);
    return key;
}

/* ---------------------------------------------------------------- chunks read and packed */

PyDoc_STRVAR(read_packed_doc,
"read_packed(paths, layouts, size, limit, extensions, suffixes, max_shift, not_observed, /)\n"
"--\n\n"
"read_cut's files, and for each one cut by a layout whose rows parse (parse_rows), whose\n"
"shifts are all within max_shift and observed (not both not_observed), that has every frame\n"
"its layout's `general.total` announces and a name other than '.' or '?': its slot as\n"
"relion_batch._read_chunk_packed packs it, (key, name, pixel size, frame count, index of its\n"
"extras in the returned tables, start, end, None). Returns (items, tables, shifts): items\n"
"holds a slot or read_cut's entry for each path, shifts (a bytearray of float64 x, y pairs)\n"
"the slots' shifts.");

/* What packing a chunk needs besides each file: the trailer's tokens, the checks' bounds,
 * the attribute names of a layout's facts, and the chunk's distinct extras so far. */
typedef struct {
    Tokens extensions, suffixes;
    double max_shift, not_observed;
    PyObject *general, *total, *pixel_size, *extras, *tables;
} Packing;

/* The slot of a file cut by its layout whose `rows` rows were parsed into `out`, its shifts
 * starting at `position` in the chunk's; Py_None (a new reference) where the file is left
 * to Python (a name "." or "?", no rows, a shift implausible or not observed, fewer rows than
 * the frames announced); NULL on an error. */
static PyObject *slot_of(const Cut *cut, const double *out, Py_ssize_t rows,
                         Py_ssize_t position, const Packing *packing) {
    const unsigned char *name = (const unsigned char *)PyBytes_AS_STRING(cut->raw)
                                + cut->name_start;
    Py_ssize_t length = cut->name_end - cut->name_start, r, index, count;
    PyObject *general = NULL, *total = NULL, *pixel = NULL, *extras = NULL, *key = NULL;
    PyObject *text = NULL, *slot = NULL;
    if (rows == 0 || (length == 1 && (name[0] == '.' || name[0] == '?')))
        Py_RETURN_NONE;
    for (r = 0; r < rows; r++) {
        double x = out[2 * r], y = out[2 * r + 1];
        if (!(fabs(x) <= packing->max_shift && fabs(y) <= packing->max_shift)
                || (x == packing->not_observed && y == packing->not_observed))
            Py_RETURN_NONE;
    }
    general = PyObject_GetAttr(cut->layout, packing->general);
    if (general == NULL) goto done;
    total = PyObject_GetAttr(general, packing->total);
    if (total == NULL) goto done;
    pixel = PyObject_GetAttr(general, packing->pixel_size);
    if (pixel == NULL) goto done;
    extras = PyObject_GetAttr(general, packing->extras);
    if (extras == NULL) goto done;
    if (total != Py_None) {  /* fewer rows than frames (or not a count): Python decides */
        Py_ssize_t frames = PyLong_AsSsize_t(total);
        int counted = !(frames == -1 && PyErr_Occurred());
        if (!counted)
            PyErr_Clear();
        if (!counted || rows < frames) {
            slot = Py_NewRef(Py_None);
            goto done;
        }
    }
    key = key_of(name, length, &packing->extensions, &packing->suffixes);
    if (key == NULL) goto done;
    text = PyUnicode_FromStringAndSize((const char *)name, length);
    if (text == NULL) goto done;
    count = PyList_GET_SIZE(packing->tables);
    for (index = 0; index < count; index++)
        if (PyList_GET_ITEM(packing->tables, index) == extras) break;
    if (index == count && PyList_Append(packing->tables, extras) < 0) goto done;
    slot = Py_BuildValue("(OOOOnnnO)", key, text, pixel, total, index, position,
                         position + rows, Py_None);
done:
    Py_XDECREF(general);
    Py_XDECREF(total);
    Py_XDECREF(pixel);
    Py_XDECREF(extras);
    Py_XDECREF(key);
    Py_XDECREF(text);
    return slot;
}

static PyObject *read_packed(PyObject *module, PyObject *args) {
    PyObject *paths, *layouts, *extension_tuple, *suffix_tuple, *sequence = NULL, *items = NULL;
    PyObject *shifts = NULL, *result = NULL, *tail_name = NULL;
    Packing packing = {0};
    Py_ssize_t size, limit, count, i, position = 0, capacity = 64 * 2;
    (void)module;
    if (!PyArg_ParseTuple(args, "OO!nnOOdd", &paths, &PyDict_Type, &layouts, &size, &limit,
                          &extension_tuple, &suffix_tuple, &packing.max_shift,
                          &packing.not_observed))
        return NULL;
    if (size <= 0 || limit < 0) {
        PyErr_SetString(PyExc_ValueError, "size must be positive, limit not negative");
        return NULL;
    }
    if (open_tokens(extension_tuple, &packing.extensions) < 0
            || open_tokens(suffix_tuple, &packing.suffixes) < 0)
        return NULL;
    sequence = PySequence_Fast(paths, "paths must be a sequence of str");
    if (sequence == NULL) return NULL;
    count = PySequence_Fast_GET_SIZE(sequence);
    tail_name = PyUnicode_InternFromString("tail");
    packing.general = PyUnicode_InternFromString("general");
    packing.total = PyUnicode_InternFromString("total");
    packing.pixel_size = PyUnicode_InternFromString("pixel_size");
    packing.extras = PyUnicode_InternFromString("extras");
    packing.tables = PyList_New(0);
    items = PyList_New(count);
    shifts = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)(capacity * sizeof(double)));
    if (tail_name == NULL || packing.general == NULL || packing.total == NULL
            || packing.pixel_size == NULL || packing.extras == NULL || packing.tables == NULL
            || items == NULL || shifts == NULL)
        goto done;
    for (i = 0; i < count; i++) {
        PyObject *path = PySequence_Fast_GET_ITEM(sequence, i), *entry = NULL;
        Cut cut;
        if (!PyUnicode_Check(path)) {
            PyErr_SetString(PyExc_TypeError, "paths must be str");
            goto done;
        }
        if (read_cut_one(path, layouts, size, limit, tail_name, &cut) < 0) goto done;
        if (cut.layout != NULL) {
            Py_ssize_t row_bytes = cut.rows_end - cut.rows_start, rows;
            Py_ssize_t needed = 2 * (position + row_bytes / 10 + 1); /* rows of 10 bytes up */
            double *out;
            if (needed > capacity) {
                while (capacity < needed) capacity *= 2;
                if (PyByteArray_Resize(shifts, (Py_ssize_t)(capacity * sizeof(double))) < 0)
                    goto cut_failed;
            }
            out = (double *)PyByteArray_AS_STRING(shifts) + 2 * position;
            rows = parse_block((const unsigned char *)PyBytes_AS_STRING(cut.raw)
                               + cut.rows_start, row_bytes, out);
            entry = slot_of(&cut, out, rows, position, &packing);
            if (entry == NULL) goto cut_failed;
            if (entry == Py_None) {
                Py_CLEAR(entry); /* left to Python, as read_cut gives it */
            } else {
                position += rows;
                Py_CLEAR(cut.layout);
                Py_CLEAR(cut.raw);
            }
        }
        if (entry == NULL) {
            entry = cut_entry(&cut);
            if (entry == NULL) goto done;
        }
        PyList_SET_ITEM(items, i, entry);
        continue;
    cut_failed:
        Py_XDECREF(cut.layout);
        Py_XDECREF(cut.raw);
        goto done;
    }
    if (PyByteArray_Resize(shifts, (Py_ssize_t)(2 * position * sizeof(double))) < 0) goto done;
    result = PyTuple_Pack(3, items, packing.tables, shifts);
done:
    Py_DECREF(sequence);
    Py_XDECREF(items);
    Py_XDECREF(shifts);
    Py_XDECREF(tail_name);
    Py_XDECREF(packing.general);
    Py_XDECREF(packing.total);
    Py_XDECREF(packing.pixel_size);
    Py_XDECREF(packing.extras);
    Py_XDECREF(packing.tables);
    return result;
}

static PyMethodDef methods[] = {
    {"parse_rows", parse_rows, METH_O, parse_rows_doc},
    {"cut_as", cut_as, METH_VARARGS, cut_as_doc},
    {"read_cut", read_cut, METH_VARARGS, read_cut_doc},
    {"read_packed", read_packed, METH_VARARGS, read_packed_doc},
    {"movie_key", movie_key, METH_VARARGS, movie_key_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_relion_rows",
    "RELION's per-movie motion files cut and read, compiled (see formats.compiled).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__relion_rows(void) { return PyModule_Create(&module); }
