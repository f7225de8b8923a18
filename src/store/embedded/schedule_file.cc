#include "store/embedded/schedule_file.h"

#include <algorithm>

#include "json/parse.h"
#include "json/writer.h"
#include "store/embedded/table_file.h"

namespace rf::store::embedded {
namespace {

constexpr const char* kFile = "schedules.json";

// Releases the turn on every path out of a change.
struct TurnGuard {
  reactor::Turns& t;
  ~TurnGuard() { t.Release(); }
};

}  // namespace

std::string ScheduleFile::Encode(const std::map<std::string, ScheduleRow>& rows) {
  Buffer out;
  out.Append("{\"version\":1,\"schedules\":[");
  bool first = true;
  for (const auto& [name, r] : rows) {
    if (!first) out.Append(",");
    first = false;
    out.Append("\n{\"name\":");
    json::WriteString(r.name, out);
    out.Append(",\"partition\":" + std::to_string(r.partition) + ",\"spec\":");
    json::WriteString(r.spec, out);
    out.Append(std::string(",\"paused\":") + (r.paused ? "true" : "false"));
    out.Append(",\"created_ms\":" + std::to_string(r.created_ms) + ",\"updated_ms\":" +
               std::to_string(r.updated_ms) + ",\"cursor_ms\":" + std::to_string(r.cursor_ms) +
               ",\"last_run\":");
    json::WriteString(r.last_run, out);
    out.Append("}");
  }
  out.Append("\n]}\n");
  return std::string(out.view());
}

Result<std::map<std::string, ScheduleRow>> ScheduleFile::Decode(std::string_view text) {
  auto doc = json::Parse(text, {.max_bytes = 1u << 30, .max_depth = 8});
  if (!doc) return Error{Errc::kCorrupt, std::string(kFile) + ": " + doc.error().context};
  const json::Value* list = doc->Find("schedules");
  if (list == nullptr || !list->is_array())
    return Error{Errc::kCorrupt, std::string(kFile) + ": no \"schedules\" array"};
  std::map<std::string, ScheduleRow> out;
  for (const json::Value& v : list->as_array()) {
    auto str = [&](const char* f, std::string& dst) {
      const json::Value* x = v.Find(f);
      if (x == nullptr || !x->is_string()) return false;
      dst = x->as_string();
      return true;
    };
    auto num = [&](const char* f, int64_t& dst) {
      const json::Value* x = v.Find(f);
      if (x == nullptr || !x->is_int()) return false;
      dst = x->as_int();
      return true;
    };
    ScheduleRow row;
    int64_t partition = 0;
    const json::Value* paused = v.Find("paused");
    if (!str("name", row.name) || !num("partition", partition) || !str("spec", row.spec) ||
        paused == nullptr || !paused->is_bool() || !num("created_ms", row.created_ms) ||
        !num("updated_ms", row.updated_ms) || !num("cursor_ms", row.cursor_ms) ||
        !str("last_run", row.last_run) || partition < 0 || partition >= 1 << 16)
      return Error{Errc::kCorrupt, std::string(kFile) + ": schedule " + std::to_string(out.size()) +
                                       " lacks a field or has one of the wrong type"};
    row.partition = static_cast<uint32_t>(partition);
    row.paused = paused->as_bool();
    std::string name = row.name;
    out.emplace(std::move(name), std::move(row));
  }
  return out;
}

reactor::Task<Status> ScheduleFile::EnsureLoaded() {
  if (loaded_) co_return Status{};
  auto text = co_await ReadTableFile(dir_, kFile);  // suspends
  if (!text) co_return text.error();
  if (!text->empty()) {
    auto rows = Decode(*text);
    if (!rows) co_return Error{rows.error().code, dir_ + "/" + rows.error().context};
    rows_ = std::move(*rows);
  }
  loaded_ = true;
  co_return Status{};
}

reactor::Task<Status> ScheduleFile::Save(std::map<std::string, ScheduleRow> rows) {
  Status st = co_await WriteTableFile(dir_, kFile, Encode(rows));  // suspends
  if (st) rows_ = std::move(rows);
  co_return st;
}

reactor::Task<Result<std::vector<ScheduleRow>>> ScheduleFile::Load(std::vector<uint32_t> partitions) {
  co_await turns_.Take();  // suspends
  TurnGuard g{turns_};
  loaded_ = false;
  Status st = co_await EnsureLoaded();  // suspends
  if (!st) co_return st.error();
  std::vector<ScheduleRow> out;
  for (const auto& [name, row] : rows_)
    if (std::find(partitions.begin(), partitions.end(), row.partition) != partitions.end()) out.push_back(row);
  co_return out;
}

reactor::Task<Status> ScheduleFile::Put(ScheduleRow row) {
  co_await turns_.Take();  // suspends
  TurnGuard g{turns_};
  Status st = co_await EnsureLoaded();  // suspends
  if (!st) co_return st;
  auto next = rows_;
  std::string name = row.name;
  next[name] = std::move(row);
  co_return co_await Save(std::move(next));  // suspends
}

reactor::Task<Status> ScheduleFile::Delete(std::string name) {
  co_await turns_.Take();  // suspends
  TurnGuard g{turns_};
  Status st = co_await EnsureLoaded();  // suspends
  if (!st) co_return st;
  if (!rows_.contains(name)) co_return Error{Errc::kNotFound, "no schedule " + name};
  auto next = rows_;
  next.erase(name);
  co_return co_await Save(std::move(next));  // suspends
}

reactor::Task<Status> ScheduleFile::Fired(std::vector<ScheduleFire> fires) {
  co_await turns_.Take();  // suspends
  TurnGuard g{turns_};
  Status st = co_await EnsureLoaded();  // suspends
  if (!st) co_return st;
  auto next = rows_;
  for (ScheduleFire& f : fires) {
    auto it = next.find(f.name);
    if (it == next.end() || it->second.cursor_ms > f.cursor_ms) continue;
    it->second.cursor_ms = f.cursor_ms;
    it->second.last_run = std::move(f.last_run);
  }
  co_return co_await Save(std::move(next));  // suspends
}

}  // namespace rf::store::embedded
