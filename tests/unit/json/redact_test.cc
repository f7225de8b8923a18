#include "json/redact.h"

#include <doctest/doctest.h>

#include "json/parse.h"
#include "json/writer.h"

namespace rf::json {

TEST_SUITE("json.redact") {
  TEST_CASE("every occurrence in strings and keys, at any depth, becomes [redacted]") {
    auto v = Parse(R"({"a":"x-TOKEN-y TOKEN","TOKEN":[1,"TOKEN",{"k":"no"}],"n":7})");
    REQUIRE(v.has_value());
    CHECK(RedactValue(*v, {"TOKEN"}) == 4);
    CHECK(ToString(*v) == R"({"a":"x-[redacted]-y [redacted]","[redacted]":[1,"[redacted]",{"k":"no"}],"n":7})");
  }

  TEST_CASE("a value containing another is hidden whole; empty values change nothing") {
    std::string text = "url?t=abc123&u=abc";
    CHECK(RedactText(text, {"abc", "", "abc123"}) == 2);
    CHECK(text == "url?t=[redacted]&u=[redacted]");
    std::string same = "nothing here";
    CHECK(RedactText(same, {""}) == 0);
    Value n(nullptr);
    CHECK(RedactValue(n, {"x"}) == 0);
  }
}

}  // namespace rf::json
