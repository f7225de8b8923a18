#include "store/embedded/audit_files.h"

#include <errno.h>
#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "json/parse.h"
#include "json/writer.h"
#include "reactor/offload.h"

namespace rf::store::embedded {
namespace {

// Entries reach the writer from every shard, so at_ms is not quite in id order: how far a
// time bound looks past where the order says it could stop.
constexpr int64_t kSlackMs = 60'000;
// The tail read at open to find the last whole line; an entry is far smaller.
constexpr size_t kTailWindow = 1u << 20;

std::string SegmentName(int64_t first_id, int64_t first_ms) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "audit-%020lld-%015lld.jsonl", static_cast<long long>(first_id),
                static_cast<long long>(first_ms));
  return buf;
}

bool ParseSegmentName(std::string_view n, AuditFiles::Segment& s) {
  if (n.size() != 6 + 20 + 1 + 15 + 6 || !n.starts_with("audit-") || !n.ends_with(".jsonl") || n[26] != '-')
    return false;
  auto num = [](std::string_view d, int64_t& out) {
    auto r = std::from_chars(d.data(), d.data() + d.size(), out);
    return r.ec == std::errc() && r.ptr == d.data() + d.size();
  };
  s.name = std::string(n);
  return num(n.substr(6, 20), s.first_id) && num(n.substr(27, 15), s.first_ms);
}

int64_t LineId(std::string_view line) {
  constexpr std::string_view kPrefix = "{\"id\":";
  if (!line.starts_with(kPrefix)) return -1;
  int64_t id = -1;
  const char* p = line.data() + kPrefix.size();
  std::from_chars(p, line.data() + line.size(), id);
  return id;
}

Result<int> OpenAppend(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return Error::FromErrno(errno, "open " + path);
  return fd;
}

struct Opened {
  std::vector<AuditFiles::Segment> segments;
  int fd = -1;  // the newest file, to append to; -1: the next append starts a new one
  int64_t next_id = 1;
};

// Finds the last whole line of the newest file, cuts what follows it (a torn append) and
// opens the file to append to, unless it is full or its end cannot be found.
Result<Opened> OpenBlocking(const std::string& dir, uint64_t segment_bytes) {
  if (auto st = MakeDirsBlocking(dir); !st) return st.error();
  auto names = ListDirBlocking(dir);
  if (!names) return names.error();
  Opened o;
  for (const std::string& n : *names) {
    AuditFiles::Segment s;
    if (!ParseSegmentName(n, s)) continue;
    struct stat st;
    if (::stat((dir + "/" + n).c_str(), &st) != 0) return Error::FromErrno(errno, "stat " + dir + "/" + n);
    s.bytes = static_cast<uint64_t>(st.st_size);
    o.segments.push_back(std::move(s));
  }
  std::sort(o.segments.begin(), o.segments.end(),
            [](const auto& a, const auto& b) { return a.first_id < b.first_id; });
  if (o.segments.empty()) return o;
  AuditFiles::Segment& last = o.segments.back();
  const std::string path = dir + "/" + last.name;
  // Ids are unique whatever the file holds: every entry takes at least a byte.
  o.next_id = last.first_id + static_cast<int64_t>(last.bytes) + 1;
  std::string tail;
  uint64_t from = last.bytes > kTailWindow ? last.bytes - kTailWindow : 0;
  {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) return Error::FromErrno(errno, "open " + path);
    tail.resize(last.bytes - from);
    ssize_t n = ::pread(fd.get(), tail.data(), tail.size(), static_cast<off_t>(from));
    if (n < 0) return Error::FromErrno(errno, "read " + path);
    tail.resize(static_cast<size_t>(n));
  }
  const size_t nl = tail.rfind('\n');
  if (nl == std::string::npos && from > 0) return o;  // no line end in the window: start anew
  const uint64_t keep = nl == std::string::npos ? 0 : from + nl + 1;
  if (keep < last.bytes) {
    if (auto st = TruncateBlocking(path, keep); !st) return st.error();
    last.bytes = keep;
  }
  if (nl == std::string::npos) {
    o.next_id = last.first_id;
  } else {
    const size_t prev = nl == 0 ? std::string::npos : tail.rfind('\n', nl - 1);
    const int64_t id = LineId(std::string_view(tail).substr(prev == std::string::npos ? 0 : prev + 1));
    if (id >= last.first_id) o.next_id = id + 1;
  }
  if (last.bytes < segment_bytes) {
    auto f = OpenAppend(path);
    if (!f) return f.error();
    o.fd = *f;
  }
  return o;
}

struct AppendJob {
  std::string dir;
  int fd = -1;       // the file to append to, unless `start` names a new one
  std::string start;  // non-empty: create this file for the batch (the old descriptor is closed)
  std::string text;
  bool fsync = true;
  std::vector<std::string> remove;  // oldest files past the size bound
};

