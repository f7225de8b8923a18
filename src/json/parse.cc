#include "json/parse.h"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "json/utf8.h"

namespace rf::json {
namespace {

namespace dom = simdjson::dom;

// simdjson's default parser depth; the thread's parser is never reallocated for depth.
constexpr size_t kHardMaxDepth = 1024;
// Objects up to this size find duplicate keys by a linear scan; larger ones use a hash index.
constexpr size_t kLinearKeyScan = 16;

Error InvalidAt(size_t offset, std::string_view what) {
  return Error{Errc::kInvalidArgument,
               "invalid JSON at byte " + std::to_string(offset) + ": " + std::string(what)};
}

Error TooDeep(size_t max_depth) {
  return Error{Errc::kTooDeep, "JSON nesting deeper than " + std::to_string(max_depth)};
}

// A careful byte-by-byte scan that runs only after simdjson rejects a document. simdjson's DOM API
// does not say where an error is, and it rejects integers beyond 64 bits, which we accept as
// doubles: the scan finds the first error's offset and the ends of such integers.
class Scanner {
 public:
  explicit Scanner(std::string_view text) : text_(text) {}

  // True when the text is valid JSON (numbers beyond the double range aside).
  bool Run() {
    if (!ScanDocument()) return false;
    SkipSpace();
    if (pos_ < text_.size()) return Fail(pos_, "unexpected character after the value");
    return true;
  }
  size_t error_offset() const { return error_offset_; }
  const char* error() const { return error_; }
  // End offsets of integer literals that do not fit int64.
  const std::vector<size_t>& big_integers() const { return big_integers_; }
  // Offset of the first number beyond the double range, or npos.
  size_t overflow_offset() const { return overflow_offset_; }

 private:
  bool Fail(size_t offset, const char* what) {
    error_offset_ = offset;
    error_ = what;
    return false;
  }
  bool AtEnd() const { return pos_ >= text_.size(); }
  unsigned char Peek() const { return static_cast<unsigned char>(text_[pos_]); }
  void SkipSpace() {
    while (!AtEnd() && (Peek() == ' ' || Peek() == '\t' || Peek() == '\n' || Peek() == '\r')) {
      ++pos_;
    }
  }

  // Iterative, so the scan of a hostile "[[[[..." document needs no deep stack.
  bool ScanDocument() {
    std::vector<char> open;  // the closing bracket of each enclosing container
    for (;;) {
      SkipSpace();
      if (AtEnd()) return Fail(pos_, "unexpected end of input");
      const unsigned char c = Peek();
      if (c == '[' || c == '{') {
        ++pos_;
        SkipSpace();
        const char close = c == '[' ? ']' : '}';
        if (!AtEnd() && Peek() == close) {
          ++pos_;
        } else {
          open.push_back(close);
          if (close == '}' && !ScanKey()) return false;
          continue;
        }
      } else if (c == '"') {
        if (!ScanString()) return false;
      } else if (c == '-' || (c >= '0' && c <= '9')) {
        if (!ScanNumber()) return false;
      } else if (c == 't' || c == 'f' || c == 'n') {
        if (!ScanLiteral()) return false;
      } else {
        return Fail(pos_, "unexpected character");
      }
      // A value is complete: close containers until one expects another element.
      for (;;) {
        if (open.empty()) return true;
        SkipSpace();
        if (AtEnd()) return Fail(pos_, "unexpected end of input");
        if (Peek() == static_cast<unsigned char>(open.back())) {
          ++pos_;
          open.pop_back();
          continue;
        }
        if (Peek() != ',') {
          return Fail(pos_, open.back() == ']' ? "expected ',' or ']'" : "expected ',' or '}'");
        }
        ++pos_;
        if (open.back() == '}' && !ScanKey()) return false;
        break;
      }
    }
  }

  bool ScanKey() {
    SkipSpace();
    if (AtEnd() || Peek() != '"') return Fail(pos_, "expected a string key");
    if (!ScanString()) return false;
    SkipSpace();
    if (AtEnd() || Peek() != ':') return Fail(pos_, "expected ':'");
    ++pos_;
    return true;
  }

  bool ScanLiteral() {
    for (std::string_view word : {"true", "false", "null"}) {
      if (text_.substr(pos_, word.size()) == word) {
        pos_ += word.size();
        return true;
      }
    }
    return Fail(pos_, "invalid literal");
  }

  int Hex4(size_t at) const {
    if (at + 4 > text_.size()) return -1;
    int v = 0;
    auto r = std::from_chars(text_.data() + at, text_.data() + at + 4, v, 16);
    return r.ptr == text_.data() + at + 4 ? v : -1;
  }

