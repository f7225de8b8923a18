#include "json/pointer.h"

#include <doctest/doctest.h>

#include "json/parse.h"

namespace rf::json {
namespace {

Value Doc() {
  auto v = Parse(R"({"a":{"b":[10,{"c":"deep"}]},"":"empty","x/y":1,"m~n":2,"~1":3,"0":"zero"})");
  REQUIRE(v.has_value());
  return std::move(*v);
}

}  // namespace

TEST_SUITE("json.pointer") {
  TEST_CASE("the empty pointer is the root and '/' names the empty key") {
    const Value doc = Doc();
    CHECK(Resolve(doc, "") == &doc);
    REQUIRE(Resolve(doc, "/") != nullptr);
    CHECK(Resolve(doc, "/")->as_string() == "empty");
  }

  TEST_CASE("tokens walk object members and array indexes") {
    const Value doc = Doc();
    REQUIRE(Resolve(doc, "/a/b/0") != nullptr);
    CHECK(Resolve(doc, "/a/b/0")->as_int() == 10);
    CHECK(Resolve(doc, "/a/b/1/c")->as_string() == "deep");
    CHECK(Resolve(doc, "/0")->as_string() == "zero");  // a numeric token on an object is a key
    CHECK(Resolve(doc, "/a/missing") == nullptr);
    CHECK(Resolve(doc, "/a/b/1/c/more") == nullptr);
  }

  TEST_CASE("~1 stands for '/' and ~0 for '~' and other escapes are invalid") {
    const Value doc = Doc();
    CHECK(Resolve(doc, "/x~1y")->as_int() == 1);
    CHECK(Resolve(doc, "/m~0n")->as_int() == 2);
    CHECK(Resolve(doc, "/~01")->as_int() == 3);  // "~01" is "~1", not "/"
    CHECK(Resolve(doc, "/x/y") == nullptr);
    CHECK(Resolve(doc, "/m~2n") == nullptr);
    CHECK(Resolve(doc, "/m~") == nullptr);
  }

  TEST_CASE("array tokens must be plain indexes within bounds") {
    const Value doc = Doc();
    CHECK(Resolve(doc, "/a/b/01") == nullptr);
    CHECK(Resolve(doc, "/a/b/-") == nullptr);
    CHECK(Resolve(doc, "/a/b/2") == nullptr);
    CHECK(Resolve(doc, "/a/b/+1") == nullptr);
    CHECK(Resolve(doc, "/a/b/1x") == nullptr);
    CHECK(Resolve(doc, "/a/b/") == nullptr);
    CHECK(Resolve(doc, "/a/b/99999999999999999999999") == nullptr);
  }

  TEST_CASE("a pointer that does not start with '/' resolves to nothing") {
    const Value doc = Doc();
    CHECK(Resolve(doc, "a") == nullptr);
    CHECK(Resolve(doc, "#/a") == nullptr);
  }

  TEST_CASE("escaped tokens resolve back to the keys they were made from") {
    const Value doc = Doc();
    CHECK(EscapePointerToken("x/y") == "x~1y");
    CHECK(EscapePointerToken("~1") == "~01");
    CHECK(EscapePointerToken("plain") == "plain");
    for (const char* key : {"x/y", "m~n", "~1", ""}) {
      const Value* v = Resolve(doc, "/" + EscapePointerToken(key));
      REQUIRE(v != nullptr);
      CHECK(v == doc.Find(key));
    }
  }
}

}  // namespace rf::json
