#include "api/slo_state.h"

#include "json/parse.h"
#include "json/value.h"

namespace rf::api {
namespace {

void Counts(std::string& out, const SloCounts& c) {
  out += std::to_string(c.requests) + "," + std::to_string(c.errors) + "," + std::to_string(c.timed) +
         "," + std::to_string(c.slow);
}

void Snapshots(std::string& out, const std::vector<SloWindows::Snapshot>& list) {
  out += '[';
  for (size_t i = 0; i < list.size(); ++i) {
    out += i ? ",[" : "[";
    out += std::to_string(list[i].at_ms) + ",";
    Counts(out, list[i].counts);
    out += ']';
  }
  out += ']';
}

Error Corrupt(std::string_view what) {
  return Error{Errc::kCorrupt, "slo state: " + std::string(what)};
}

bool Uint(const json::Value& v, uint64_t& out) {
  if (!v.is_int() || v.as_int() < 0) return false;
  out = static_cast<uint64_t>(v.as_int());
  return true;
}

bool ReadCounts(const json::Array& a, size_t from, SloCounts& c) {
  return a.size() == from + 4 && Uint(a[from], c.requests) && Uint(a[from + 1], c.errors) &&
         Uint(a[from + 2], c.timed) && Uint(a[from + 3], c.slow) && c.errors <= c.requests &&
         c.slow <= c.timed;
}

bool NotAhead(const SloCounts& a, const SloCounts& b) {  // a <= b in every count
  return a.requests <= b.requests && a.errors <= b.errors && a.timed <= b.timed && a.slow <= b.slow;
}

Status ReadSnapshots(const json::Value* v, std::string_view name, const SloCounts& totals,
                     std::vector<SloWindows::Snapshot>& out) {
  if (!v || !v->is_array()) return Corrupt(std::string(name) + " is not an array");
  for (const json::Value& item : v->as_array()) {
    SloWindows::Snapshot s;
    if (!item.is_array() || item.as_array().empty() || !item.as_array()[0].is_int() ||
        !ReadCounts(item.as_array(), 1, s.counts))
      return Corrupt("a snapshot of " + std::string(name) + " is not [at_ms, 4 counts]");
    s.at_ms = item.as_array()[0].as_int();
    if (!out.empty() && (s.at_ms < out.back().at_ms || !NotAhead(out.back().counts, s.counts)))
      return Corrupt(std::string(name) + " go back in time or count");
    if (!NotAhead(s.counts, totals)) return Corrupt("a snapshot of " + std::string(name) + " is ahead of the totals");
    out.push_back(s);
  }
  return {};
}

}  // namespace

std::string EncodeSloState(const SloState& s) {
  std::string out = "{\"version\":1,\"since_ms\":" + std::to_string(s.since_ms) +
                    ",\"saved_ms\":" + std::to_string(s.saved_ms) +
                    ",\"measured_at_us\":" + std::to_string(s.measured_at_us) + ",\"totals\":[";
  Counts(out, s.totals);
  out += "],\"minutes\":";
  Snapshots(out, s.minutes);
  out += ",\"hours\":";
  Snapshots(out, s.hours);
  out += "}\n";
  return out;
}

Result<SloState> DecodeSloState(std::string_view text) {
  auto doc = json::Parse(text, {.max_bytes = 1 << 20, .max_depth = 4});
  if (!doc) return Corrupt(doc.error().ToString());
  if (!doc->is_object()) return Corrupt("not an object");
  const json::Value* version = doc->Find("version");
  if (!version || !version->is_int() || version->as_int() != 1) return Corrupt("not version 1");
  SloState s;
  for (auto [name, field] : {std::pair{"since_ms", &s.since_ms}, std::pair{"saved_ms", &s.saved_ms},
                             std::pair{"measured_at_us", &s.measured_at_us}}) {
    const json::Value* v = doc->Find(name);
    if (!v || !v->is_int() || v->as_int() < 0) return Corrupt(std::string(name) + " is not a count");
    *field = v->as_int();
  }
  const json::Value* totals = doc->Find("totals");
  if (!totals || !totals->is_array() || !ReadCounts(totals->as_array(), 0, s.totals))
    return Corrupt("totals is not 4 counts");
  if (Status st = ReadSnapshots(doc->Find("minutes"), "minutes", s.totals, s.minutes); !st) return st.error();
  if (Status st = ReadSnapshots(doc->Find("hours"), "hours", s.totals, s.hours); !st) return st.error();
  return s;
}

}  // namespace rf::api
