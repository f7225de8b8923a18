#include "json/utf8.h"

#include <doctest/doctest.h>

#include <string>

namespace rf::json {

TEST_SUITE("json.utf8") {
  TEST_CASE("well-formed sequences of one to four bytes are accepted") {
    CHECK(IsValidUtf8(""));
    CHECK(IsValidUtf8("plain ascii"));
    CHECK(IsValidUtf8("\xc3\xa9"));          // U+00E9
    CHECK(IsValidUtf8("\xe2\x82\xac"));      // U+20AC
    CHECK(IsValidUtf8("\xef\xbf\xbd"));      // U+FFFD
    CHECK(IsValidUtf8("\xf0\x9f\x98\x80"));  // U+1F600
    CHECK(IsValidUtf8("\xf4\x8f\xbf\xbf"));  // U+10FFFF
    CHECK(IsValidUtf8(std::string(1, '\0')));
  }

  TEST_CASE("surrogates, overlong forms, stray and truncated bytes are refused") {
    CHECK_FALSE(IsValidUtf8("\xed\xa0\x80"));      // U+D800, a lone high surrogate
    CHECK_FALSE(IsValidUtf8("\xed\xbf\xbf"));      // U+DFFF
    CHECK_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong '/'
    CHECK_FALSE(IsValidUtf8("\xe0\x80\xaf"));      // overlong
    CHECK_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // above U+10FFFF
    CHECK_FALSE(IsValidUtf8("\x80"));              // a stray continuation byte
    CHECK_FALSE(IsValidUtf8("\xff"));
    CHECK_FALSE(IsValidUtf8("\xe2\x82"));  // truncated
  }

  TEST_CASE("ToValidUtf8 replaces each bad byte with U+FFFD and keeps the rest") {
    CHECK(ToValidUtf8("ok \xc3\xa9") == "ok \xc3\xa9");
    CHECK(ToValidUtf8("a\xff"
                      "b") ==
          "a\xef\xbf\xbd"
          "b");
    CHECK(ToValidUtf8("\xed\xa0\x80") == "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    CHECK(ToValidUtf8("\xe2\x82") == "\xef\xbf\xbd\xef\xbf\xbd");
    CHECK(IsValidUtf8(ToValidUtf8("\x80\x81\xfe\xff\xc3")));
  }

  TEST_CASE("TruncateUtf8 cuts at a sequence boundary") {
    std::string s = "ab\xe2\x82\xac";
    TruncateUtf8(s, 4);
    CHECK(s == "ab");
    s = "ab\xe2\x82\xac";
    TruncateUtf8(s, 5);
    CHECK(s == "ab\xe2\x82\xac");
    s = "abcdef";
    TruncateUtf8(s, 3);
    CHECK(s == "abc");
  }
}

}  // namespace rf::json
