#include "json/writer.h"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>

#include "json/utf8.h"

namespace rf::json {
namespace {

constexpr std::array<bool, 256> MakeEscapeTable() {
  std::array<bool, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[c] = true;
  t['"'] = true;
  t['\\'] = true;
  return t;
}
constexpr std::array<bool, 256> kNeedsEscape = MakeEscapeTable();
constexpr char kHexDigits[] = "0123456789abcdef";
// U+FFFD, written for each byte of a string that does not start a well-formed UTF-8 sequence.
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

// Longest shortest-round-trip double ("-2.2250738585072014e-308") plus ".0" fits easily.
constexpr size_t kMaxDoubleChars = 32;

// Writes a finite double into `out` (kMaxDoubleChars) and returns its length; 0 for NaN and
// infinities, which are written as null.
size_t FormatDouble(double d, char* out) {
  if (!std::isfinite(d)) return 0;
  char* end = std::to_chars(out, out + kMaxDoubleChars, d).ptr;
  // Without a '.' or an exponent the text would parse back as an integer.
  if (std::string_view(out, end - out).find_first_of(".e") == std::string_view::npos) {
    *end++ = '.';
    *end++ = '0';
  }
  return static_cast<size_t>(end - out);
}

void WriteDouble(double d, Buffer& out) {
  auto span = out.Writable(kMaxDoubleChars);
  const size_t n = FormatDouble(d, span.data());
  if (n == 0) {
    out.Append("null");
    return;
  }
  out.Commit(n);
}

void WriteValue(const Value& v, Buffer& out) {
  switch (v.type()) {
    case Type::kNull:
      out.Append("null");
      return;
    case Type::kBool:
      out.Append(v.as_bool() ? std::string_view("true") : "false");
      return;
    case Type::kInt:
      out.AppendSigned(v.as_int());
      return;
    case Type::kDouble:
      WriteDouble(v.as_double(), out);
      return;
    case Type::kString:
      WriteString(v.as_string(), out);
      return;
    case Type::kArray: {
      out.Append('[');
      bool first = true;
      for (const Value& item : v.as_array()) {
        if (!first) out.Append(',');
        first = false;
        WriteValue(item, out);
      }
      out.Append(']');
      return;
    }
    case Type::kObject: {
      out.Append('{');
      bool first = true;
      for (const Member& m : v.as_object()) {
        if (!first) out.Append(',');
        first = false;
        WriteString(m.first, out);
        out.Append(':');
        WriteValue(m.second, out);
      }
      out.Append('}');
      return;
    }
  }
}

}  // namespace

void WriteString(std::string_view s, Buffer& out) {
  out.Writable(s.size() + 2);  // one growth for the common case of nothing to escape
  out.Append('"');
  size_t run_start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const size_t n = Utf8SequenceLength(s, i);
      if (n != 0) {
        i += n - 1;
        continue;
      }
      out.Append(s.substr(run_start, i - run_start));
      run_start = i + 1;
      out.Append(kReplacement);
      continue;
    }
    if (!kNeedsEscape[c]) continue;
    out.Append(s.substr(run_start, i - run_start));
    run_start = i + 1;
    if (c == '"' || c == '\\') {
      const char escaped[2] = {'\\', static_cast<char>(c)};
      out.Append(std::string_view(escaped, 2));
    } else {
      const char escaped[6] = {'\\', 'u', '0', '0', kHexDigits[c >> 4], kHexDigits[c & 0xf]};
      out.Append(std::string_view(escaped, 6));
    }
  }
  out.Append(s.substr(run_start));
  out.Append('"');
}

size_t StringSize(std::string_view s) {
  size_t size = s.size() + 2;
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const size_t n = Utf8SequenceLength(s, i);
      if (n == 0)
        size += kReplacement.size() - 1;
      else
        i += n - 1;
    } else if (kNeedsEscape[c]) {
      size += c == '"' || c == '\\' ? 1 : 5;
    }
  }
  return size;
}

size_t ScalarSize(const Value& v) {
  char text[kMaxDoubleChars];
  switch (v.type()) {
    case Type::kNull:
      return 4;
    case Type::kBool:
      return v.as_bool() ? 4 : 5;
    case Type::kInt:
      return static_cast<size_t>(std::to_chars(text, text + sizeof text, v.as_int()).ptr - text);
    case Type::kDouble: {
      const size_t n = FormatDouble(v.as_double(), text);
      return n == 0 ? 4 : n;
    }
    case Type::kString:
      return StringSize(v.as_string());
    default:
      return 0;
  }
}

void Write(const Value& v, Buffer& out) { WriteValue(v, out); }

std::string ToString(const Value& v) {
  Buffer out;
  WriteValue(v, out);
  return std::string(out.view());
}

}  // namespace rf::json
