#include <doctest/doctest.h>

#include <string>

#include "http/client/address_class.h"
#include "http/client/egress_policy.h"
#include "http/client/socket_address.h"

namespace rf::http::client {
namespace {

SocketAddress Ip(std::string_view text) {
  std::optional<SocketAddress> a = ParseIpLiteral(text);
  REQUIRE_MESSAGE(a.has_value(), text);
  return *a;
}

AddressClass Class(std::string_view text) { return ClassifyAddress(Ip(text)).cls; }

EgressPolicy Policy(std::string_view allow, EgressMode mode = EgressMode::kDenyPrivate) {
  Result<EgressPolicy> p = EgressPolicy::Parse(allow, mode);
  REQUIRE_MESSAGE(p.has_value(), allow);
  return *p;
}

std::string Refusal(std::string_view allow) {
  Result<EgressPolicy> p = EgressPolicy::Parse(allow);
  REQUIRE_MESSAGE(!p.has_value(), allow);
  CHECK(p.error().code == Errc::kInvalidArgument);
  return p.error().context;
}

bool Allowed(const EgressPolicy& p, std::string_view host, std::string_view ip) {
  return p.Check(host, Ip(ip)).has_value();
}

}  // namespace

TEST_SUITE("http.client_egress") {
  TEST_CASE("legacy IPv4 spellings denote the address libc resolvers give them") {
    CHECK(ParseLegacyIPv4("2130706433") == 0x7f000001u);
    CHECK(ParseLegacyIPv4("0177.0.0.1") == 0x7f000001u);
    CHECK(ParseLegacyIPv4("0x7f.1") == 0x7f000001u);
    CHECK(ParseLegacyIPv4("0x7f.0.0.1") == 0x7f000001u);
    CHECK(ParseLegacyIPv4("0X7F000001") == 0x7f000001u);
    CHECK(ParseLegacyIPv4("127.1") == 0x7f000001u);
    CHECK(ParseLegacyIPv4("127.0.1") == 0x7f000001u);
    CHECK(ParseLegacyIPv4("169.254.43518") == 0xa9fea9feu);
    CHECK(ParseLegacyIPv4("0") == 0u);
    CHECK(ParseLegacyIPv4("4294967295") == 0xffffffffu);
    // Not addresses: names, out-of-range parts, digits outside the base, empty parts.
    for (const char* s :
         {"localhost", "4294967296", "256.0.0.1", "1.2.3.256", "1.2.65536", "08.0.0.1", "0x", "0xg",
          "1..2", "1.2.3.4.5", "1.2.3.4.", "", "deadbeef", "1e3", "-1"}) {
      CHECK_MESSAGE(!ParseLegacyIPv4(s).has_value(), s);
    }
  }

  TEST_CASE("an IP literal in any spelling parses to its address; names do not") {
    CHECK(Ip("127.0.0.1").IpText() == "127.0.0.1");
    CHECK(Ip("2130706433").IpText() == "127.0.0.1");
    CHECK(Ip("0x7f.0.0.1").IpText() == "127.0.0.1");
    CHECK(Ip("::ffff:127.0.0.1").IpText() == "::ffff:127.0.0.1");
    CHECK_FALSE(ParseIpLiteral("localhost").has_value());
    CHECK_FALSE(ParseIpLiteral("[::1]").has_value());
    CHECK_FALSE(ParseIpLiteral("example.com").has_value());
  }

  TEST_CASE("IPv4 ranges are classified") {
    CHECK(Class("8.8.8.8") == AddressClass::kPublic);
    CHECK(Class("1.1.1.1") == AddressClass::kPublic);
    CHECK(Class("127.0.0.1") == AddressClass::kLoopback);
    CHECK(Class("127.255.255.254") == AddressClass::kLoopback);
    CHECK(Class("169.254.169.254") == AddressClass::kLinkLocal);
    CHECK(Class("169.254.0.1") == AddressClass::kLinkLocal);
    CHECK(Class("10.0.0.1") == AddressClass::kPrivate);
    CHECK(Class("10.255.255.255") == AddressClass::kPrivate);
    CHECK(Class("172.16.0.1") == AddressClass::kPrivate);
    CHECK(Class("172.31.255.255") == AddressClass::kPrivate);
    CHECK(Class("172.15.255.255") == AddressClass::kPublic);
    CHECK(Class("172.32.0.0") == AddressClass::kPublic);
    CHECK(Class("192.168.1.1") == AddressClass::kPrivate);
    CHECK(Class("192.169.0.1") == AddressClass::kPublic);
    CHECK(Class("100.64.0.1") == AddressClass::kPrivate);
    CHECK(Class("100.127.255.255") == AddressClass::kPrivate);
    CHECK(Class("100.63.255.255") == AddressClass::kPublic);
    CHECK(Class("100.128.0.0") == AddressClass::kPublic);
    CHECK(Class("224.0.0.1") == AddressClass::kMulticast);
    CHECK(Class("239.255.255.250") == AddressClass::kMulticast);
    CHECK(Class("0.0.0.0") == AddressClass::kUnspecified);
    CHECK(Class("0.1.2.3") == AddressClass::kUnspecified);
    CHECK(Class("255.255.255.255") == AddressClass::kBroadcast);
    CHECK(Class("240.0.0.1") == AddressClass::kReserved);
    CHECK(std::string(ClassifyAddress(Ip("169.254.169.254")).what).find("metadata") !=
          std::string::npos);
    CHECK(std::string(ClassifyAddress(Ip("100.64.0.1")).what).find("CGNAT") != std::string::npos);
  }

  TEST_CASE("IPv6 ranges are classified") {
    CHECK(Class("2001:4860:4860::8888") == AddressClass::kPublic);
    CHECK(Class("::1") == AddressClass::kLoopback);
    CHECK(Class("::") == AddressClass::kUnspecified);
    CHECK(Class("fe80::1") == AddressClass::kLinkLocal);
    CHECK(Class("febf::1") == AddressClass::kLinkLocal);
    CHECK(Class("fec0::1") == AddressClass::kPrivate);
    CHECK(Class("fc00::1") == AddressClass::kUniqueLocal);
    CHECK(Class("fd12:3456::1") == AddressClass::kUniqueLocal);
    CHECK(Class("fe00::1") == AddressClass::kPublic);
    CHECK(Class("ff02::1") == AddressClass::kMulticast);
    CHECK(Class("::7f00:1") == AddressClass::kReserved);  // IPv4-compatible ::127.0.0.1
    CHECK(Class("64:ff9b:1::1") == AddressClass::kPrivate);
  }

  TEST_CASE("IPv6 forms carrying an IPv4 address are judged by it") {
    const AddressVerdict mapped = ClassifyAddress(Ip("::ffff:127.0.0.1"));
    CHECK(mapped.cls == AddressClass::kLoopback);
    CHECK(mapped.Describe() == "loopback (IPv4-mapped 127.0.0.1)");
    CHECK(Class("::ffff:7f00:1") == AddressClass::kLoopback);
    CHECK(Class("::ffff:169.254.169.254") == AddressClass::kLinkLocal);
    CHECK(Class("::ffff:10.1.2.3") == AddressClass::kPrivate);
    CHECK(Class("::ffff:8.8.8.8") == AddressClass::kPublic);
    CHECK(Class("::ffff:0:127.0.0.1") == AddressClass::kLoopback);  // IPv4-translated
    CHECK(Class("64:ff9b::127.0.0.1") == AddressClass::kLoopback);  // NAT64
    CHECK(Class("64:ff9b::10.0.0.1") == AddressClass::kPrivate);
    CHECK(Class("64:ff9b::8.8.8.8") == AddressClass::kPublic);
    CHECK(Class("2002:7f00:1::") == AddressClass::kLoopback);       // 6to4 of 127.0.0.1
    CHECK(Class("2002:a9fe:a9fe::1") == AddressClass::kLinkLocal);  // 6to4 of the metadata IP
    CHECK(Class("2002:808:808::1") == AddressClass::kPublic);
    CHECK(Class("2001:0:4136:e378:8000:63bf:80ff:fffe") == AddressClass::kLoopback);  // Teredo
    CHECK(ClassifyAddress(Ip("2002:7f00:1::")).Describe() == "loopback (6to4 127.0.0.1)");
  }

  TEST_CASE("the default policy denies every non-public address and admits public ones") {
    const EgressPolicy p;
    CHECK(p.mode() == EgressMode::kDenyPrivate);
    for (const char* ip :
         {"127.0.0.1", "10.0.0.1", "172.16.5.5", "192.168.0.10", "100.64.1.1", "169.254.169.254",
          "224.0.0.1", "0.0.0.0", "255.255.255.255", "::1", "::", "fe80::1", "fc00::1", "ff02::1",
          "::ffff:127.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::"}) {
      Status st = p.Check(ip, Ip(ip));
      REQUIRE_MESSAGE(!st, ip);
      CHECK(st.error().code == Errc::kEgressDenied);
    }
    CHECK(Allowed(p, "8.8.8.8", "8.8.8.8"));
    CHECK(Allowed(p, "example.com", "93.184.216.34"));
    CHECK(Allowed(p, "::ffff:8.8.8.8", "::ffff:8.8.8.8"));
  }

  TEST_CASE("a denial says which address, which host, what it is and how to allow it") {
    const EgressPolicy p;
    CHECK(p.Check("127.0.0.1", Ip("127.0.0.1")).error().ToString() ==
          "egress_denied: 127.0.0.1 is loopback; allow it with --egress-allow");
    CHECK(p.Check("localhost", Ip("127.0.0.1")).error().context ==
          "127.0.0.1 (host 'localhost') is loopback; allow it with --egress-allow");
    CHECK(p.Check("2130706433", Ip("2130706433")).error().context ==
          "127.0.0.1 (host '2130706433') is loopback; allow it with --egress-allow");
    CHECK(p.Check("::ffff:127.0.0.1", Ip("::ffff:127.0.0.1")).error().context ==
          "::ffff:127.0.0.1 is loopback (IPv4-mapped 127.0.0.1); allow it with --egress-allow");
    CHECK(p.Check("169.254.169.254", Ip("169.254.169.254")).error().context ==
          "169.254.169.254 is link-local (cloud metadata endpoint); allow it with --egress-allow");
  }

  TEST_CASE("allow-all admits everything") {
    const EgressPolicy p = Policy("", EgressMode::kAllowAll);
    CHECK(Allowed(p, "127.0.0.1", "127.0.0.1"));
    CHECK(Allowed(p, "169.254.169.254", "169.254.169.254"));
    CHECK(p.Describe() == "allow-all");
  }

  TEST_CASE("CIDRs and single addresses admit exactly their addresses") {
    const EgressPolicy p = Policy(" 127.0.0.1 , 10.1.0.0/16,fd00::/8, ::1");
    CHECK(p.Describe() == "deny-private, allow 127.0.0.1/32 10.1.0.0/16 fd00::/8 ::1/128");
    CHECK(Allowed(p, "127.0.0.1", "127.0.0.1"));
    CHECK_FALSE(Allowed(p, "127.0.0.2", "127.0.0.2"));
    CHECK(Allowed(p, "10.1.255.7", "10.1.255.7"));
    CHECK_FALSE(Allowed(p, "10.2.0.1", "10.2.0.1"));
    CHECK(Allowed(p, "fdab::1", "fdab::1"));
    CHECK_FALSE(Allowed(p, "fc00::1", "fc00::1"));
    CHECK(Allowed(p, "::1", "::1"));
    // An IPv4 CIDR admits the IPv4-mapped form, and any spelling, of its addresses...
    CHECK(Allowed(p, "::ffff:127.0.0.1", "::ffff:127.0.0.1"));
    CHECK(Allowed(p, "2130706433", "2130706433"));
    // ...but not other IPv6 forms that only embed them (they go elsewhere: a NAT64 or 6to4 relay).
    CHECK_FALSE(Allowed(p, "64:ff9b::7f00:1", "64:ff9b::7f00:1"));
    CHECK_FALSE(Allowed(p, "2002:7f00:1::", "2002:7f00:1::"));
    // A name resolving to an allowed address is allowed: the address is what is judged.
    CHECK(Allowed(p, "anything.example", "127.0.0.1"));
    CHECK_FALSE(Allowed(p, "anything.example", "192.168.0.1"));
  }

  TEST_CASE("odd prefix lengths and the whole space") {
    const EgressPolicy p = Policy("172.16.0.0/13,0.0.0.0/0");
    CHECK(Allowed(p, "x", "169.254.169.254"));
    const EgressPolicy q = Policy("172.16.0.0/13");
    CHECK(Allowed(q, "x", "172.23.255.255"));
    CHECK_FALSE(Allowed(q, "x", "172.24.0.0"));
    const EgressPolicy v6 = Policy("fe80::/10");
    CHECK(Allowed(v6, "x", "febf:ffff::1"));
    CHECK_FALSE(Allowed(v6, "x", "fec0::1"));
  }

  TEST_CASE("host patterns admit names, never addresses") {
    const EgressPolicy p = Policy("localhost,*.Internal.Example.com");
    CHECK(p.Describe() == "deny-private, allow localhost *.internal.example.com");
    CHECK(Allowed(p, "localhost", "127.0.0.1"));
    CHECK(Allowed(p, "localhost", "::1"));
    CHECK(Allowed(p, "localhost.", "127.0.0.1"));
    CHECK_FALSE(Allowed(p, "localhost.localdomain", "127.0.0.1"));
    CHECK_FALSE(Allowed(p, "127.0.0.1", "127.0.0.1"));
    CHECK(Allowed(p, "api.internal.example.com", "10.0.0.5"));
    CHECK(Allowed(p, "a.b.internal.example.com", "10.0.0.5"));
    CHECK_FALSE(Allowed(p, "internal.example.com", "10.0.0.5"));  // the wildcard needs a label
    CHECK_FALSE(Allowed(p, "evilinternal.example.com", "10.0.0.5"));
    CHECK_FALSE(Allowed(p, "internal.example.com.evil.net", "10.0.0.5"));
  }

  TEST_CASE("bad allowlist entries are refused with the entry and the reason") {
    CHECK(Refusal("127.0.0.1,,10.0.0.0/8").find("empty entry") != std::string::npos);
    CHECK(Refusal("127.0.0.1,").find("empty entry") != std::string::npos);
    CHECK(Refusal("127.0.0.1:8080").find("port") != std::string::npos);
    CHECK(Refusal("localhost:8080").find("port") != std::string::npos);
    CHECK(Refusal("10.1.2.3/8").find("did you mean 10.0.0.0/8?") != std::string::npos);
    CHECK(Refusal("fd00::1/8").find("did you mean fd00::/8?") != std::string::npos);
    CHECK(Refusal("10.0.0.0/33").find("0..32") != std::string::npos);
    CHECK(Refusal("::/129").find("0..128") != std::string::npos);
    CHECK(Refusal("10.0.0.0/").find("prefix") != std::string::npos);
    CHECK(Refusal("10.0.0.0/+8").find("prefix") != std::string::npos);
    CHECK(Refusal("*").find("allow-all") != std::string::npos);
    CHECK(Refusal("*.").find("entry '*.'") != std::string::npos);
    CHECK(Refusal("a.*.example.com").find("first label") != std::string::npos);
    CHECK(Refusal("*example.com").find("first label") != std::string::npos);
    CHECK(Refusal("2130706433").find("entry '2130706433'") != std::string::npos);
    CHECK(Refusal("0x7f.0.0.1").find("a.b.c.d") != std::string::npos);
    CHECK(Refusal("256.1.1.1").find("entry '256.1.1.1'") != std::string::npos);
    CHECK(Refusal("[::1]").find("without brackets") != std::string::npos);
    CHECK(Refusal("http://x.com").find("entry 'http://x.com'") != std::string::npos);
    CHECK(Refusal("a..b").find("label") != std::string::npos);
    CHECK(Refusal("exa mple.com").find("entry") != std::string::npos);
  }

  TEST_CASE("each policy has its own id; a copy keeps it") {
    const EgressPolicy a;
    const EgressPolicy b = Policy("127.0.0.1");
    const EgressPolicy c = b;  // NOLINT: the copy is the point
    CHECK(a.id() != b.id());
    CHECK(c.id() == b.id());
  }
}

}  // namespace rf::http::client
