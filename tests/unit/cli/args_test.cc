#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/session.h"

namespace rf::cli {
namespace {

Result<Args> Parse(std::vector<std::string> words) {
  words.insert(words.begin(), "ringflow");
  return ParseArgs(words);
}

std::string ErrorOf(std::vector<std::string> words) {
  auto a = Parse(std::move(words));
  REQUIRE_FALSE(a.has_value());
  return a.error().context;
}

}  // namespace

TEST_SUITE("cli.args") {
  TEST_CASE("options may come anywhere, with = or a separate value") {
    auto a = Parse({"--server=http://h:1", "runs", "-o", "json", "start", "wf", "--input", "{}", "--wait"});
    REQUIRE(a.has_value());
    CHECK(std::string(a->command->group) == "runs");
    CHECK(std::string(a->command->verb) == "start");
    CHECK(a->words == std::vector<std::string>{"wf"});
    CHECK(a->Get("server") == "http://h:1");
    CHECK(a->Get("output") == "json");
    CHECK(a->Get("input") == "{}");
    CHECK(a->Has("wait"));
  }

  TEST_CASE("-- ends options, so an argument may start with a dash") {
    auto a = Parse({"runs", "get", "--", "-odd"});
    REQUIRE(a.has_value());
    CHECK(a->words == std::vector<std::string>{"-odd"});
  }

  TEST_CASE("usage errors say what is wrong") {
    CHECK(ErrorOf({}).starts_with("no command given"));
    CHECK(ErrorOf({"flows"}).starts_with("unknown command 'flows'"));
    CHECK(ErrorOf({"runs"}) == "runs needs a subcommand: start, get, list, watch, cancel, retry, signal");
    CHECK(ErrorOf({"runs", "get"}) == "runs get needs ID (ringflow runs get ID)");
    CHECK(ErrorOf({"runs", "signal", "a", "b", "c"}) == "runs signal: unexpected argument 'c'");
    CHECK(ErrorOf({"runs", "get", "x", "--payload", "1"}) == "runs get does not take --payload");
    CHECK(ErrorOf({"runs", "get", "x", "--nope"}).starts_with("unknown option --nope"));
    CHECK(ErrorOf({"runs", "list", "--limit"}).starts_with("option --limit needs a value"));
    CHECK(ErrorOf({"runs", "list", "--wait=1"}) == "option --wait takes no value");
    CHECK(ErrorOf({"runs", "list", "-o", "json", "-o", "name"}) == "option --output given twice");
    CHECK(ErrorOf({"runs", "list", "-o", "xml"}).starts_with("--output must be table, json or name"));
    CHECK(ErrorOf({"runs", "list", "-ojson"}).starts_with("unknown option -ojson"));
  }

  TEST_CASE("help is recognised with or without a group") {
    auto a = Parse({"help", "runs"});
    REQUIRE(a.has_value());
    CHECK(a->help);
    CHECK(a->help_group == "runs");
    auto b = Parse({"runs", "start", "--help"});
    REQUIRE(b.has_value());
    CHECK(b->help);
    CHECK(HelpText("runs").find("runs watch ID") != std::string::npos);
    CHECK(HelpText("").find("workflows apply FILE|DIR...") != std::string::npos);
  }

  TEST_CASE("durations are formatted for people") {
    CHECK(FormatDuration(0) == "0ms");
    CHECK(FormatDuration(999) == "999ms");
    CHECK(FormatDuration(1250) == "1.2s");
    CHECK(FormatDuration(123'000) == "2m03s");
    CHECK(FormatDuration(3'720'000) == "1h02m");
    CHECK(FormatDuration(2 * 86'400'000 + 3'600'000) == "2d01h");
    CHECK(FormatTime(0) == "-");
    CHECK(FormatTime(86'400'000) == "1970-01-02 00:00:00");
  }
}

}  // namespace rf::cli
