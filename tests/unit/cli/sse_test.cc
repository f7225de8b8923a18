#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "cli/sse.h"

namespace rf::cli {

TEST_SUITE("cli.sse") {
  TEST_CASE("events are split at blank lines with id, type and data") {
    SseParser p;
    std::vector<SseEvent> out;
    REQUIRE(p.Feed("id: 1\nevent: run.created\ndata: {\"seq\":1}\n\n: heartbeat\n\nid: 2\ndata: x\n\n", out));
    REQUIRE(out.size() == 2);
    CHECK(out[0].id == "1");
    CHECK(out[0].event == "run.created");
    CHECK(out[0].data == "{\"seq\":1}");
    CHECK(out[1].event == "message");
    CHECK(p.last_id() == "2");
  }

  TEST_CASE("the same events come out whatever the pieces and line endings") {
    const std::string wire = "id: 7\r\nevent: e\r\ndata: a\r\ndata: b\r\n\r\nid: 8\rdata: c\r\r";
    for (size_t piece = 1; piece <= wire.size(); ++piece) {
      CAPTURE(piece);
      SseParser p;
      std::vector<SseEvent> out;
      for (size_t i = 0; i < wire.size(); i += piece) REQUIRE(p.Feed(wire.substr(i, piece), out));
      REQUIRE(out.size() == 2);
      CHECK(out[0].data == "a\nb");
      CHECK(out[0].event == "e");
      CHECK(out[1].data == "c");
      CHECK(p.last_id() == "8");
    }
  }

  TEST_CASE("comments and an event without data dispatch nothing") {
    SseParser p;
    std::vector<SseEvent> out;
    REQUIRE(p.Feed(": heartbeat\n\nevent: x\n\n", out));
    CHECK(out.empty());
  }

  TEST_CASE("an endless line is refused") {
    SseParser p;
    std::vector<SseEvent> out;
    std::string big(SseParser::kMaxEventBytes + 1, 'x');
    CHECK_FALSE(p.Feed("data: " + big, out));
  }
}

}  // namespace rf::cli