  bool ScanEscape() {
    const size_t start = pos_;  // at the backslash
    if (pos_ + 1 >= text_.size()) return Fail(start, "unterminated string");
    const char c = text_[pos_ + 1];
    if (c != 'u') {
      if (std::string_view("\"\\/bfnrt").find(c) == std::string_view::npos) {
        return Fail(start, "invalid escape in string");
      }
      pos_ += 2;
      return true;
    }
    const int unit = Hex4(pos_ + 2);
    if (unit < 0) return Fail(start, "invalid \\u escape");
    pos_ += 6;
    if (unit >= 0xDC00 && unit <= 0xDFFF) return Fail(start, "unpaired surrogate in \\u escape");
    if (unit < 0xD800 || unit > 0xDBFF) return true;
    const int low = text_.substr(pos_, 2) == "\\u" ? Hex4(pos_ + 2) : -1;
    if (low < 0xDC00 || low > 0xDFFF) return Fail(start, "unpaired surrogate in \\u escape");
    pos_ += 6;
    return true;
  }

  bool ScanUtf8() {
    const size_t n = Utf8SequenceLength(text_, pos_);
    if (n == 0) return Fail(pos_, "invalid UTF-8");
    pos_ += n;
    return true;
  }

  bool ScanString() {
    const size_t start = pos_++;
    while (!AtEnd()) {
      const unsigned char c = Peek();
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c == '\\') {
        if (!ScanEscape()) return false;
      } else if (c < 0x20) {
        return Fail(pos_, "control character in string");
      } else if (c >= 0x80) {
        if (!ScanUtf8()) return false;
      } else {
        ++pos_;
      }
    }
    return Fail(start, "unterminated string");
  }

  size_t SkipDigits() {
    const size_t start = pos_;
    while (!AtEnd() && Peek() >= '0' && Peek() <= '9') ++pos_;
    return pos_ - start;
  }

  bool ScanNumber() {
    const size_t start = pos_;
    if (Peek() == '-') ++pos_;
    const size_t int_start = pos_;
    const size_t int_digits = SkipDigits();
    if (int_digits == 0) return Fail(start, "invalid number");
    if (int_digits > 1 && text_[int_start] == '0') return Fail(start, "leading zero in number");
    bool integer = true;
    if (!AtEnd() && Peek() == '.') {
      ++pos_;
      integer = false;
      if (SkipDigits() == 0) return Fail(start, "invalid number");
    }
    if (!AtEnd() && (Peek() == 'e' || Peek() == 'E')) {
      ++pos_;
      integer = false;
      if (!AtEnd() && (Peek() == '+' || Peek() == '-')) ++pos_;
      if (SkipDigits() == 0) return Fail(start, "invalid number");
    }
    const char* first = text_.data() + start;
    const char* last = text_.data() + pos_;
    if (integer) {
      int64_t i = 0;
      if (std::from_chars(first, last, i).ec == std::errc()) return true;
      big_integers_.push_back(pos_);
    }
    double d = 0;
    if (std::from_chars(first, last, d).ec == std::errc::result_out_of_range &&
        !Underflows(start) && overflow_offset_ == std::string_view::npos) {
      overflow_offset_ = start;
    }
    return true;
  }

  // from_chars reports underflow and overflow alike; underflow (a tiny number read as 0) is fine.
  bool Underflows(size_t start) const {
    const std::string_view num = text_.substr(start, pos_ - start);
    const size_t e = num.find_first_of("eE");
    const std::string_view mantissa = num.substr(0, e);
    const size_t first_nonzero = mantissa.find_first_of("123456789");
    if (first_nonzero == std::string_view::npos) return true;
    const size_t dot = std::min(mantissa.find('.'), mantissa.size());
    // Decimal exponent of the leading digit, before the explicit exponent.
    long magnitude = first_nonzero < dot ? static_cast<long>(dot - first_nonzero) - 1
                                         : -static_cast<long>(first_nonzero - dot);
    if (e != std::string_view::npos) {
      std::string_view exp = num.substr(e + 1);
      const bool negative = !exp.empty() && exp[0] == '-';
      if (!exp.empty() && (exp[0] == '-' || exp[0] == '+')) exp.remove_prefix(1);
      long value = 0;
      if (std::from_chars(exp.data(), exp.data() + exp.size(), value).ec != std::errc()) {
        value = 1'000'000;  // an absurd exponent; its sign alone decides
      }
      magnitude += negative ? -value : value;
    }
    return magnitude < 0;
  }

  std::string_view text_;
  size_t pos_ = 0;
  size_t error_offset_ = 0;
  const char* error_ = "";
  std::vector<size_t> big_integers_;
  size_t overflow_offset_ = std::string_view::npos;
};

// Converts simdjson's tape into a Value; false when containers nest deeper than max_depth.
class Converter {
 public:
  explicit Converter(size_t max_depth) : max_depth_(max_depth) {}

