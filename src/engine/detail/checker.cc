#include "engine/detail/checker.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>

namespace rf::engine::detail {
namespace {

// Optimal string alignment distance, for "did you mean" on unknown keys.
// `b` is an allowed key (short); rows live on the stack.
size_t EditDistance(std::string_view a, std::string_view b) {
  constexpr size_t kMaxB = 31;
  if (b.size() > kMaxB) return SIZE_MAX;
  std::array<size_t, kMaxB + 1> prev2{}, prev{}, cur{};
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        cur[j] = std::min(cur[j], prev2[j - 2] + 1);
    }
    std::swap(prev2, prev);
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// "2592000000 (30 days)": raw milliseconds as written in the JSON, with a
// readable form when it is a whole number of larger units.
std::string DescribeMillis(Nanos ns) {
  const int64_t ms = ns / kMillis;
  std::string s = std::to_string(ms);
  struct Unit {
    int64_t ms;
    const char* name;
  };
  for (Unit u : {Unit{86'400'000, "day"}, Unit{3'600'000, "hour"}, Unit{60'000, "minute"},
                 Unit{1'000, "second"}}) {
    if (ms >= u.ms && ms % u.ms == 0) {
      const int64_t n = ms / u.ms;
      s += " (" + std::to_string(n) + " " + u.name + (n == 1 ? "" : "s") + ")";
      break;
    }
  }
  return s;
}

std::string FormatDouble(double d) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, d);
  return std::string(buf, r.ptr);
}

}  // namespace

std::string Child(std::string_view base, std::string_view key) {
  std::string out(base);
  out.reserve(base.size() + key.size() + 1);
  out += '/';
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

std::string Child(std::string_view base, size_t index) {
  std::string out(base);
  out += '/';
  out += std::to_string(index);
  return out;
}

bool PointerLess(std::string_view a, std::string_view b) {
  auto is_index = [](std::string_view t) {
    return !t.empty() && t.size() < 10 &&
           std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  // Both start with '/' (or are ""); compare one token at a time.
  while (!a.empty() && !b.empty()) {
    a.remove_prefix(1);
    b.remove_prefix(1);
    const std::string_view ta = a.substr(0, a.find('/'));
    const std::string_view tb = b.substr(0, b.find('/'));
    if (ta != tb) {
      if (is_index(ta) && is_index(tb)) {
        if (ta.size() != tb.size()) return ta.size() < tb.size();  // no leading zeros
      }
      return ta < tb;
    }
    a.remove_prefix(ta.size());
    b.remove_prefix(tb.size());
  }
  return a.empty() && !b.empty();
}

std::string Clip(std::string_view s) {
  constexpr size_t kMaxShown = 64;
  if (s.size() <= kMaxShown) return std::string(s);
  size_t cut = kMaxShown;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  std::string out(s.substr(0, cut));
  out += "...";
  return out;
}

std::string Quote(std::string_view s) { return "'" + Clip(s) + "'"; }

void Checker::Add(std::string pointer, std::string message) {
  if (errors_.size() >= kMaxValidationErrors) {
    ++omitted_;
    return;
  }
  errors_.push_back({std::move(pointer), std::move(message)});
}

std::vector<ValidationError> Checker::Take() {
  std::stable_sort(errors_.begin(), errors_.end(),
                   [](const ValidationError& a, const ValidationError& b) {
                     return PointerLess(a.pointer, b.pointer);
                   });
  return std::move(errors_);
}

void Checker::UnknownKeys(const json::Value& obj, std::string_view ptr,
                          std::initializer_list<std::string_view> allowed) {
  for (const json::Member& m : obj.as_object()) {
    if (std::find(allowed.begin(), allowed.end(), m.first) != allowed.end()) continue;
    if (errors_.size() >= kMaxValidationErrors) {
      ++omitted_;  // counted, not worth a message nobody will see
      continue;
    }
    std::string message = "unknown field " + Quote(m.first);
    std::string_view best;
    size_t best_distance = 3;  // suggest only for up to 2 edits
    for (std::string_view a : allowed) {
      // Lengths that differ by more than 2 cannot be within 2 edits; this also
      // keeps a megabyte-long key from costing a megabyte-sized table.
      if (m.first.size() > a.size() + 2 || a.size() > m.first.size() + 2) continue;
      const size_t d = EditDistance(m.first, a);
      if (d < best_distance && d < a.size() / 2 + 1) {
        best = a;
        best_distance = d;
      }
    }
    if (!best.empty()) {
      message += "; did you mean '";
      message += best;
      message += "'?";
    }
    Add(Child(ptr, m.first), std::move(message));
  }
}

std::optional<int64_t> Checker::Integer(const json::Value* v, const std::string& ptr,
                                        std::string_view field, int64_t min, int64_t max) {
  if (v == nullptr) return std::nullopt;
  if (!v->is_int() || v->as_int() < min || v->as_int() > max) {
    Add(ptr, std::string(field) + " must be an integer from " + std::to_string(min) + " to " +
                 std::to_string(max));
    return std::nullopt;
  }
  return v->as_int();
}

std::optional<double> Checker::Number(const json::Value* v, const std::string& ptr,
                                      std::string_view field, double min, double max) {
  if (v == nullptr) return std::nullopt;
  if (!v->is_number() || !(v->as_double() >= min && v->as_double() <= max)) {
    Add(ptr, std::string(field) + " must be a number from " + FormatDouble(min) + " to " +
                 FormatDouble(max));
    return std::nullopt;
  }
  return v->as_double();
}

const std::string* Checker::String(const json::Value* v, const std::string& ptr,
                                   std::string_view field) {
  if (v == nullptr) return nullptr;
  if (!v->is_string()) {
    Add(ptr,
        std::string(field) + " must be a string, not " + std::string(json::TypeName(v->type())));
    return nullptr;
  }
  return &v->as_string();
}

std::optional<Nanos> Checker::Millis(const json::Value* v, const std::string& ptr,
                                     std::string_view field, Nanos min, Nanos max) {
  if (v == nullptr) return std::nullopt;
  if (!v->is_int() || v->as_int() < min / kMillis || v->as_int() > max / kMillis) {
    Add(ptr, std::string(field) + " must be an integer number of milliseconds from " +
                 DescribeMillis(min) + " to " + DescribeMillis(max));
    return std::nullopt;
  }
  return v->as_int() * kMillis;
}

}  // namespace rf::engine::detail
