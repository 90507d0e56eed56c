// model_api._records: v1 JSON records in and out, in native code.
//
//   parse_records(body, names, max_rows) -> (rows, float64 bytes, row-major) | None
//   write_rows(values, width, row_starts, separators[, choices]) -> bytes
//
// parse_records. Why native: for 1,000 rows of 20 numbers msgspec spends ~1.8 ms creating,
// copying and freeing 20,000 Python floats (bench/results/profile.md); this reads the bytes once,
// in ~0.3 ms.
//
// It accepts only the plain shape {"instances": [{"<name>": <number>, ...}, ...]}: at least one
// row, at most max_rows, every row exactly the given names (any order, each once, without escapes)
// and JSON numbers as values. Anything else (strings, null, nested values, unknown, missing or
// repeated keys, escapes, malformed JSON, numbers past the double range) returns None and the
// caller takes the msgspec path, which decides what is valid and names what is wrong. So this file
// never has to produce an error message, and a None is never wrong, only slower.
//
// Numbers: the JSON grammar is checked here, then the value is exact for up to 15 digits with no
// exponent (Clinger's fast path: two exact doubles and one correctly rounded division), and
// std::from_chars (libstdc++'s fast_float, correctly rounded) reads the rest, so every value is
// the same double msgspec and orjson produce.
//
// write_rows. The response rows of outputs.py (constant pieces around each number), with every
// number written exactly as orjson writes a Python float: the shortest digits that read back to
// the same double (std::to_chars), fixed notation from 1e-5 up to 1e16 ("0.00001", "1.0"),
// d.ddde-7 / d.ddde+16 outside it, NaN and infinities as null. tests/api/test_outputs.py checks
// it byte for byte against orjson for any double.
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace {

inline bool is_digit(char c) { return static_cast<unsigned char>(c - '0') < 10; }
inline bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

// Every power of ten the fast path divides by (at most 15 digits, so at most 15 decimals).
const double kPowersOf10[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                              1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};

class RecordsParser {
  public:
    RecordsParser(const char* data, Py_ssize_t size, const std::vector<std::string>& names)
        : p_(data), end_(data + size), names_(names) {
        for (const std::string& name : names) members_.push_back('"' + name + "\":");
    }

    // Appends the body's values to `values` (row-major); false if the body is not plain.
    bool parse(Py_ssize_t max_rows, std::vector<double>& values, Py_ssize_t* rows) {
        const auto width = static_cast<Py_ssize_t>(names_.size());
        if (!eat('{') || !skip_ws() || !literal("\"instances\"") || !eat(':') || !eat('['))
            return false;
        // Every member takes at least 5 bytes ("":0,), so this many rows fit in the body: one
        // allocation instead of a dozen growing copies.
        const Py_ssize_t most_rows = std::min(max_rows, (end_ - p_) / (5 * width) + 1);
        values.reserve(static_cast<size_t>(most_rows * width));
        // seen_in_row[j] == row once column j has a value in this row.
        std::vector<Py_ssize_t> seen_in_row(width, -1);
        Py_ssize_t row = 0;
        do {
            if (row >= max_rows || !eat('{')) return false;
            values.resize(values.size() + width);
            double* out = values.data() + row * width;
            Py_ssize_t guess = 0;  // rows usually repeat one key order: try the next name first
            for (Py_ssize_t filled = 0; filled < width; ++filled) {
                if (filled > 0 && !eat(',')) return false;
                Py_ssize_t j = compact_member(guess);  // "name": as a compact writer puts it
                if (j < 0) {
                    j = column_of_key(guess);
                    if (j < 0 || !eat(':')) return false;
                }
                if (seen_in_row[j] == row || !number(out + j)) return false;
                seen_in_row[j] = row;
                guess = j + 1 == width ? 0 : j + 1;
            }
            if (!eat('}')) return false;
            ++row;
        } while (eat(','));
        if (!eat(']') || !eat('}')) return false;
        skip_ws();
        *rows = row;
        return p_ == end_;
    }

  private:
    // Skips JSON whitespace; false at the end of the input.
    bool skip_ws() {
        while (p_ < end_ && is_space(*p_)) ++p_;
        return p_ < end_;
    }

    bool eat(char c) {
        if (!skip_ws() || *p_ != c) return false;
        ++p_;
        return true;
    }

    bool literal(const char* text) {
        const size_t length = std::strlen(text);
        if (static_cast<size_t>(end_ - p_) < length || std::memcmp(p_, text, length) != 0)
            return false;
        p_ += length;
        return true;
    }

    static bool same(const std::string& name, const char* key, Py_ssize_t length) {
        return static_cast<Py_ssize_t>(name.size()) == length &&
               std::memcmp(name.data(), key, length) == 0;
    }

    // `guess` if p_ is at exactly `"<its name>":` (the common case: one memcmp), else -1.
    Py_ssize_t compact_member(Py_ssize_t guess) {
        const std::string& member = members_[guess];
        const auto length = static_cast<Py_ssize_t>(member.size());
        if (end_ - p_ < length || std::memcmp(p_, member.data(), length) != 0) return -1;
        p_ += length;
        return guess;
    }

    // The column named by the string at p_, else -1 (not a name, or written with escapes).
    Py_ssize_t column_of_key(Py_ssize_t guess) {
        if (!eat('"')) return -1;
        const char* start = p_;
        while (p_ < end_ && *p_ != '"') {
            if (*p_ == '\\') return -1;
            ++p_;
        }
        if (p_ == end_) return -1;
        const Py_ssize_t length = p_ - start;
        ++p_;
        if (same(names_[guess], start, length)) return guess;
        for (size_t j = 0; j < names_.size(); ++j) {
            if (same(names_[j], start, length)) return static_cast<Py_ssize_t>(j);
        }
        return -1;
    }

    // The JSON number at p_ into *out; false if there is none or it is past the double range.
    bool number(double* out) {
        if (!skip_ws()) return false;
        const char* const start = p_;
        const char* const end = end_;
        const char* p = p_;
        const bool negative = *p == '-';
        if (negative) ++p;
        if (p == end || !is_digit(*p)) return false;
        unsigned long long mantissa = 0;  // exact while there are at most 19 digits
        const char* const integer_start = p;
        if (*p == '0') {
            ++p;  // JSON allows no leading zeros: "01" stops after the 0 and fails at the caller
        } else {
            p = read_digits(p, end, mantissa);
        }
        // A leading "0" is not counted: it adds nothing to the mantissa.
        Py_ssize_t digits = *integer_start == '0' ? 0 : p - integer_start;
        Py_ssize_t fraction_digits = 0;
        const bool has_fraction = p < end && *p == '.';
        if (has_fraction) {
            const char* const fraction_start = ++p;
            p = read_digits(p, end, mantissa);
            fraction_digits = p - fraction_start;
            if (fraction_digits == 0) return false;
            digits += fraction_digits;
        }
        bool has_exponent = false;
        if (p < end && (*p == 'e' || *p == 'E')) {
            has_exponent = true;
            ++p;
            if (p < end && (*p == '+' || *p == '-')) ++p;
            const char* const exponent_start = p;
            unsigned long long ignored = 0;
            p = read_digits(p, end, ignored);
            if (p == exponent_start) return false;
        }
        p_ = p;
        if (!has_exponent && digits <= 15) {  // then fraction_digits <= 15 too
            const double value = static_cast<double>(mantissa) / kPowersOf10[fraction_digits];
            // "-0" is the integer 0 to JSON readers (orjson, msgspec): +0.0, not -0.0.
            *out = negative && (has_fraction || mantissa != 0) ? -value : value;
            return true;
        }
        const auto result = std::from_chars(start, p, *out);
        return result.ec == std::errc() && result.ptr == p;
    }

    // Reads the digits at p into mantissa (wrapping past 19 digits: then unused); the end of them.
    static const char* read_digits(const char* p, const char* end, unsigned long long& mantissa) {
        unsigned long long value = mantissa;
        for (; p < end && is_digit(*p); ++p) value = value * 10 + static_cast<unsigned>(*p - '0');
        mantissa = value;
        return p;
    }

    const char* p_;
    const char* end_;
    const std::vector<std::string>& names_;
    std::vector<std::string> members_;  // '"' + name + '":' per column
};

// The names as UTF-8 strings; false (with a Python error set) if one is not a str.
bool utf8_names(PyObject* names, std::vector<std::string>& out) {
    PyObject* sequence = PySequence_Fast(names, "names must be a sequence of str");
    if (sequence == nullptr) return false;
    const Py_ssize_t count = PySequence_Fast_GET_SIZE(sequence);
    for (Py_ssize_t i = 0; i < count; ++i) {
        Py_ssize_t length;
        const char* utf8 = PyUnicode_AsUTF8AndSize(PySequence_Fast_GET_ITEM(sequence, i), &length);
        if (utf8 == nullptr) {
            Py_DECREF(sequence);
            return false;
        }
        out.emplace_back(utf8, length);
    }
    Py_DECREF(sequence);
    if (out.empty()) {
        PyErr_SetString(PyExc_ValueError, "names must not be empty");
        return false;
    }
    return true;
}

PyObject* parse_records(PyObject*, PyObject* args) {
    Py_buffer body;
    PyObject* names_arg;
    Py_ssize_t max_rows;
    if (!PyArg_ParseTuple(args, "y*On:parse_records", &body, &names_arg, &max_rows))
        return nullptr;
    std::vector<std::string> names;
    if (!utf8_names(names_arg, names)) {
        PyBuffer_Release(&body);
        return nullptr;
    }
    std::vector<double> values;
    Py_ssize_t rows = 0;
    bool plain;
    // The body is an immutable bytes-like buffer held by the Py_buffer: no Python object is
    // touched while parsing, so other threads may run.
    Py_BEGIN_ALLOW_THREADS
    plain = RecordsParser(static_cast<const char*>(body.buf), body.len, names)
                .parse(max_rows, values, &rows);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&body);
    if (!plain) Py_RETURN_NONE;
    const auto size = static_cast<Py_ssize_t>(values.size() * sizeof(double));
    PyObject* data = PyBytes_FromStringAndSize(reinterpret_cast<const char*>(values.data()), size);
    if (data == nullptr) return nullptr;
    return Py_BuildValue("(nN)", rows, data);
}