  bool Convert(dom::element e, size_t depth, Value& out) {
    switch (e.type()) {
      case dom::element_type::ARRAY:
        return ConvertArray(e, depth + 1, out);
      case dom::element_type::OBJECT:
        return ConvertObject(e, depth + 1, out);
      case dom::element_type::INT64:
        out = Value(e.get_int64().value_unsafe());
        return true;
      case dom::element_type::UINT64:  // only values above INT64_MAX are tagged UINT64
        out = Value(static_cast<double>(e.get_uint64().value_unsafe()));
        return true;
      case dom::element_type::DOUBLE:
        out = Value(e.get_double().value_unsafe());
        return true;
      case dom::element_type::STRING:
        out = Value(e.get_string().value_unsafe());
        return true;
      case dom::element_type::BOOL:
        out = Value(e.get_bool().value_unsafe());
        return true;
      case dom::element_type::NULL_VALUE:
        out = Value();
        return true;
    }
    return true;
  }

 private:
  bool ConvertArray(dom::element e, size_t depth, Value& out) {
    if (depth > max_depth_) return false;
    const dom::array array = e.get_array().value_unsafe();
    Array items;
    items.reserve(array.size());
    for (dom::element child : array) {
      if (!Convert(child, depth, items.emplace_back())) return false;
    }
    out = Value(std::move(items));
    return true;
  }

  bool ConvertObject(dom::element e, size_t depth, Value& out) {
    if (depth > max_depth_) return false;
    const dom::object object = e.get_object().value_unsafe();
    const size_t size = object.size();
    Object members;
    members.reserve(size);
    // Keys view simdjson's string buffer, which outlives this conversion.
    std::unordered_map<std::string_view, size_t> index;
    for (dom::key_value_pair field : object) {
      Value* slot = nullptr;
      if (size <= kLinearKeyScan) {
        for (Member& m : members) {
          if (m.first == field.key) slot = &m.second;
        }
      } else if (auto [it, fresh] = index.try_emplace(field.key, members.size()); !fresh) {
        slot = &members[it->second].second;
      }
      if (slot == nullptr) {
        slot = &members
                    .emplace_back(std::piecewise_construct, std::forward_as_tuple(field.key),
                                  std::forward_as_tuple())
                    .second;
      }
      if (!Convert(field.value, depth, *slot)) return false;
    }
    out = Value(std::move(members));
    return true;
  }

  size_t max_depth_;
};

Result<Value> Convert(dom::element root, size_t max_depth) {
  Value out;
  if (!Converter(max_depth).Convert(root, 0, out)) return TooDeep(max_depth);
  return out;
}

// Called after simdjson rejected `text` with `code`.
Result<Value> ParseSlowPath(std::string_view text, simdjson::error_code code, size_t max_depth,
                            dom::parser& parser) {
  Scanner scanner(text);
  if (!scanner.Run()) return InvalidAt(scanner.error_offset(), scanner.error());
  if (scanner.overflow_offset() != std::string_view::npos) {
    return InvalidAt(scanner.overflow_offset(), "number out of range");
  }
  if (!scanner.big_integers().empty()) {
    // Turn each too-large integer into a decimal literal, which simdjson reads as a double.
    std::string patched;
    patched.reserve(text.size() + 2 * scanner.big_integers().size());
    size_t copied = 0;
    for (size_t end : scanner.big_integers()) {
      patched.append(text.substr(copied, end - copied)).append(".0");
      copied = end;
    }
    patched.append(text.substr(copied));
    dom::element root;
    code = parser.parse(patched.data(), patched.size(), true).get(root);
    if (code == simdjson::SUCCESS) return Convert(root, max_depth);
  }
  if (code == simdjson::DEPTH_ERROR) return TooDeep(max_depth);
  return Error{Errc::kInvalidArgument,
               std::string("invalid JSON: ") + simdjson::error_message(code)};
}

}  // namespace

Result<Value> Parse(std::string_view text, const ParseLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return Error{Errc::kTooLarge, "JSON text of " + std::to_string(text.size()) +
                                      " bytes is over the limit of " +
                                      std::to_string(limits.max_bytes)};
  }
  const size_t max_depth = std::min(limits.max_depth, kHardMaxDepth);
  thread_local dom::parser parser;
  dom::element root;
  const simdjson::error_code code = parser.parse(text.data(), text.size(), true).get(root);
  if (code == simdjson::SUCCESS) return Convert(root, max_depth);
  if (code == simdjson::DEPTH_ERROR) return TooDeep(max_depth);
  if (code == simdjson::MEMALLOC) return Error{Errc::kInternal, "JSON parser out of memory"};
  return ParseSlowPath(text, code, max_depth, parser);
}

}  // namespace rf::json
