#include "cli/yaml_json.h"

#include <yaml.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

namespace rf::cli {
namespace {

constexpr std::string_view kTagPrefix = "tag:yaml.org,2002:";

std::string At(const yaml_mark_t& m) {
  return "line " + std::to_string(m.line + 1) + ", column " + std::to_string(m.column + 1);
}

Error Fail(const yaml_mark_t& m, const std::string& what) {
  return Error{Errc::kInvalidArgument, At(m) + ": " + what};
}

bool AllDigits(std::string_view s, int base) {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok = base == 16 ? std::isxdigit(static_cast<unsigned char>(c)) != 0
              : base == 8 ? (c >= '0' && c <= '7')
                          : (c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

// [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
bool IsFloat(std::string_view s) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  size_t int_digits = 0, frac_digits = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++int_digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++frac_digits;
  }
  if (int_digits + frac_digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    if (!AllDigits(s.substr(i), 10)) return false;
    return true;
  }
  return i == s.size();
}

// A plain scalar by the core schema; `forced` is the resolved tag name when one was given.
Result<json::Value> Resolve(std::string_view s, std::string_view forced, const yaml_mark_t& m) {
  if (forced == "str") return json::Value(s);
  const bool any = forced.empty();
  if ((any || forced == "null") && (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL"))
    return json::Value();
  if (any || forced == "bool") {
    if (s == "true" || s == "True" || s == "TRUE") return json::Value(true);
    if (s == "false" || s == "False" || s == "FALSE") return json::Value(false);
  }
  if (any || forced == "int") {
    std::string_view body = s;
    bool neg = false;
    if (!body.empty() && (body[0] == '-' || body[0] == '+')) neg = body[0] == '-', body.remove_prefix(1);
    int base = 10;
    std::string_view digits = body;
    if (body.starts_with("0x")) base = 16, digits = body.substr(2);
    else if (body.starts_with("0o")) base = 8, digits = body.substr(2);
    if (AllDigits(digits, base) && !(base != 10 && s[0] == '+')) {
      errno = 0;
      std::string text(digits);
      unsigned long long u = std::strtoull(text.c_str(), nullptr, base);
      if (errno == 0 && u <= (neg ? 9223372036854775808ull : 9223372036854775807ull)) {
        if (neg) return json::Value(u == 9223372036854775808ull ? INT64_MIN : -static_cast<int64_t>(u));
        return json::Value(static_cast<int64_t>(u));
      }
      if (base == 10) return json::Value(std::strtod(std::string(s).c_str(), nullptr));
      return Fail(m, "integer " + std::string(s) + " is out of range");
    }
  }
  if (any || forced == "float") {
    if (IsFloat(s)) {
      double d = std::strtod(std::string(s).c_str(), nullptr);
      if (!std::isfinite(d)) return Fail(m, "number " + std::string(s) + " is out of range");
      return json::Value(d);
    }
    std::string lower(s);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == ".inf" || lower == "+.inf" || lower == "-.inf" || lower == ".nan")
      return Fail(m, std::string(s) + " has no JSON form");
  }
  if (any) return json::Value(s);
  return Fail(m, "'" + std::string(s) + "' is not a valid !!" + std::string(forced));
}

// One open collection while the event stream is walked.
struct Frame {
  json::Value value;   // an array or an object
  std::string anchor;  // its anchor, registered when it closes
  std::string key;     // objects: the key waiting for its value
  bool has_key = false;
  yaml_mark_t key_mark{};
};

class Builder {
 public:
  explicit Builder(std::string_view text) {
    yaml_parser_initialize(&parser_);
    yaml_parser_set_input_string(&parser_, reinterpret_cast<const unsigned char*>(text.data()),
                                 text.size());
  }
  ~Builder() { yaml_parser_delete(&parser_); }
  Builder(const Builder&) = delete;
  Builder& operator=(const Builder&) = delete;

  Result<json::Value> Run() {
    int documents = 0;
    for (;;) {
      yaml_event_t ev;
      if (!yaml_parser_parse(&parser_, &ev)) {
        std::string what = parser_.problem ? parser_.problem : "malformed YAML";
        if (parser_.context) what = std::string(parser_.context) + ": " + what;
        return Fail(parser_.problem_mark, what);
      }
      Status st;
      bool done = false;
      switch (ev.type) {
        case YAML_DOCUMENT_START_EVENT:
          if (++documents > 1) st = Fail(ev.start_mark, "more than one document in the file (---)");
          break;
        case YAML_STREAM_END_EVENT:
          done = true;
          break;
        case YAML_SCALAR_EVENT:
          st = Scalar(ev);
          break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
          st = Open(ev);
          break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
          st = Close(ev);
          break;
        case YAML_ALIAS_EVENT:
          st = Alias(ev);
          break;
        default:
          break;
      }
      yaml_event_delete(&ev);
      if (!st) return st.error();
      if (done) break;
    }
    if (!have_root_) return Error{Errc::kInvalidArgument, "the file holds no YAML document"};
    return std::move(root_);
  }

 private:
  static std::string Anchor(const yaml_char_t* a) {
    return a ? std::string(reinterpret_cast<const char*>(a)) : std::string();
  }

  // The core tag name a node was given ("str", "int", ...), "" for none or the non-specific "!".
  static Result<std::string> TagName(const yaml_char_t* tag, const yaml_mark_t& m) {
    if (!tag) return std::string();
    std::string_view t(reinterpret_cast<const char*>(tag));
    if (t == "!") return std::string();
    if (t.starts_with(kTagPrefix)) {
      std::string_view name = t.substr(kTagPrefix.size());
      if (name == "str" || name == "int" || name == "float" || name == "bool" || name == "null" ||
          name == "map" || name == "seq")
        return std::string(name);
    }
    return Fail(m, "unsupported tag " + std::string(t) + " (only the core tags !!str, !!int, "
                                                         "!!float, !!bool, !!null, !!map, !!seq)");
  }

  Status Count(size_t n, const yaml_mark_t& m) {
    nodes_ += n;
    if (nodes_ > kMaxYamlNodes)
      return Fail(m, "the document expands to more than " + std::to_string(kMaxYamlNodes) +
                         " values (aliases?)");
    return {};
  }

  Status Scalar(const yaml_event_t& ev) {
    const auto& s = ev.data.scalar;
    std::string_view text(reinterpret_cast<const char*>(s.value), s.length);
    auto tag = TagName(s.tag, ev.start_mark);
    if (!tag) return tag.error();
    if (*tag == "map" || *tag == "seq") return Fail(ev.start_mark, "a scalar tagged !!" + *tag);
    const bool plain = s.style == YAML_PLAIN_SCALAR_STYLE;
    if (!stack_.empty() && stack_.back().value.is_object() && !stack_.back().has_key) {
      // A mapping key: always a string.
      Frame& f = stack_.back();
      if (f.value.Find(text))
        return Fail(ev.start_mark, "key '" + std::string(text) + "' appears twice in this mapping");
      f.key = std::string(text);
      f.has_key = true;
      f.key_mark = ev.start_mark;
      if (s.anchor) anchors_[Anchor(s.anchor)] = json::Value(text);
      return {};
    }
    json::Value v;
    if (plain || !tag->empty()) {
      auto r = Resolve(text, plain ? *tag : (tag->empty() ? "str" : *tag), ev.start_mark);
      if (!r) return r.error();
      v = std::move(*r);
    } else {
      v = json::Value(text);
    }
    if (s.anchor) anchors_[Anchor(s.anchor)] = v;
    return Place(std::move(v), ev.start_mark);
  }

  Status Open(const yaml_event_t& ev) {
    const bool map = ev.type == YAML_MAPPING_START_EVENT;
    const yaml_char_t* tag_text = map ? ev.data.mapping_start.tag : ev.data.sequence_start.tag;
    auto tag = TagName(tag_text, ev.start_mark);
    if (!tag) return tag.error();
    if (!tag->empty() && *tag != (map ? "map" : "seq"))
      return Fail(ev.start_mark, std::string(map ? "a mapping" : "a sequence") + " tagged !!" + *tag);
    if (!stack_.empty() && stack_.back().value.is_object() && !stack_.back().has_key)
      return Fail(ev.start_mark, "mapping keys must be scalars");
    if (stack_.size() >= kMaxYamlDepth)
      return Fail(ev.start_mark, "nested deeper than " + std::to_string(kMaxYamlDepth));
    if (Status st = Count(1, ev.start_mark); !st) return st;
    Frame f;
    f.value = map ? json::Value(json::Object{}) : json::Value(json::Array{});
    f.anchor = Anchor(map ? ev.data.mapping_start.anchor : ev.data.sequence_start.anchor);
    stack_.push_back(std::move(f));
    return {};
  }

  Status Close(const yaml_event_t& ev) {
    Frame f = std::move(stack_.back());
    stack_.pop_back();
    if (!f.anchor.empty()) anchors_[f.anchor] = f.value;
    return Place(std::move(f.value), ev.start_mark, /*counted=*/true);
  }

  Status Alias(const yaml_event_t& ev) {
    std::string name = Anchor(ev.data.alias.anchor);
    auto it = anchors_.find(name);
    if (it == anchors_.end()) return Fail(ev.start_mark, "unknown alias *" + name);
    if (!stack_.empty() && stack_.back().value.is_object() && !stack_.back().has_key) {
      if (!it->second.is_string()) return Fail(ev.start_mark, "mapping keys must be scalars");
      Frame& f = stack_.back();
      if (f.value.Find(it->second.as_string()))
        return Fail(ev.start_mark, "key '" + it->second.as_string() + "' appears twice in this mapping");
      f.key = it->second.as_string();
      f.has_key = true;
      f.key_mark = ev.start_mark;
      return {};
    }
    if (Status st = Count(Size(it->second), ev.start_mark); !st) return st;
    return Place(it->second, ev.start_mark, /*counted=*/true);
  }

  static size_t Size(const json::Value& v) {
    size_t n = 1;
    if (v.is_array())
      for (const auto& e : v.as_array()) n += Size(e);
    if (v.is_object())
      for (const auto& m : v.as_object()) n += Size(m.second);
    return n;
  }

  Status Place(json::Value v, const yaml_mark_t& m, bool counted = false) {
    if (!counted)
      if (Status st = Count(1, m); !st) return st;
    if (stack_.empty()) {
      root_ = std::move(v);
      have_root_ = true;
      return {};
    }
    Frame& f = stack_.back();
    if (f.value.is_array()) {
      f.value.as_array().push_back(std::move(v));
    } else {
      f.value.as_object().emplace_back(std::move(f.key), std::move(v));
      f.key.clear();
      f.has_key = false;
    }
    return {};
  }

  yaml_parser_t parser_;
  std::vector<Frame> stack_;
  std::map<std::string, json::Value> anchors_;
  json::Value root_;
  bool have_root_ = false;
  size_t nodes_ = 0;
};

}  // namespace

Result<json::Value> YamlToJson(std::string_view text) {
  Builder b(text);
  return b.Run();
}

}  // namespace rf::cli