// Writes v as orjson writes a Python float; returns the number of characters (at most 24).
size_t write_float(char* out, double v) {
    if (!std::isfinite(v)) {
        std::memcpy(out, "null", 4);
        return 4;
    }
    // Shortest round-trip digits in scientific form: [-]d[.ddd]e(+|-)XX[X].
    char scientific[32];
    const auto result = std::to_chars(scientific, scientific + sizeof scientific, v,
                                      std::chars_format::scientific);
    const char* p = scientific;
    char* const start = out;
    if (*p == '-') *out++ = *p++;
    char digits[20];
    int count = 0;
    for (; *p != 'e'; ++p) {
        if (*p != '.') digits[count++] = *p;
    }
    int exponent = 0;
    std::from_chars(p[1] == '+' ? p + 2 : p + 1, result.ptr, exponent);  // "-07" reads as -7
    if (exponent >= -5 && exponent < 16) {
        if (exponent < 0) {  // 0.000ddd
            *out++ = '0';
            *out++ = '.';
            for (int i = -1; i > exponent; --i) *out++ = '0';
            std::memcpy(out, digits, count);
            out += count;
        } else if (count <= exponent + 1) {  // ddd000.0
            std::memcpy(out, digits, count);
            out += count;
            for (int i = count; i <= exponent; ++i) *out++ = '0';
            *out++ = '.';
            *out++ = '0';
        } else {  // dd.ddd
            std::memcpy(out, digits, exponent + 1);
            out += exponent + 1;
            *out++ = '.';
            std::memcpy(out, digits + exponent + 1, count - exponent - 1);
            out += count - exponent - 1;
        }
    } else {  // d.ddde-7, de+16
        *out++ = digits[0];
        if (count > 1) {
            *out++ = '.';
            std::memcpy(out, digits + 1, count - 1);
            out += count - 1;
        }
        *out++ = 'e';
        *out++ = exponent < 0 ? '-' : '+';
        out = std::to_chars(out, out + 4, exponent < 0 ? -exponent : exponent).ptr;
    }
    return static_cast<size_t>(out - start);
}

