#include "store/embedded/schedule_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "json/parse.h"
#include "json/writer.h"
#include "reactor/offload.h"
#include "store/embedded/table_file.h"

namespace rf::store::embedded {
namespace {

constexpr const char* kFile = "schedules.json";
constexpr const char* kJournal = "schedules.journal";
constexpr uint64_t kMinCompactBytes = 1 << 20;

struct TurnGuard {
  reactor::Turns& t;
  ~TurnGuard() { t.Release(); }
};

void EncodeRow(const ScheduleRow& r, Buffer& out) {
  out.Append("{\"name\":");
  json::WriteString(r.name, out);
  out.Append(",\"partition\":" + std::to_string(r.partition) + ",\"spec\":");
  json::WriteString(r.spec, out);
  out.Append(std::string(",\"paused\":") + (r.paused ? "true" : "false"));
  out.Append(",\"created_ms\":" + std::to_string(r.created_ms) +
             ",\"updated_ms\":" + std::to_string(r.updated_ms) +
             ",\"cursor_ms\":" + std::to_string(r.cursor_ms) + ",\"last_run\":");
  json::WriteString(r.last_run, out);
  out.Append("}");
}

bool DecodeRow(const json::Value& v, ScheduleRow& row) {
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
  int64_t partition = 0;
  const json::Value* paused = v.Find("paused");
  if (!str("name", row.name) || !num("partition", partition) || !str("spec", row.spec) ||
      paused == nullptr || !paused->is_bool() || !num("created_ms", row.created_ms) ||
      !num("updated_ms", row.updated_ms) || !num("cursor_ms", row.cursor_ms) ||
      !str("last_run", row.last_run) || partition < 0 || partition >= 1 << 16)
    return false;
  row.partition = static_cast<uint32_t>(partition);
  row.paused = paused->as_bool();
  return true;
}

Status AppendBlocking(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Error::FromErrno(errno, "open " + path);
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return Error::FromErrno(err, "write " + path);
    }
    done += static_cast<size_t>(n);
  }
  if (::fdatasync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    return Error::FromErrno(err, "fdatasync " + path);
  }
  ::close(fd);
  return {};
}

Status TruncateBlocking(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Error::FromErrno(errno, "truncate " + path);
  const int rc = ::fdatasync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return Error::FromErrno(err, "fdatasync " + path);
  return {};
}

}  // namespace

std::string ScheduleFile::Encode(const std::map<std::string, ScheduleRow>& rows) {
  Buffer out;
  out.Append("{\"version\":1,\"schedules\":[");
  bool first = true;
  for (const auto& [name, r] : rows) {
    out.Append(first ? "\n" : ",\n");
    first = false;
    EncodeRow(r, out);
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
    ScheduleRow row;
    if (!DecodeRow(v, row))
      return Error{Errc::kCorrupt, std::string(kFile) + ": schedule " + std::to_string(out.size()) +
                                       " lacks a field or has one of the wrong type"};
    std::string name = row.name;
    out.emplace(std::move(name), std::move(row));
  }
  return out;
}

Status ScheduleFile::ApplyJournal(std::string_view text, std::map<std::string, ScheduleRow>& rows) {
  size_t pos = 0, line_no = 0;
  while (pos < text.size()) {
    ++line_no;
    const size_t nl = text.find('\n', pos);
    const bool last = nl == std::string_view::npos || nl + 1 >= text.size();
    const std::string_view line =
        text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    auto bad = [&](const char* what) {
      return Error{Errc::kCorrupt,
                   std::string(kJournal) + ": line " + std::to_string(line_no) + ": " + what};
    };
    auto v = json::Parse(line, {.max_bytes = line.size() + 1, .max_depth = 8});
    if (!v || nl == std::string_view::npos) {
      if (last) break;  // a torn append: the change was never acknowledged
      return bad("not JSON");
    }
    const json::Value* op = v->Find("op");
    if (op == nullptr || !op->is_string()) return bad("no op");
    if (op->as_string() == "put") {
      const json::Value* r = v->Find("row");
      ScheduleRow row;
      if (r == nullptr || !DecodeRow(*r, row)) return bad("a put without a whole row");
      std::string name = row.name;
      rows[name] = std::move(row);
    } else if (op->as_string() == "delete") {
      const json::Value* n = v->Find("name");
      if (n == nullptr || !n->is_string()) return bad("a delete without a name");
      rows.erase(n->as_string());
    } else if (op->as_string() == "fired") {
      const json::Value* n = v->Find("name");
      const json::Value* c = v->Find("cursor_ms");
      const json::Value* r = v->Find("last_run");
      if (!n || !n->is_string() || !c || !c->is_int() || !r || !r->is_string())
        return bad("a fire without its fields");
      auto it = rows.find(n->as_string());
      if (it != rows.end() && it->second.cursor_ms <= c->as_int()) {
        it->second.cursor_ms = c->as_int();
        it->second.last_run = r->as_string();
      }
    } else {
      return bad("unknown op");
    }
  }
  return {};
}

