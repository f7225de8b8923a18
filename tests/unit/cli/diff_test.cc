#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "cli/diff.h"

namespace rf::cli {
namespace {

std::string Diff(std::string_view a, std::string_view b, size_t context = 3) {
  return UnifiedDiff(SplitLines(a), SplitLines(b), "a", "b", {.context = context, .color = false});
}

// Applies a unified diff (no fuzz) to `a`: the check that a diff says what it claims.
std::string Patch(std::string_view a, const std::string& diff) {
  std::vector<std::string_view> in = SplitLines(a), out;
  std::vector<std::string_view> lines = SplitLines(diff);
  size_t pos = 0;  // next line of `in` not yet copied
  for (size_t i = 2; i < lines.size(); ++i) {
    std::string_view l = lines[i];
    if (l.starts_with("@@")) {
      size_t start = std::stoul(std::string(l.substr(4)));
      size_t count = std::stoul(std::string(l.substr(l.find(',') + 1)));
      size_t first = count ? start - 1 : start;
      while (pos < first) out.push_back(in[pos++]);
      continue;
    }
    if (l[0] == ' ') {
      REQUIRE(in[pos] == l.substr(1));
      out.push_back(in[pos++]);
    } else if (l[0] == '-') {
      REQUIRE(in[pos] == l.substr(1));
      ++pos;
    } else {
      out.push_back(l.substr(1));
    }
  }
  while (pos < in.size()) out.push_back(in[pos++]);
  std::string text;
  for (auto s : out) text += std::string(s) + "\n";
  return text;
}

}  // namespace

TEST_SUITE("cli.diff") {
  TEST_CASE("equal texts give no diff") {
    CHECK(Diff("a\nb\n", "a\nb\n").empty());
    CHECK(Diff("", "").empty());
  }

  TEST_CASE("one changed line is shown with three lines of context either side") {
    std::string a = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
    std::string b = "1\n2\n3\n4\nFIVE\n6\n7\n8\n9\n";
    CHECK(Diff(a, b) ==
          "--- a\n+++ b\n"
          "@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+FIVE\n 6\n 7\n 8\n");
  }

  TEST_CASE("a new file is all additions from line 0") {
    CHECK(Diff("", "x\ny\n") == "--- a\n+++ b\n@@ -0,0 +1,2 @@\n+x\n+y\n");
  }

  TEST_CASE("changes far apart make separate hunks, close ones share one") {
    std::string a, b;
    for (int i = 1; i <= 30; ++i) {
      a += std::to_string(i) + "\n";
      b += (i == 3 || i == 25 ? "X" : std::to_string(i)) + "\n";
    }
    std::string d = Diff(a, b);
    CHECK(d.find("@@ -1,6 +1,6 @@") != std::string::npos);
    CHECK(d.find("@@ -22,7 +22,7 @@") != std::string::npos);
    std::string near;
    for (int i = 1; i <= 30; ++i) near += (i == 3 || i == 8 ? "X" : std::to_string(i)) + "\n";
    d = Diff(a, near);
    CHECK(d.find("@@ -1,11 +1,11 @@") != std::string::npos);
    CHECK(Patch(a, Diff(a, near)) == near);
  }

  TEST_CASE("a diff applied to the old text gives the new one") {
    const char* cases[][2] = {
        {"a\nb\nc\n", "a\nc\n"},
        {"a\nb\nc\n", "x\na\nb\nc\ny\n"},
        {"a\nb\nc\nd\ne\n", "e\nd\nc\nb\na\n"},
        {"{\n  \"x\": 1,\n  \"y\": [\n    1\n  ]\n}\n", "{\n  \"y\": [\n    1,\n    2\n  ],\n  \"z\": null\n}\n"},
        {"same\n", "different\n"},
    };
    for (auto& c : cases) {
      CAPTURE(c[0]);
      CAPTURE(c[1]);
      CHECK(Patch(c[0], Diff(c[0], c[1])) == c[1]);
    }
  }

  TEST_CASE("past kMaxEdits the middle is replaced whole, still a correct diff") {
    std::string a, b;
    for (size_t i = 0; i < kMaxEdits + 10; ++i) {
      a += "a" + std::to_string(i) + "\n";
      b += "b" + std::to_string(i) + "\n";
    }
    std::string d = Diff("head\n" + a + "tail\n", "head\n" + b + "tail\n");
    CHECK(Patch("head\n" + a + "tail\n", d) == "head\n" + b + "tail\n");
  }

  TEST_CASE("colour marks removed, added and hunk lines") {
    std::string d = UnifiedDiff(SplitLines("a\n"), SplitLines("b\n"), "x", "y", {.context = 3, .color = true});
    CHECK(d.find("\x1b[31m-a\x1b[0m") != std::string::npos);
    CHECK(d.find("\x1b[32m+b\x1b[0m") != std::string::npos);
  }
}

}  // namespace rf::cli
