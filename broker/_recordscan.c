/* Schema ids of the records of a RecordBatch v2 body, without building record objects.
 *
 * The broker validates schema-governed topics per record; walking the record framing
 * (varints) in Python costs microseconds per record, which would make validation the
 * bottleneck of a produce. This walks the (decompressed) records section in C and
 * returns, per record, the schema id of the key or value in Confluent's wire format:
 *   -1  the field is null (tombstones pass validation)
 *   -2  the field is not framed (shorter than 5 bytes, or the magic byte is not 0)
 *   id  otherwise.
 * broker/recordscan.py has the same function in Python, used when this is not built.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

static int read_varint(const unsigned char *p, Py_ssize_t len, Py_ssize_t *pos, int64_t *out) {
    uint64_t result = 0;
    int shift = 0;
    while (*pos < len) {
        unsigned char b = p[(*pos)++];
        result |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = (int64_t)((result >> 1) ^ (~(result & 1) + 1));
            return 0;
        }
        shift += 7;
        if (shift > 63) return -1;
    }
    return -1;
}

static PyObject *schema_ids(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t count;
    int want_key;
    if (!PyArg_ParseTuple(args, "y*np", &view, &count, &want_key)) return NULL;
    const unsigned char *p = view.buf;
    Py_ssize_t len = view.len, pos = 0;
    PyObject *out = PyList_New(count);
    if (out == NULL) goto fail;
    for (Py_ssize_t i = 0; i < count; i++) {
        int64_t rec_len, tmp, klen, vlen;
        if (read_varint(p, len, &pos, &rec_len) < 0 || rec_len < 0 || pos + rec_len > len) goto corrupt;
        Py_ssize_t end = pos + (Py_ssize_t)rec_len;
        pos += 1; /* record attributes */
        if (read_varint(p, end, &pos, &tmp) < 0) goto corrupt; /* timestamp delta */
        if (read_varint(p, end, &pos, &tmp) < 0) goto corrupt; /* offset delta */
        if (read_varint(p, end, &pos, &klen) < 0) goto corrupt;
        Py_ssize_t field_pos = pos, field_len = (Py_ssize_t)klen;
        if (klen > 0) {
            if (pos + klen > end) goto corrupt;
            pos += (Py_ssize_t)klen;
        }
        if (!want_key) {
            if (read_varint(p, end, &pos, &vlen) < 0) goto corrupt;
            field_pos = pos;
            field_len = (Py_ssize_t)vlen;
            if (vlen > 0 && pos + vlen > end) goto corrupt;
        }
        long id;
        if (field_len < 0) id = -1;
        else if (field_len < 5 || p[field_pos] != 0) id = -2;
        else id = (long)(((uint32_t)p[field_pos + 1] << 24) | ((uint32_t)p[field_pos + 2] << 16) |
                         ((uint32_t)p[field_pos + 3] << 8) | (uint32_t)p[field_pos + 4]);
        PyObject *item = PyLong_FromLong(id);
        if (item == NULL) goto fail;
        PyList_SET_ITEM(out, i, item);
        pos = end;
    }
    PyBuffer_Release(&view);
    return out;
corrupt:
    PyErr_SetString(PyExc_ValueError, "record framing runs past the end of the batch");
fail:
    Py_XDECREF(out);
    PyBuffer_Release(&view);
    return NULL;
}

static PyMethodDef methods[] = {
    {"schema_ids", schema_ids, METH_VARARGS,
     "schema_ids(records_section, count, want_key) -> list of schema ids (-1 null, -2 not framed)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_recordscan", NULL, -1, methods};

PyMODINIT_FUNC PyInit__recordscan(void) { return PyModule_Create(&module); }
