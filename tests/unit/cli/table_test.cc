#include <doctest/doctest.h>

#include "cli/table.h"

namespace rf::cli {

TEST_SUITE("cli.table") {
  TEST_CASE("columns are padded to their widest cell, two spaces apart, last column unpadded") {
    Table t({"ID", "STATUS", "NOTE"});
    t.Add({"a", "succeeded", ""});
    t.Add({"bbbb", "failed", "x"});
    CHECK(t.Render() ==
          "ID    STATUS     NOTE\n"
          "a     succeeded\n"
          "bbbb  failed     x\n");
  }

  TEST_CASE("widths count code points so UTF-8 cells line up") {
    Table t({"N", "V"});
    t.Add({"\xC3\xA9t\xC3\xA9", "1"});  // "été": 5 bytes, 3 columns
    t.Add({"abc", "2"});
    CHECK(t.Render() == "N    V\n\xC3\xA9t\xC3\xA9  1\nabc  2\n");
    CHECK(DisplayWidth("\xC3\xA9t\xC3\xA9") == 3);
  }

  TEST_CASE("control characters in a cell become spaces so a value cannot break the layout") {
    Table t({"A", "B"});
    t.Add({"x\ny\x1b[2J", "z"});
    CHECK(t.Render() == "A        B\nx y [2J  z\n");
  }

  TEST_CASE("a column with a maximum width cuts longer cells with an ellipsis") {
    Table t({"ERR"});
    t.SetMaxWidth(0, 8);
    t.Add({"short"});
    t.Add({"a much longer message"});
    CHECK(t.Render() == "ERR\nshort\na muc...\n");
    CHECK(Truncate("\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9", 4) == "\xC3\xA9...");
  }

  TEST_CASE("missing cells are empty") {
    Table t({"A", "B", "C"});
    t.Add({"1"});
    CHECK(t.Render() == "A  B  C\n1\n");
  }
}

}  // namespace rf::cli