// Returns the descriptor the batch went to; with `start`, the old one is closed then. On an
// error nothing is closed but a new file's descriptor.
Result<int> AppendBlocking(const AppendJob& job) {
  UniqueFd fresh;
  if (!job.start.empty()) {
    auto f = OpenAppend(job.dir + "/" + job.start);
    if (!f) return f.error();
    fresh = UniqueFd(*f);
  }
  const int fd = fresh.get() >= 0 ? fresh.get() : job.fd;
  const std::string what = job.dir + "/" + (job.start.empty() ? std::string("audit") : job.start);
  if (auto st = WriteAllBlocking(fd, job.text, what); !st) return st.error();
  if (job.fsync && ::fdatasync(fd) != 0) return Error::FromErrno(errno, "fdatasync " + what);
  for (const std::string& n : job.remove) {
    if (::unlink((job.dir + "/" + n).c_str()) != 0 && errno != ENOENT)
      return Error::FromErrno(errno, "unlink " + job.dir + "/" + n);
  }
  if (!job.start.empty() || !job.remove.empty()) {
    if (auto st = FsyncPathBlocking(job.dir); !st) return st.error();
  }
  if (fresh.get() >= 0 && job.fd >= 0) ::close(job.fd);  // the batch is in the new file
  return fresh.get() >= 0 ? fresh.Release() : fd;
}

}  // namespace

std::string EncodeAuditLine(const AuditEntry& e) {
  Buffer out;
  out.Append("{\"id\":" + std::to_string(e.id) + ",\"at_ms\":" + std::to_string(e.at_ms) +
             ",\"namespace\":");
  json::WriteString(e.ns, out);
  out.Append(",\"subject\":");
  json::WriteString(e.subject, out);
  out.Append(",\"method\":");
  json::WriteString(e.method, out);
  out.Append(",\"route\":");
  json::WriteString(e.route, out);
  out.Append(",\"target\":");
  out.Append(e.target.empty() ? std::string_view("{}") : std::string_view(e.target));
  out.Append(",\"status\":" + std::to_string(e.status) + ",\"request_id\":");
  json::WriteString(e.request_id, out);
  out.Append("}\n");
  return std::string(out.view());
}

std::optional<AuditEntry> DecodeAuditLine(std::string_view line) {
  auto doc = json::Parse(line, {.max_bytes = line.size(), .max_depth = 8});
  if (!doc || !doc->is_object()) return std::nullopt;
  AuditEntry e;
  auto str = [&](const char* f, std::string& dst) {
    const json::Value* v = doc->Find(f);
    if (v == nullptr || !v->is_string()) return false;
    dst = v->as_string();
    return true;
  };
  auto num = [&](const char* f, int64_t& dst) {
    const json::Value* v = doc->Find(f);
    if (v == nullptr || !v->is_int()) return false;
    dst = v->as_int();
    return true;
  };
  int64_t status = 0;
  const json::Value* target = doc->Find("target");
  if (!num("id", e.id) || !num("at_ms", e.at_ms) || !str("namespace", e.ns) ||
      !str("subject", e.subject) || !str("method", e.method) || !str("route", e.route) ||
      !num("status", status) || !str("request_id", e.request_id) || target == nullptr ||
      !target->is_object())
    return std::nullopt;
  e.status = static_cast<int>(status);
  e.target = json::ToString(*target);
  return e;
}

void ScanAuditText(std::string_view text, const AuditQuery& q, std::vector<AuditEntry>& out) {
  size_t end = text.size();
  while (end > 0 && out.size() <= q.limit) {
    const size_t nl = text.rfind('\n', end - 1);
    const size_t start = nl == std::string_view::npos ? 0 : nl + 1;
    const std::string_view line = text.substr(start, end - start);
    end = nl == std::string_view::npos ? 0 : nl;
    const int64_t id = LineId(line);
    if (id < 0 || (q.before_id > 0 && id >= q.before_id)) continue;
    auto e = DecodeAuditLine(line);
    if (!e) continue;  // half-written, or not ours
    if (q.since_ms > 0 && e->at_ms + kSlackMs < q.since_ms) return;
    if (e->ns != q.ns || (q.since_ms > 0 && e->at_ms < q.since_ms) ||
        (q.until_ms > 0 && e->at_ms >= q.until_ms))
      continue;
    out.push_back(std::move(*e));
  }
}

AuditFiles::AuditFiles(std::string dir, uint64_t max_bytes, bool fsync)
    : dir_(std::move(dir)),
      max_bytes_(max_bytes),
      segment_bytes_(std::clamp<uint64_t>(max_bytes / 8, 4096, 16u << 20)),
      fsync_(fsync) {}

