// AuditLog over the embedded AuditFiles on a two-shard reactor: entries committed on any shard
// become durable and readable newest first; the per-shard bound refuses (never drops) once full,
// and a store that fails keeps its entries queued, so the bound is reached and mutations would
// be refused; Close flushes what is queued. AuditFiles on its own: pages, time bounds, rotation
// under a size bound, and a torn last line cut at reopen.

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <atomic>
#include <string>
#include <thread>

#include "auth/audit_log.h"
#include "reactor/shard.h"
#include "reactor/submit_to.h"
#include "reactor/test_reactor.h"
#include "store/embedded/audit_files.h"
#include "test_support.h"

using rf::Errc;
using rf::Error;
using rf::Result;
using rf::Status;
using rf::auth::AuditLog;
using rf::auth::AuditOptions;
using rf::reactor::Reactor;
using rf::reactor::Task;
using rf::store::AuditEntry;
using rf::store::AuditPage;
using rf::store::AuditQuery;
using rf::store::embedded::AuditFiles;

namespace {

AuditEntry Entry(std::string ns, int64_t at_ms, std::string route = "/v1/workflows/{name}") {
  AuditEntry e;
  e.at_ms = at_ms;
  e.subject = "key:0123456789abcdef";
  e.ns = std::move(ns);
  e.method = "PUT";
  e.route = std::move(route);
  e.target = "{\"name\":\"w\\\"1\"}";
  e.status = 201;
  e.request_id = "req-1";
  return e;
}

// A store whose appends fail until told otherwise.
class FailingStore final : public rf::store::AuditStore {
 public:
  bool fail = true;
  size_t appended = 0;
  Task<Status> Open() override { co_return Status{}; }
  Task<Status> Append(std::vector<AuditEntry>& entries) override {
    if (fail) co_return Error{Errc::kIo, "disk on fire"};
    appended += entries.size();
    co_return Status{};
  }
  Task<Result<AuditPage>> Query(AuditQuery) override { co_return AuditPage{}; }
  Task<Result<uint64_t>> Trim(int64_t, int64_t) override { co_return uint64_t{0}; }
  Task<Status> Close() override { co_return Status{}; }
};

struct Ctx {
  std::string dir;
  std::unique_ptr<AuditLog> log;
  FailingStore* failing = nullptr;
  AuditPage page;
  AuditPage page2;
  size_t accepted = 0;
  bool refused = false;
  std::string metrics;
};
Ctx* g = nullptr;

bool ReserveAndCommit(AuditLog* log, unsigned shard, std::string ns, int64_t at) {
  if (!log->Reserve(shard)) return false;
  log->Commit(shard, Entry(std::move(ns), at));
  return true;
}

Task<Result<AuditPage>> WaitFor(size_t n, AuditQuery q) {
  for (int i = 0; i < 500; ++i) {
    auto page = co_await g->log->Query(q);
    if (!page || page->entries.size() >= n) co_return page;
    co_await rf::reactor::Sleep(2 * rf::kMillis);
  }
  co_return co_await g->log->Query(q);
}

Task<void> CommitOnBothShards(Reactor&) {
  CO_REQUIRE((co_await g->log->Open()).has_value());
  for (int i = 0; i < 3; ++i) {
    auto op = rf::reactor::SubmitTo(static_cast<unsigned>(i % 2), &ReserveAndCommit, g->log.get(),
                                    static_cast<unsigned>(i % 2), std::string("team-a"), int64_t{1000 + i});
    CO_REQUIRE(co_await op);
  }
  CO_REQUIRE(ReserveAndCommit(g->log.get(), 0, "team-b", 2000));
  AuditQuery q;
  q.ns = "team-a";
  auto page = co_await WaitFor(3, q);
  CO_REQUIRE(page.has_value());
  g->page = std::move(*page);
  q.limit = 2;
  auto first = co_await g->log->Query(q);
  CO_REQUIRE(first.has_value());
  CO_REQUIRE(first->next_before != 0);
  q.before_id = first->next_before;
  auto second = co_await g->log->Query(q);
  CO_REQUIRE(second.has_value());
  g->page2 = std::move(*second);
  co_await g->log->Close();
}

// Shard 1 commits A and then stalls its thread before its flusher can run (a descheduled
// shard), while shard 0 commits B once A's commit happened: B reaches the writer first.
std::atomic<bool> a_committed{false};
bool CommitThenStall(AuditLog* log) {
  const bool ok = ReserveAndCommit(log, 1, "team-a", 1);
  a_committed = true;
  std::this_thread::sleep_for(std::chrono::milliseconds(120));
  return ok;
}
Task<void> CommitAfterA() {
  while (!a_committed) co_await rf::reactor::Sleep(rf::kMillis);
  CHECK(ReserveAndCommit(g->log.get(), 0, "team-a", 2));
}

Task<void> CommitOrderAcrossShards(Reactor&) {
  CO_REQUIRE((co_await g->log->Open()).has_value());
  rf::reactor::TaskGroup b;
  rf::reactor::Spawn(CommitAfterA(), &b);
  auto op = rf::reactor::SubmitTo(1u, &CommitThenStall, g->log.get());
  CO_REQUIRE(co_await op);
  co_await b.Wait();
  AuditQuery q;
  q.ns = "team-a";
  auto page = co_await WaitFor(2, q);
  CO_REQUIRE(page.has_value());
  g->page = std::move(*page);
  g->log->RenderMetrics(g->metrics);
  co_await g->log->Close();
}

Task<void> FillWhileFailing(Reactor&) {
  CO_REQUIRE((co_await g->log->Open()).has_value());
  while (ReserveAndCommit(g->log.get(), 0, "default", 1)) ++g->accepted;
  g->refused = true;
  g->log->RenderMetrics(g->metrics);
  g->failing->fail = false;  // the store recovers: the queue drains, room comes back
  for (int i = 0; i < 500 && g->failing->appended < g->accepted; ++i) co_await rf::reactor::Sleep(5 * rf::kMillis);
  CHECK(g->failing->appended == g->accepted);
  CHECK(ReserveAndCommit(g->log.get(), 0, "default", 2));
  co_await g->log->Close();  // flushes the last one
  CHECK(g->failing->appended == g->accepted + 1);
}

}  // namespace

