#include <doctest/doctest.h>

#include <string>

#include "http/client/url.h"

namespace rf::http::client {
namespace {

Url Parsed(std::string_view s) {
  Result<Url> r = ParseUrl(s);
  REQUIRE_MESSAGE(r.has_value(), s);
  return *r;
}

Error Rejected(std::string_view s) {
  Result<Url> r = ParseUrl(s);
  REQUIRE_MESSAGE(!r.has_value(), s);
  return r.error();
}

}  // namespace

TEST_SUITE("http.client_url") {
  TEST_CASE("a plain http URL yields host, default port 80 and the path with its query") {
    CHECK(Parsed("http://example.com/a/b?x=1&y=2") ==
          Url{.host = "example.com", .port = 80, .target = "/a/b?x=1&y=2"});
  }

  TEST_CASE("an explicit port is used and an empty path becomes '/'") {
    CHECK(Parsed("http://127.0.0.1:9000") == Url{.host = "127.0.0.1", .port = 9000, .target = "/"});
    CHECK(Parsed("http://h:8080?q") == Url{.host = "h", .port = 8080, .target = "/?q"});
  }

  TEST_CASE("an empty port after ':' means the default port") {
    CHECK(Parsed("http://h:/x").port == 80);
  }

  TEST_CASE("scheme and host are case-insensitive and the host is lower-cased") {
    CHECK(Parsed("HTTP://Example.COM/Path") ==
          Url{.host = "example.com", .port = 80, .target = "/Path"});
  }

  TEST_CASE("an IPv6 literal in brackets is accepted and stored without brackets") {
    CHECK(Parsed("http://[::1]:8080/x") == Url{.host = "::1", .port = 8080, .target = "/x"});
    CHECK(Parsed("http://[2001:db8::1]/") == Url{.host = "2001:db8::1", .port = 80, .target = "/"});
  }

  TEST_CASE("the fragment is not part of the request target") {
    CHECK(Parsed("http://h/p?q=1#frag").target == "/p?q=1");
    CHECK(Parsed("http://h#frag").target == "/");
  }

  TEST_CASE("https: port 443 by default, left out of Host only when it is 443") {
    CHECK(Parsed("https://Example.com/x") == Url{.host = "example.com", .port = 443, .tls = true, .target = "/x"});
    CHECK(Parsed("HTTPS://h:8443") == Url{.host = "h", .port = 8443, .tls = true, .target = "/"});
    CHECK(HostHeaderValue(Parsed("https://h/")) == "h");
    CHECK(HostHeaderValue(Parsed("https://h:80/")) == "h:80");
    CHECK(HostHeaderValue(Parsed("http://h:443/")) == "h:443");
    CHECK(Rejected("https://user:pw@h/").code == Errc::kInvalidArgument);
    CHECK(Rejected("https:/h").code == Errc::kInvalidArgument);
  }

  TEST_CASE("other schemes and relative references are rejected") {
    for (std::string_view s : {"ftp://h/", "h/x", "/x", "", "http:/h", "http//h", "ws://h"}) {
      CHECK_MESSAGE(Rejected(s).code == Errc::kInvalidArgument, s);
    }
  }

  TEST_CASE("userinfo in the authority is rejected") {
    CHECK(Rejected("http://user:pw@h/").code == Errc::kInvalidArgument);
    CHECK(Rejected("http://user@h/").code == Errc::kInvalidArgument);
  }

  TEST_CASE("an '@' in the path is not userinfo") {
    CHECK(Parsed("http://h/a@b").target == "/a@b");
  }

  TEST_CASE("bad hosts are rejected") {
    for (std::string_view s : {"http:///x", "http://:80/", "http://h%41/", "http://a b/",
                               "http://[::1/", "http://[not-v6]/", "http://[::1]x/",
                               "http://[fe80::1%25eth0]/", "http://[]/", "http://h\x01/"}) {
      CHECK_MESSAGE(Rejected(s).code == Errc::kInvalidArgument, s);
    }
  }

  TEST_CASE("ports outside 1..65535 or not plain digits are rejected") {
    for (std::string_view s : {"http://h:0/", "http://h:65536/", "http://h:-1/", "http://h:+80/",
                               "http://h:8a/", "http://h:999999/", "http://[::1]:x/"}) {
      CHECK_MESSAGE(Rejected(s).code == Errc::kInvalidArgument, s);
    }
    CHECK(Parsed("http://h:65535/").port == 65535);
  }

  TEST_CASE("spaces, control characters and non-ASCII bytes in path or query are rejected") {
    for (std::string_view s : {"http://h/a b", "http://h/a\r\nX: y", "http://h/\x7f",
                               "http://h/?q=\t", "http://h/caf\xc3\xa9"}) {
      CHECK_MESSAGE(Rejected(s).code == Errc::kInvalidArgument, s);
    }
    CHECK(Parsed("http://h/caf%C3%A9").target == "/caf%C3%A9");
  }

  TEST_CASE("a URL longer than 8 KiB is rejected and one of exactly 8 KiB is not") {
    std::string url = "http://h/";
    url.append(kMaxUrlBytes - url.size(), 'a');
    CHECK(Parsed(url).target.size() == kMaxUrlBytes - 8);
    url.push_back('a');
    CHECK(Rejected(url).code == Errc::kInvalidArgument);
  }

  TEST_CASE("the Host header value brackets IPv6 and leaves out port 80") {
    CHECK(HostHeaderValue(Parsed("http://h/")) == "h");
    CHECK(HostHeaderValue(Parsed("http://h:8080/")) == "h:8080");
    CHECK(HostHeaderValue(Parsed("http://[::1]/")) == "[::1]");
    CHECK(HostHeaderValue(Parsed("http://[::1]:81/")) == "[::1]:81");
  }
}

}  // namespace rf::http::client