AuditFiles::~AuditFiles() = default;

reactor::Task<Status> AuditFiles::Open() {
  auto op = reactor::Offload([dir = dir_, seg = segment_bytes_] { return OpenBlocking(dir, seg); });
  auto o = co_await op;  // suspends
  if (!o) co_return o.error();
  segments_ = std::move(o->segments);
  current_ = UniqueFd(o->fd);
  next_id_ = o->next_id;
  co_return Status{};
}

reactor::Task<Status> AuditFiles::Append(std::vector<AuditEntry>& entries) {
  if (entries.empty()) co_return Status{};
  AppendJob job;
  job.dir = dir_;
  job.fd = current_.get();
  job.fsync = fsync_;
  // A new file when there is none to append to, the newest is full, or the last append
  // failed (part of it may be there: a torn line must not merge with a whole one).
  if (job.fd < 0 || fresh_next_ || segments_.empty() || segments_.back().bytes >= segment_bytes_)
    job.start = SegmentName(next_id_, WallNow() / 1'000'000);
  for (AuditEntry& e : entries) {
    e.id = next_id_++;
    job.text += EncodeAuditLine(e);
  }
  uint64_t total = job.text.size();
  for (const Segment& s : segments_) total += s.bytes;
  const size_t keep_newest = job.start.empty() ? 1 : 0;  // the file being appended to stays
  for (size_t i = 0; i + keep_newest < segments_.size() && total > max_bytes_; ++i) {
    job.remove.push_back(segments_[i].name);
    total -= segments_[i].bytes;
  }
  auto op = reactor::Offload([&job] { return AppendBlocking(job); });
  auto fd = co_await op;  // suspends
  if (!fd) {
    fresh_next_ = true;
    co_return fd.error();
  }
  fresh_next_ = false;
  std::erase_if(segments_, [&](const Segment& s) {
    return std::find(job.remove.begin(), job.remove.end(), s.name) != job.remove.end();
  });
  if (!job.start.empty()) {
    (void)current_.Release();  // closed by the helper
    current_ = UniqueFd(*fd);
    Segment seg;
    ParseSegmentName(job.start, seg);  // a name made above: it parses
    segments_.push_back(std::move(seg));
  }
  segments_.back().bytes += job.text.size();
  co_return Status{};
}

reactor::Task<Result<AuditPage>> AuditFiles::Query(AuditQuery q) {
  std::vector<Segment> segs = segments_;
  auto op = reactor::Offload([dir = dir_, segs = std::move(segs), q]() -> Result<AuditPage> {
    std::vector<AuditEntry> out;
    for (size_t i = segs.size(); i-- > 0 && out.size() <= q.limit;) {
      if (q.before_id > 0 && segs[i].first_id >= q.before_id) continue;
      // Every entry of an older file is older than the next file's start (give or take the
      // slack): past `since`, nothing further back can match.
      if (q.since_ms > 0 && i + 1 < segs.size() && segs[i + 1].first_ms + kSlackMs < q.since_ms) break;
      auto text = ReadFileBlocking(dir + "/" + segs[i].name);
      if (!text) {
        if (text.error().sys_errno == ENOENT) continue;  // removed by the size bound meanwhile
        return text.error();
      }
      ScanAuditText(*text, q, out);
    }
    AuditPage page;
    if (out.size() > q.limit) {
      out.resize(q.limit);
      page.next_before = out.back().id;
    }
    page.entries = std::move(out);
    return page;
  });
  co_return co_await op;  // suspends
}

reactor::Task<Result<uint64_t>> AuditFiles::Trim(int64_t before_ms, int64_t /*term*/) {
  std::vector<std::string> old;
  for (size_t i = 0; i + 1 < segments_.size(); ++i)
    if (segments_[i + 1].first_ms + kSlackMs < before_ms) old.push_back(segments_[i].name);
  if (old.empty()) co_return uint64_t{0};
  auto op = reactor::Offload([dir = dir_, old]() -> Status {
    for (const std::string& n : old)
      if (::unlink((dir + "/" + n).c_str()) != 0 && errno != ENOENT)
        return Error::FromErrno(errno, "unlink " + dir + "/" + n);
    return FsyncPathBlocking(dir);
  });
  Status st = co_await op;  // suspends
  if (!st) co_return st.error();
  std::erase_if(segments_, [&](const Segment& s) { return std::find(old.begin(), old.end(), s.name) != old.end(); });
  co_return static_cast<uint64_t>(old.size());
}

reactor::Task<Status> AuditFiles::Close() {
  if (current_.get() < 0) co_return Status{};
  auto op = reactor::Offload([fd = current_.Release()] { ::close(fd); });
  co_await op;  // suspends
  co_return Status{};
}

}  // namespace rf::store::embedded