TEST_SUITE("auth.audit_log") {
TEST_CASE("entries from both shards are durable, newest first, paged by cursor, one namespace each") {
  rf::test::TempDir dir("rf-audit");
  Ctx ctx;
  g = &ctx;
  ctx.log = std::make_unique<AuditLog>(std::make_unique<AuditFiles>(dir.path() + "/audit", 1 << 20, false),
                                       AuditOptions{}, 2);
  rf::test::RunOnReactor(2, &CommitOnBothShards);
  REQUIRE(ctx.page.entries.size() == 3);
  CHECK(ctx.page.entries[0].id > ctx.page.entries[1].id);
  CHECK(ctx.page.entries[1].id > ctx.page.entries[2].id);
  for (const AuditEntry& e : ctx.page.entries) {
    CHECK(e.ns == "team-a");
    CHECK(e.target == "{\"name\":\"w\\\"1\"}");
    CHECK(e.request_id == "req-1");
    CHECK(e.status == 201);
  }
  CHECK(ctx.page.next_before == 0);
  REQUIRE(ctx.page2.entries.size() == 1);
  CHECK(ctx.page2.entries[0].id == ctx.page.entries[2].id);
}

TEST_CASE("ids follow the commit order across shards, even when the earlier entry arrives later") {
  rf::test::TempDir dir("rf-audit");
  Ctx ctx;
  g = &ctx;
  ctx.log = std::make_unique<AuditLog>(std::make_unique<AuditFiles>(dir.path() + "/audit", 1 << 20, false),
                                       AuditOptions{}, 2);
  rf::test::RunOnReactor(2, &CommitOrderAcrossShards);
  REQUIRE(ctx.page.entries.size() == 2);
  CHECK(ctx.page.entries[0].at_ms == 2);  // newest first: B, then A
  CHECK(ctx.page.entries[1].at_ms == 1);
  CHECK(ctx.metrics.find("rf_audit_reorder_timeouts_total 0") != std::string::npos);
}

TEST_CASE("a store that fails: the queue fills and refuses, nothing is dropped, it drains after") {
  Ctx ctx;
  g = &ctx;
  auto store = std::make_unique<FailingStore>();
  ctx.failing = store.get();
  AuditOptions o;
  o.queue = 16;
  ctx.log = std::make_unique<AuditLog>(std::move(store), o, 2);
  rf::test::RunOnReactor(2, &FillWhileFailing);
  CHECK(ctx.accepted == 16);
  CHECK(ctx.refused);
  CHECK(ctx.metrics.find("rf_audit_rejected_total 1") != std::string::npos);
  CHECK(ctx.metrics.find("rf_audit_queue_entries 16") != std::string::npos);
  CHECK(ctx.metrics.find("rf_audit_dropped_total 0") != std::string::npos);
}

TEST_CASE("audit lines round-trip; a torn or foreign line is skipped") {
  AuditEntry e = Entry("default", 1234);
  e.id = 7;
  const std::string line = rf::store::embedded::EncodeAuditLine(e);
  CHECK(line.back() == '\n');
  auto back = rf::store::embedded::DecodeAuditLine(std::string_view(line).substr(0, line.size() - 1));
  REQUIRE(back.has_value());
  CHECK(back->id == 7);
  CHECK(back->target == e.target);
  CHECK(back->subject == e.subject);
  CHECK_FALSE(rf::store::embedded::DecodeAuditLine(line.substr(0, line.size() / 2)).has_value());
  CHECK_FALSE(rf::store::embedded::DecodeAuditLine("{\"id\":1}").has_value());
  AuditQuery q;
  q.ns = "default";
  std::vector<AuditEntry> out;
  rf::store::embedded::ScanAuditText(line + "garbage\n" + line.substr(0, 20), q, out);
  CHECK(out.size() == 1);
}
}

