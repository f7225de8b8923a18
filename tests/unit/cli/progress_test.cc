#include <doctest/doctest.h>

#include <string>

#include "cli/progress.h"
#include "cli/table.h"
#include "json/parse.h"

namespace rf::cli {
namespace {

json::Value J(std::string_view text) {
  auto v = json::Parse(text);
  REQUIRE(v.has_value());
  return std::move(*v);
}

// A run as GET /v1/runs/{id} gives it: one step done, one waiting on a timer, one pending.
const char* kRun = R"({"id":"r1","workflow":"hello","version":2,"status":"waiting",
  "created_ms":1000000,"finished_ms":0,
  "steps":[
    {"id":"greet","type":"transform","status":"succeeded","attempts":[{"started_ms":1000000,"finished_ms":1000012}]},
    {"id":"pause","type":"delay","status":"waiting","due_ms":1002500,"attempts":[{"started_ms":1000012,"finished_ms":0}]},
    {"id":"fetch","type":"http","status":"retrying","due_ms":1001000,"error":"HTTP 503",
     "attempts":[{"started_ms":1000012,"finished_ms":1000020,"error":"HTTP 503"}, {"started_ms":1000030,"finished_ms":1000040,"error":"HTTP 503"}]},
    {"id":"ok","type":"approval","status":"pending","attempts":[]}]})";

}  // namespace

TEST_SUITE("cli.progress") {
  TEST_CASE("the live block has a header and one aligned line per step") {
    std::string text = RenderProgress(J(kRun), 1'002'000, {.color = false, .utf8 = false, .columns = 200});
    CHECK(text ==
          "run r1  hello v2  waiting  2.0s\n"
          "  ok greet  transform  succeeded  12ms\n"
          "  .. pause  delay      waiting    1.9s  due in 500ms\n"
          "  r> fetch  http       retrying  (attempt 2)  28ms  due now  HTTP 503\n"
          "   . ok     approval   pending\n");
  }

  TEST_CASE("lines are cut to the terminal width so the block's height is its line count") {
    std::string text = RenderProgress(J(kRun), 1'002'000, {.color = false, .utf8 = true, .columns = 30});
    size_t lines = 0;
    for (size_t start = 0; start < text.size();) {
      size_t end = text.find('\n', start);
      std::string line = text.substr(start, end - start);
      CHECK(DisplayWidth(line) < 30);
      start = end + 1;
      ++lines;
    }
    CHECK(lines == 5);
    CHECK(text.find("\xE2\x9C\x93 greet") != std::string::npos);  // ✓
  }

  TEST_CASE("plain event lines") {
    CHECK(EventLine(J(R"({"seq":1,"type":"run.created","run":"r","at_ms":3723004,"data":{"workflow":"w","version":1}})")) ==
          "01:02:03.004  run.created    w v1");
    CHECK(EventLine(J(R"({"seq":2,"type":"step.failed","run":"r","at_ms":0,"step":"s","data":{"attempt":2,"error":"boom"}})")) ==
          "00:00:00.000  step.failed    s  attempt 2: boom");
    CHECK(EventLine(J(R"({"seq":3,"type":"run.failed","run":"r","at_ms":0,"data":{"error":"bad","step":"s"}})")) ==
          "00:00:00.000  run.failed     bad (step s)");
    CHECK(EventLine(J(R"({"seq":4,"type":"run.waiting","run":"r","at_ms":0})")) == "00:00:00.000  run.waiting");
  }

  TEST_CASE("summary and terminal statuses") {
    CHECK(Summary(J(R"({"id":"r","status":"failed","created_ms":1000,"finished_ms":4000,"error":{"message":"m","step":"s"}})")) ==
          "run r failed in 3.0s: m (step s)");
    CHECK(IsTerminal("cancelled"));
    CHECK_FALSE(IsTerminal("waiting"));
  }

  TEST_CASE("run detail lists fields and a step table") {
    std::string text = RenderRun(J(R"({"id":"r","workflow":"w","version":1,"status":"succeeded","priority":"default",
      "created_ms":1000,"finished_ms":2500,"input":{"a":1},"output":{"b":2},
      "steps":[{"id":"s","type":"noop","status":"succeeded","attempts":[{"started_ms":1000,"finished_ms":1100}]}]})"));
    CHECK(text ==
          "run       r\n"
          "workflow  w (version 1)\n"
          "status    succeeded\n"
          "priority  default\n"
          "created   1970-01-01 00:00:01\n"
          "finished  1970-01-01 00:00:02 (1.5s)\n"
          "input     {\"a\":1}\n"
          "output    {\"b\":2}\n"
          "\n"
          "STEP  TYPE  STATUS     ATTEMPTS  DURATION  ERROR\n"
          "s     noop  succeeded  1         100ms\n");
  }
}

}  // namespace rf::cli
