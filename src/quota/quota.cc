#include "quota/quota.h"

#include <algorithm>
#include <cmath>

#include "base/tenancy.h"
#include "json/parse.h"

namespace rf::quota {
namespace {

constexpr double kMaxRate = 1e9;
constexpr int64_t kMaxLive = int64_t{1} << 40;
constexpr int64_t kMaxHistoryBytes = int64_t{1} << 60;  // 1 EiB

// "123", "64K", "512M", "2G", "1T" (powers of 1024); false for anything else or too large.
bool ParseBytes(std::string_view s, int64_t& out) {
  if (s.empty() || s.size() > 20) return false;
  int shift = 0;
  switch (s.back()) {
    case 'K': shift = 10; break;
    case 'M': shift = 20; break;
    case 'G': shift = 30; break;
    case 'T': shift = 40; break;
    default: break;
  }
  if (shift) s.remove_suffix(1);
  if (s.empty()) return false;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    if (v > kMaxHistoryBytes / 10) return false;
    v = v * 10 + (c - '0');
  }
  if (v > (kMaxHistoryBytes >> shift)) return false;
  out = v << shift;
  return true;
}

Error Bad(const std::string& pointer, const std::string& what) {
  return Error{Errc::kInvalidArgument, pointer + ": " + what};
}

Status ParseLimits(const json::Value& v, const std::string& at, Limits& out, bool named) {
  if (!v.is_object()) return Bad(at, "must be an object of limits");
  for (const auto& [k, x] : v.as_object()) {
    const std::string field = at + "/" + k;
    const bool number = x.is_number();
    const double d = number ? x.as_double() : 0;
    if (k == "requests_per_second" || k == "starts_per_second") {
      if (!number || !std::isfinite(d) || d < 0 || d > kMaxRate)
        return Bad(field, "must be a number of requests a second from 0 (no limit) to 1e9");
      (k == "requests_per_second" ? out.requests_per_second : out.starts_per_second) = d;
    } else if (k == "burst_seconds") {
      if (!number || !std::isfinite(d) || d < 0.001 || d > 3600)
        return Bad(field, "must be a number of seconds from 0.001 to 3600");
      out.burst_seconds = d;
    } else if (k == "live_runs") {
      if (!x.is_int() || x.as_int() < 0 || x.as_int() > kMaxLive)
        return Bad(field, "must be an integer from 0 (no limit) to 2^40");
      out.live_runs = x.as_int();
    } else if (k == "retained_history_bytes") {
      int64_t bytes = 0;
      const bool ok = x.is_int() ? (bytes = x.as_int()) >= 0 && bytes <= kMaxHistoryBytes
                                 : x.is_string() && ParseBytes(x.as_string(), bytes);
      if (!ok)
        return Bad(field, "must be a number of bytes from 0 (no limit) to 2^60: an integer, or a "
                          "string with a K, M, G or T suffix (\"512M\")");
      out.retained_history_bytes = bytes;
    } else if (k == "egress_allow" && named) {
      // Checked entry by entry where the policy is built (app/, http/client/egress_policy.h).
      if (x.is_string()) {
        out.egress_allow = x.as_string();
      } else if (x.is_array()) {
        out.egress_allow.clear();
        for (size_t i = 0; i < x.as_array().size(); ++i) {
          const json::Value& e = x.as_array()[i];
          if (!e.is_string() || e.as_string().empty() || e.as_string().find(',') != std::string::npos)
            return Bad(field + "/" + std::to_string(i), "must be an address, CIDR or host pattern");
          if (i) out.egress_allow += ',';
          out.egress_allow += e.as_string();
        }
      } else {
        return Bad(field, "must be a list of addresses, CIDRs and host patterns (an array, or one "
                          "comma-separated string)");
      }
    } else if (k == "egress_allow") {
      return Bad(field, "only a namespace has its own egress allowlist; the daemon's is --egress-allow");
    } else {
      return Bad(field, "unknown limit (expected requests_per_second, starts_per_second, "
                        "burst_seconds, live_runs, retained_history_bytes" + std::string(named ? ", egress_allow)" : ")"));
    }
  }
  return {};
}

// Whether `set` holds for the defaults or for any namespace's limits.
template <class Set>
bool Anywhere(const Config& c, Set set) {
  return set(c.defaults) ||
         std::any_of(c.namespaces.begin(), c.namespaces.end(), [&](const auto& kv) { return set(kv.second); });
}

}  // namespace

bool Config::any() const {
  return Anywhere(*this, [](const Limits& l) {
    return l.requests_per_second > 0 || l.starts_per_second > 0 || l.live_runs > 0 ||
           l.retained_history_bytes > 0;
  });
}

bool Config::caps_history() const {
  return Anywhere(*this, [](const Limits& l) { return l.retained_history_bytes > 0; });
}

Result<Config> ParseConfig(std::string_view text) {
  auto doc = json::Parse(text, {.max_bytes = 1 << 20, .max_depth = 8});
  if (!doc) return Error{Errc::kInvalidArgument, "not JSON: " + doc.error().ToString()};
  if (!doc->is_object()) return Bad("", "must be an object {\"default\": {...}, \"namespaces\": {...}}");
  Config c;
  // "default" first: a namespace's missing fields come from it.
  if (const json::Value* d = doc->Find("default")) {
    if (Status st = ParseLimits(*d, "/default", c.defaults, false); !st) return st.error();
  }
  for (const auto& [k, v] : doc->as_object()) {
    if (k == "default") continue;
    if (k != "namespaces") return Bad("/" + k, "unknown field (expected default, namespaces)");
    if (!v.is_object()) return Bad("/namespaces", "must be an object of namespace -> limits");
    for (const auto& [ns, limits] : v.as_object()) {
      if (!ValidNamespace(ns)) return Bad("/namespaces/" + ns, "not a namespace name (1 to 63 of a-z 0-9 -)");
      Limits l = c.defaults;
      if (Status st = ParseLimits(limits, "/namespaces/" + ns, l, true); !st) return st.error();
      c.namespaces.emplace(ns, l);
    }
  }
  return c;
}

bool TokenBucket::Take(double rate, double capacity, Nanos now, Nanos& wait) {
  if (tokens_ < 0 || tokens_ > capacity) {
    tokens_ = capacity;
  } else {
    tokens_ = std::min(capacity, tokens_ + rate * static_cast<double>(now - last_) / kSeconds);
  }
  last_ = now;
  if (tokens_ >= 1) {
    tokens_ -= 1;
    return true;
  }
  wait = static_cast<Nanos>((1 - tokens_) / rate * kSeconds) + 1;
  return false;
}

bool TokenBucket::Idle(double rate, double capacity, Nanos now) const {
  return tokens_ < 0 || tokens_ + rate * static_cast<double>(now - last_) / kSeconds >= capacity;
}

}  // namespace rf::quota
