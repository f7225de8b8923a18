#include "app/archive.h"

#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>

#include "base/buffer.h"
#include "json/writer.h"
#include "store/history/embedded_history.h"
#include "store/postgres/pg_history.h"
#include "store/run_log.h"

namespace rf::app {
namespace {

void Field(Buffer& out, std::string_view name, std::string_view value) {
  out.Append(",\"");
  out.Append(name);
  out.Append("\":");
  json::WriteString(value, out);
}

void Number(Buffer& out, std::string_view name, int64_t value) {
  out.Append(",\"");
  out.Append(name);
  out.Append("\":");
  out.Append(std::to_string(value));
}

// One line: {"id":..,"workflow":..,...,"records":[<record>,...]}\n
Status Line(const store::HistoryRun& r, Buffer& out) {
  out.Append("{\"id\":");
  json::WriteString(r.id.ToString(), out);
  Field(out, "workflow", r.workflow);
  Number(out, "version", r.version);
  Field(out, "status", store::RunStatusName(r.status));
  Number(out, "created_ms", r.created_ms);
  Number(out, "finished_ms", r.finished_ms);
  if (!r.idempotency_key.empty()) Field(out, "idempotency_key", r.idempotency_key);
  if (!r.error.empty()) Field(out, "error", r.error);
  if (!r.failed_step.empty()) Field(out, "step", r.failed_step);
  out.Append(",\"records\":[");
  bool first = true;
  Status st = store::ForEachLogRecord(r.log, [&](std::string_view record) -> Status {
    if (!first) out.Append(",");
    first = false;
    out.Append(record);  // already compact JSON
    return {};
  });
  out.Append("]}\n");
  return st;
}

}  // namespace

// A scratch directory removed at scope exit (the RocksDB secondary's own files).
struct Scratch {
  std::string path;
  ~Scratch() {
    if (!path.empty()) std::filesystem::remove_all(path);
  }
};

Result<std::unique_ptr<store::HistoryStore>> OpenHistory(const Config& config, Scratch& scratch) {
  if (config.store == Store::kPostgres) {
    store::pg::PgOptions o;
    o.url = config.database_url;
    // Export opens its own connection; the shards' pools are not needed.
    return std::unique_ptr<store::HistoryStore>(
        std::make_unique<store::pg::PgHistoryStore>(o, [] { return store::pg::PgHistoryStore::ShardPools{}; }));
  }
  const std::string dir = config.data_dir + "/history";
  if (!std::filesystem::exists(dir + "/CURRENT"))
    return Error{Errc::kNotFound, "no history store in " + dir};
  char tmpl[] = "/tmp/ringflow-archive-XXXXXX";
  if (!::mkdtemp(tmpl)) return Error::FromErrno(errno, "mkdtemp");
  scratch.path = tmpl;
  auto h = store::history::EmbeddedHistoryStore::OpenSecondary(dir, scratch.path);
  if (!h) return h.error();
  return std::unique_ptr<store::HistoryStore>(std::move(*h));
}

int Archive(const Config& config) {
  Scratch scratch;
  auto history = OpenHistory(config, scratch);
  if (!history) {
    std::fprintf(stderr, "ringflow archive: %s\n", history.error().ToString().c_str());
    return 1;
  }
  const bool to_stdout = config.archive_out == "-";
  gzFile gz = to_stdout ? gzdopen(::dup(STDOUT_FILENO), "wb6") : gzopen(config.archive_out.c_str(), "wb6");
  if (!gz) {
    std::fprintf(stderr, "ringflow archive: cannot write %s\n", config.archive_out.c_str());
    return 1;
  }
  const int64_t before_ms = WallNow() / kMillis - config.archive_before / kMillis;
  size_t runs = 0;
  Buffer line;
  Status st = (*history)->Export(before_ms, [&](const store::HistoryRun& r) -> Status {
    line.Clear();
    if (Status l = Line(r, line); !l) return l;
    if (gzwrite(gz, line.view().data(), static_cast<unsigned>(line.view().size())) !=
        static_cast<int>(line.view().size()))
      return Error{Errc::kIo, "cannot write " + config.archive_out};
    ++runs;
    return {};
  });
  const bool closed = gzclose(gz) == Z_OK;
  history->reset();
  if (!st || !closed) {
    std::fprintf(stderr, "ringflow archive: %s\n",
                 st ? ("cannot finish " + config.archive_out).c_str() : st.error().ToString().c_str());
    return 1;
  }
  std::fprintf(stderr, "ringflow archive: %zu runs that finished before %lld ms written to %s\n", runs,
               static_cast<long long>(before_ms), config.archive_out.c_str());
  return 0;
}

}  // namespace rf::app