namespace {

struct FilesCtx {
  std::string dir;
  uint64_t max_bytes = 1 << 20;
  int batches = 0;
  AuditPage page;
  AuditPage timed;
  Status open;
};
FilesCtx* f = nullptr;

Task<void> AppendBatches(Reactor&) {
  AuditFiles files(f->dir, f->max_bytes, true);
  f->open = co_await files.Open();
  CO_REQUIRE(f->open.has_value());
  for (int b = 0; b < f->batches; ++b) {
    std::vector<AuditEntry> batch;
    for (int i = 0; i < 10; ++i) batch.push_back(Entry("default", 1'000'000 + b * 10 + i));
    CO_REQUIRE((co_await files.Append(batch)).has_value());
  }
  AuditQuery q;
  q.ns = "default";
  q.limit = 1000;
  auto page = co_await files.Query(q);
  CO_REQUIRE(page.has_value());
  f->page = std::move(*page);
  q.since_ms = 1'000'005;
  q.until_ms = 1'000'008;
  auto timed = co_await files.Query(q);
  CO_REQUIRE(timed.has_value());
  f->timed = std::move(*timed);
  co_await files.Close();
}

size_t CountFiles(const std::string& dir) {
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) n += e.path().extension() == ".jsonl";
  return n;
}

}  // namespace

TEST_SUITE("store.audit_files") {
TEST_CASE("appends survive a reopen with ids going on; a torn last line is cut") {
  rf::test::TempDir dir("rf-audit-files");
  FilesCtx ctx;
  f = &ctx;
  ctx.dir = dir.path() + "/audit";
  ctx.batches = 2;
  rf::test::RunOnReactor(1, &AppendBatches);
  REQUIRE(ctx.page.entries.size() == 20);
  CHECK(ctx.page.entries.front().id == 20);
  REQUIRE(ctx.timed.entries.size() == 3);
  CHECK(ctx.timed.entries.front().at_ms == 1'000'007);
  // A crash mid-append: half a line at the end of the newest file.
  std::string newest;
  for (const auto& e : std::filesystem::directory_iterator(ctx.dir)) newest = std::max(newest, e.path().string());
  std::ofstream(newest, std::ios::app) << "{\"id\":21,\"at_ms\":1,\"names";
  ctx.batches = 1;
  rf::test::RunOnReactor(1, &AppendBatches);
  REQUIRE(ctx.page.entries.size() == 30);
  CHECK(ctx.page.entries.front().id == 30);
  CHECK(ctx.page.entries[10].id == 20);
}

TEST_CASE("past the size bound the oldest files go, the newest entries stay") {
  rf::test::TempDir dir("rf-audit-files");
  FilesCtx ctx;
  f = &ctx;
  ctx.dir = dir.path() + "/audit";
  ctx.max_bytes = 64 * 1024;  // 8 KiB files
  ctx.batches = 100;          // ~250 KB written
  rf::test::RunOnReactor(1, &AppendBatches);
  uint64_t total = 0;
  for (const auto& e : std::filesystem::directory_iterator(ctx.dir)) total += std::filesystem::file_size(e.path());
  CHECK(total <= ctx.max_bytes + 8 * 1024);
  CHECK(CountFiles(ctx.dir) >= 4);
  REQUIRE_FALSE(ctx.page.entries.empty());
  CHECK(ctx.page.entries.front().id == 1000);
  CHECK(ctx.page.entries.size() < 1000);
  for (size_t i = 1; i < ctx.page.entries.size(); ++i)
    CHECK(ctx.page.entries[i].id == ctx.page.entries[i - 1].id - 1);
}
}
