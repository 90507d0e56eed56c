// model_api.codecs._records: v1 JSON records of all-numeric models, read in native code.
//
//   parse_records(body, names, max_rows) -> (rows, float64 bytes, row-major) | None
//
// Why native: msgspec creates, copies and frees one Python float per value; this reads the bytes
// once, straight into doubles. It is optional: records.py falls back to msgspec when this module
// is not built (or MODEL_API_NATIVE_CODECS is false), and tests/api/test_python_codecs.py runs
// the API tests on that fallback.
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
// tests/api/test_records_native.py holds its properties (against orjson); they also run under
// AddressSanitizer and UBSan (tests/api/test_records_sanitized.py).
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <string>
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

PyMethodDef kMethods[] = {
    {"parse_records", parse_records, METH_VARARGS,
     "parse_records(body, names, max_rows) -> (rows, float64 bytes) | None\n\n"
     "The values of a plain {\"instances\": [{name: number, ...}, ...]} body, row-major in the\n"
     "order of names; None for anything else (the msgspec path decides those)."},
    {nullptr, nullptr, 0, nullptr},
};

PyModuleDef kModule = {
    PyModuleDef_HEAD_INIT, "_records",
    "v1 JSON records of all-numeric models read in native code (see records.py).", -1,
    kMethods,
};

}  // namespace

PyMODINIT_FUNC PyInit__records() { return PyModule_Create(&kModule); }
