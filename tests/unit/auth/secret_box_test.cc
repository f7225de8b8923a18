// SecretKey: AES-256-GCM at rest. A key parses from 64 hex digits or 32 raw bytes and nothing
// else; every seal draws a new nonce; a ciphertext opens only with its key and its associated
// data (namespace + name), and any changed byte is refused.

#include <doctest/doctest.h>

#include <string>

#include "auth/crypto.h"
#include "auth/secret_box.h"

using rf::Errc;
using rf::auth::SecretAad;
using rf::auth::SecretKey;

namespace {

const std::string kHex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

SecretKey Key(const std::string& text = kHex) {
  auto k = SecretKey::Parse(text);
  REQUIRE(k.has_value());
  return std::move(*k);
}

}  // namespace

TEST_SUITE("auth.secret_box") {
TEST_CASE("a key is 64 hex digits (whitespace around ignored) or exactly 32 raw bytes") {
  rf::auth::InitCrypto();
  CHECK(SecretKey::Parse(kHex).has_value());
  CHECK(SecretKey::Parse("  " + kHex + "\n").has_value());
  std::string upper = kHex;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  CHECK(SecretKey::Parse(upper).has_value());
  std::string raw(32, '\0');
  for (size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<char>(0x80 + i);
  CHECK(SecretKey::Parse(raw).has_value());
  // The same bytes as hex and raw are the same key.
  CHECK(Key(kHex).id() == Key(std::string("\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff"
                                           "\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff", 32)).id());
}

TEST_CASE("a malformed key is refused with a message that never quotes it") {
  for (std::string bad : {std::string(), std::string("short"), kHex.substr(0, 62), kHex + "00",
                          kHex.substr(0, 63) + "g", std::string(32, 'a'), std::string(64, '0'),
                          std::string(33, '\x81')}) {
    auto k = SecretKey::Parse(bad);
    REQUIRE_FALSE(k.has_value());
    CHECK(k.error().code == Errc::kInvalidArgument);
    if (bad.size() > 8) CHECK(k.error().context.find(bad) == std::string::npos);
  }
  CHECK(SecretKey::Parse(std::string(64, '0')).error().context.find("zeros") != std::string::npos);
  CHECK(SecretKey::Parse(std::string(32, 'a')).error().context.find("text") != std::string::npos);
}

TEST_CASE("seal then open gives the value back; two seals of one value differ (fresh nonce)") {
  SecretKey k = Key();
  const std::string aad = SecretAad("default", "API_TOKEN");
  auto a = k.Seal("s3cr3t", aad);
  auto b = k.Seal("s3cr3t", aad);
  REQUIRE(a.has_value());
  REQUIRE(b.has_value());
  CHECK(*a != *b);
  CHECK(a->substr(1, 12) != b->substr(1, 12));
  CHECK(a->find("s3cr3t") == std::string::npos);
  CHECK(a->size() == 1 + 12 + 6 + 16);
  auto opened = k.Open(*a, aad);
  REQUIRE(opened.has_value());
  CHECK(*opened == "s3cr3t");
  auto empty = k.Seal("", aad);
  REQUIRE(empty.has_value());
  CHECK(k.Open(*empty, aad).value() == "");
}

TEST_CASE("any changed byte, another key, or another namespace or name does not open") {
  SecretKey k = Key();
  const std::string aad = SecretAad("team-a", "TOKEN");
  auto sealed = k.Seal("the value", aad);
  REQUIRE(sealed.has_value());
  for (size_t i = 0; i < sealed->size(); ++i) {
    std::string t = *sealed;
    t[i] = static_cast<char>(t[i] ^ 0x01);
    auto r = k.Open(t, aad);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == Errc::kCorrupt);
  }
  CHECK_FALSE(k.Open(sealed->substr(0, sealed->size() - 1), aad).has_value());
  CHECK_FALSE(k.Open(*sealed + "x", aad).has_value());
  CHECK_FALSE(k.Open("", aad).has_value());
  CHECK_FALSE(k.Open(*sealed, SecretAad("team-b", "TOKEN")).has_value());
  CHECK_FALSE(k.Open(*sealed, SecretAad("team-a", "TOKEN2")).has_value());
  // The separator keeps (ns, name) pairs apart that concatenate alike.
  CHECK(SecretAad("a", "bc") != SecretAad("ab", "c"));
  SecretKey other = Key("ff112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
  CHECK(other.id() != k.id());
  auto r = other.Open(*sealed, aad);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == Errc::kCorrupt);
}
}
