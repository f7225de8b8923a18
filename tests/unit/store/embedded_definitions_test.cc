// EmbeddedDefinitionLog: definitions written through the store interface come
// back unchanged after a reopen, and journal records that do not decode as a
// definition stop the open with kCorrupt (never a crash, never a silent skip).

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "reactor/task.h"
#include "reactor/test_reactor.h"
#include "store/embedded/embedded_store.h"
#include "store/embedded/journal.h"
#include "test_support.h"

using rf::Errc;
using rf::Status;
using rf::reactor::Reactor;
using rf::reactor::Task;
using rf::store::DefinitionChange;
using rf::store::DefinitionSink;
using rf::store::embedded::EmbeddedDefinitionLog;
using rf::store::embedded::Journal;
using rf::store::embedded::JournalOptions;

namespace {

struct Collect : DefinitionSink {
  std::vector<DefinitionChange> changes;
  Status OnDefinition(const DefinitionChange& c) override {
    changes.push_back(c);
    return {};
  }
};

// State shared with the reactor bodies, which cannot capture.
struct Ctx {
  std::string dir;
  std::vector<DefinitionChange> write;
  std::vector<std::pair<uint8_t, std::string>> raw;  // written with the journal directly
  Collect read;
  Status opened;
};
Ctx* g = nullptr;

Task<void> WriteThenReopen() {
  {
    EmbeddedDefinitionLog log(g->dir, false);
    Collect none;
    Status st = co_await log.Open(none);  // suspends
    CO_REQUIRE(st.has_value());
    for (const DefinitionChange& c : g->write) log.Append(c);
    CO_REQUIRE((co_await log.Commit()).has_value());  // suspends
    CO_REQUIRE((co_await log.Close()).has_value());   // suspends
  }
  EmbeddedDefinitionLog log(g->dir, false);
  g->opened = co_await log.Open(g->read);  // suspends
  co_await log.Close();                    // suspends
}

Task<void> WriteRawThenOpen() {
  {
    JournalOptions o;
    o.dir = g->dir + "/definitions";
    o.fsync = false;
    struct Ignore : rf::store::embedded::ReplaySink {
      Status OnSnapshot(uint64_t, std::string_view) override { return {}; }
      Status OnRecord(uint64_t, uint8_t, std::string_view) override { return {}; }
    } ignore;
    auto j = co_await Journal::Open(o, ignore);  // suspends
    CO_REQUIRE(j.has_value());
    for (const auto& [type, payload] : g->raw) (*j)->Append(type, payload);
    CO_REQUIRE((co_await (*j)->Commit()).has_value());  // suspends
    CO_REQUIRE((co_await (*j)->Close()).has_value());   // suspends
  }
  EmbeddedDefinitionLog log(g->dir, false);
  g->opened = co_await log.Open(g->read);  // suspends
  co_await log.Close();                    // suspends
}

void CheckCorrupt(const Ctx& c, std::string_view why) {
  REQUIRE_FALSE(c.opened.has_value());
  CHECK(c.opened.error().code == Errc::kCorrupt);
  INFO(c.opened.error().context);
  CHECK(c.opened.error().context.find(why) != std::string::npos);
}

}  // namespace

TEST_SUITE("store.embedded_definitions") {
  TEST_CASE("puts and deletes come back in order, sources byte for byte" * doctest::timeout(30)) {
    rf::test::TempDir tmp("rf-defs");
    Ctx c;
    c.dir = tmp.path();
    const std::string odd = "{ \"name\" : \"w\",\n  \"steps\": [{\"id\":\"\\u00e9\",\"type\":\"noop\"}] }";
    c.write = {{.kind = DefinitionChange::Kind::kPut, .name = "w", .version = 1, .source = odd},
               {.kind = DefinitionChange::Kind::kDelete, .name = "w", .version = 0, .source = {}},
               {.kind = DefinitionChange::Kind::kPut, .name = "w", .version = 2, .source = "{\"x\":\"\\\"\"}"}};
    g = &c;
    rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> { co_await WriteThenReopen(); });
    REQUIRE_MESSAGE(c.opened.has_value(), c.opened.error().ToString());
    REQUIRE(c.read.changes.size() == 3);
    for (size_t i = 0; i < 3; ++i) {
      CAPTURE(i);
      CHECK(c.read.changes[i].kind == c.write[i].kind);
      CHECK(c.read.changes[i].name == c.write[i].name);
      CHECK(c.read.changes[i].version == c.write[i].version);
      CHECK(c.read.changes[i].source == c.write[i].source);
    }
  }

  TEST_CASE("records that are not definitions stop the open with kCorrupt" * doctest::timeout(30)) {
    const std::vector<std::pair<std::pair<uint8_t, std::string>, std::string>> cases = {
        {{1, "{\"name\":\"w\",\"vers"}, "undecodable"},
         {{2, "not json"}, "undecodable"},
         {{1, "[1,2]"}, "no name"},
         {{1, R"({"name":"w","version":"1","source":"{}"})"}, "put without version or source"},
         {{0, R"({"name":"w","version":1,"source":"{}"})"}, "unknown type 0"},
         {{3, R"({"name":"w","version":1,"source":"{}"})"}, "unknown type 3"}};
    for (const auto& [record, why] : cases) {
      CAPTURE(record.second);
      rf::test::TempDir tmp("rf-defs");
      Ctx c;
      c.dir = tmp.path();
      c.raw = {record};
      g = &c;
      rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> { co_await WriteRawThenOpen(); });
      CheckCorrupt(c, why);
      CHECK(c.read.changes.empty());
    }
  }
}
