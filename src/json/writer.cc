#include "json/writer.h"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>

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

// Longest shortest-round-trip double ("-2.2250738585072014e-308") plus ".0" fits easily.
constexpr size_t kMaxDoubleChars = 32;

void WriteDouble(double d, Buffer& out) {
  if (!std::isfinite(d)) {
    out.Append("null");
    return;
  }
  auto span = out.Writable(kMaxDoubleChars);
  char* begin = span.data();
  char* end = std::to_chars(begin, begin + span.size(), d).ptr;
  // Without a '.' or an exponent the text would parse back as an integer.
  if (std::string_view(begin, end - begin).find_first_of(".e") == std::string_view::npos) {
    *end++ = '.';
    *end++ = '0';
  }
  out.Commit(static_cast<size_t>(end - begin));
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

void Write(const Value& v, Buffer& out) { WriteValue(v, out); }

std::string ToString(const Value& v) {
  Buffer out;
  WriteValue(v, out);
  return std::string(out.view());
}

}  // namespace rf::json