// The bytes of each item of a list of bytes; false (with a Python error set) otherwise.
bool byte_pieces(PyObject* list, std::vector<std::string_view>& out) {
    if (!PyList_Check(list)) {
        PyErr_SetString(PyExc_TypeError, "expected a list of bytes");
        return false;
    }
    const Py_ssize_t count = PyList_GET_SIZE(list);
    out.reserve(count);
    for (Py_ssize_t i = 0; i < count; ++i) {
        PyObject* item = PyList_GET_ITEM(list, i);
        if (!PyBytes_Check(item)) {
            PyErr_SetString(PyExc_TypeError, "expected a list of bytes");
            return false;
        }
        out.emplace_back(PyBytes_AS_STRING(item), PyBytes_GET_SIZE(item));
    }
    return true;
}

PyObject* write_rows(PyObject*, PyObject* args) {
    Py_buffer values;
    Py_buffer choices = {};
    Py_ssize_t width;
    PyObject* row_starts_arg;
    PyObject* separators_arg;
    if (!PyArg_ParseTuple(args, "y*nO!O!|y*:write_rows", &values, &width, &PyList_Type,
                          &row_starts_arg, &PyList_Type, &separators_arg, &choices))
        return nullptr;
    std::vector<std::string_view> row_starts;
    std::vector<std::string_view> separators;
    const Py_ssize_t numbers = values.len / static_cast<Py_ssize_t>(sizeof(double));
    const Py_ssize_t rows = width > 0 ? numbers / width : 0;
    const auto* choice = static_cast<const int64_t*>(choices.buf);  // null: row_starts[0]
    bool valid = byte_pieces(row_starts_arg, row_starts) && byte_pieces(separators_arg, separators);
    if (valid && (width <= 0 || values.len != rows * width * static_cast<Py_ssize_t>(sizeof(double)) ||
                  static_cast<Py_ssize_t>(separators.size()) != width || row_starts.empty() ||
                  (choice != nullptr && choices.len != rows * static_cast<Py_ssize_t>(sizeof(int64_t))))) {
        PyErr_SetString(PyExc_ValueError,
                        "values must be rows x width float64, with one separator per column, "
                        "at least one row start and, if given, one int64 choice per row");
        valid = false;
    }
    for (Py_ssize_t i = 0; valid && choice != nullptr && i < rows; ++i) {
        if (choice[i] < 0 || choice[i] >= static_cast<int64_t>(row_starts.size())) {
            PyErr_SetString(PyExc_IndexError, "a row's choice is not an index of row_starts");
            valid = false;
        }
    }
    if (!valid) {
        PyBuffer_Release(&values);
        if (choices.obj != nullptr) PyBuffer_Release(&choices);
        return nullptr;
    }
    // The longest a row can be: its start, then per number 24 characters and its separator,
    // then the comma between rows.
    size_t longest_start = 0;
    for (const auto& piece : row_starts) longest_start = std::max(longest_start, piece.size());
    size_t row_size = longest_start + 1;
    for (const auto& piece : separators) row_size += 24 + piece.size();
    std::string out;
    out.resize(2 + row_size * static_cast<size_t>(rows));
    char* w = out.data();
    const auto* data = static_cast<const double*>(values.buf);
    *w++ = '[';
    for (Py_ssize_t i = 0; i < rows; ++i) {
        if (i > 0) *w++ = ',';
        const std::string_view start = row_starts[choice == nullptr ? 0 : choice[i]];
        std::memcpy(w, start.data(), start.size());
        w += start.size();
        for (Py_ssize_t k = 0; k < width; ++k) {
            w += write_float(w, data[i * width + k]);
            std::memcpy(w, separators[k].data(), separators[k].size());
            w += separators[k].size();
        }
    }
    *w++ = ']';
    PyBuffer_Release(&values);
    if (choices.obj != nullptr) PyBuffer_Release(&choices);
    return PyBytes_FromStringAndSize(out.data(), w - out.data());
}

PyMethodDef kMethods[] = {
    {"parse_records", parse_records, METH_VARARGS,
     "parse_records(body, names, max_rows) -> (rows, float64 bytes) | None\n\n"
     "The values of a plain {\"instances\": [{name: number, ...}, ...]} body, row-major in the\n"
     "order of names; None for anything else (the msgspec path decides those)."},
    {"write_rows", write_rows, METH_VARARGS,
     "write_rows(values, width, row_starts, separators, choices=None) -> bytes\n\n"
     "A JSON array of one object per row of the float64 values: row_starts[choices[i]] (int64;\n"
     "without choices row_starts[0]), then each number as orjson writes it and its separator."},
    {nullptr, nullptr, 0, nullptr},
};

PyModuleDef kModule = {
    PyModuleDef_HEAD_INIT, "_records",
    "v1 JSON records in and out in native code (see records.py and outputs.py).", -1,
    kMethods,
};

}  // namespace

PyMODINIT_FUNC PyInit__records() { return PyModule_Create(&kModule); }