reactor::Task<Status> ScheduleFile::EnsureLoaded() {
  if (loaded_) co_return Status{};
  auto text = co_await ReadTableFile(dir_, kFile);  // suspends
  if (!text) co_return text.error();
  std::map<std::string, ScheduleRow> rows;
  if (!text->empty()) {
    auto decoded = Decode(*text);
    if (!decoded) co_return Error{decoded.error().code, dir_ + "/" + decoded.error().context};
    rows = std::move(*decoded);
  }
  snapshot_bytes_ = text->size();
  auto journal = co_await ReadTableFile(dir_, kJournal);  // suspends
  if (!journal) co_return journal.error();
  if (Status st = ApplyJournal(*journal, rows); !st)
    co_return Error{st.error().code, dir_ + "/" + st.error().context};
  journal_bytes_ = journal->size();
  rows_ = std::move(rows);
  loaded_ = true;
  co_return Status{};
}

reactor::Task<Status> ScheduleFile::Append(std::string lines) {
  auto op = reactor::Offload(
      [path = dir_ + "/" + kJournal, lines] { return AppendBlocking(path, lines); });
  Status st = co_await op;  // suspends
  if (!st) co_return st;
  journal_bytes_ += lines.size();
  if (Status applied = ApplyJournal(lines, rows_); !applied) co_return applied;
  if (journal_bytes_ < std::max<uint64_t>(kMinCompactBytes, snapshot_bytes_)) co_return Status{};
  std::string snapshot = Encode(rows_);
  const uint64_t size = snapshot.size();
  st = co_await WriteTableFile(dir_, kFile, std::move(snapshot));  // suspends
  if (!st) co_return st;
  snapshot_bytes_ = size;
  auto trunc = reactor::Offload([path = dir_ + "/" + kJournal] { return TruncateBlocking(path); });
  st = co_await trunc;  // suspends
  if (!st) co_return st;
  journal_bytes_ = 0;
  co_return Status{};
}

reactor::Task<Result<std::vector<ScheduleRow>>> ScheduleFile::Load(
    std::vector<uint32_t> partitions) {
  co_await turns_.Take();  // suspends
  TurnGuard g{turns_};
  loaded_ = false;
  Status st = co_await EnsureLoaded();  // suspends
  if (!st) co_return st.error();
  std::vector<ScheduleRow> out;
  for (const auto& [name, row] : rows_)
    if (std::find(partitions.begin(), partitions.end(), row.partition) != partitions.end())
      out.push_back(row);
  co_return out;
}

reactor::Task<Status> ScheduleFile::Put(ScheduleRow row) {
  co_await turns_.Take();  // suspends
  TurnGuard g{turns_};
  Status st = co_await EnsureLoaded();  // suspends
  if (!st) co_return st;
  Buffer line;
  line.Append("{\"op\":\"put\",\"row\":");
  EncodeRow(row, line);
  line.Append("}\n");
  co_return co_await Append(std::string(line.view()));  // suspends
}

reactor::Task<Status> ScheduleFile::Delete(std::string name) {
  co_await turns_.Take();  // suspends
  TurnGuard g{turns_};
  Status st = co_await EnsureLoaded();  // suspends
  if (!st) co_return st;
  if (!rows_.contains(name)) co_return Error{Errc::kNotFound, "no schedule " + name};
  Buffer line;
  line.Append("{\"op\":\"delete\",\"name\":");
  json::WriteString(name, line);
  line.Append("}\n");
  co_return co_await Append(std::string(line.view()));  // suspends
}

reactor::Task<Status> ScheduleFile::Fired(std::vector<ScheduleFire> fires) {
  if (fires.empty()) co_return Status{};
  co_await turns_.Take();  // suspends
  TurnGuard g{turns_};
  Status st = co_await EnsureLoaded();  // suspends
  if (!st) co_return st;
  Buffer lines;
  for (const ScheduleFire& f : fires) {
    lines.Append("{\"op\":\"fired\",\"name\":");
    json::WriteString(f.name, lines);
    lines.Append(",\"cursor_ms\":" + std::to_string(f.cursor_ms) + ",\"last_run\":");
    json::WriteString(f.last_run, lines);
    lines.Append("}\n");
  }
  co_return co_await Append(std::string(lines.view()));  // suspends
}

}  // namespace rf::store::embedded
