#include "auth/peer_signature.h"

#include <doctest/doctest.h>

#include <string>

#include "auth/crypto.h"

namespace rf::auth {
namespace {

const std::string kSecret(64, 'k');
constexpr int64_t kNow = 1'796'000'000;
const PeerRequest kStart{"POST", "/v1/workflows/fc/runs", "schedule:default/s1@1796000000",
                         R"({"input":{"customer":"acme"}})"};

bool Verify(std::string_view header, const PeerRequest& r, int64_t now = kNow,
            std::string_view secret = kSecret) {
  std::string why;
  const bool ok = VerifyPeerRequest(secret, header, now, r, why);
  CHECK(ok == why.empty());
  return ok;
}

TEST_CASE("a peer signature holds for its request, within the clock skew") {
  InitCrypto();
  const std::string sig = SignPeerRequest(kSecret, kNow, kStart);
  CHECK(sig.starts_with(std::to_string(kNow) + "."));
  CHECK(sig.size() == std::to_string(kNow).size() + 1 + 64);  // hex HMAC-SHA256
  CHECK(Verify(sig, kStart));
  CHECK(Verify(sig, kStart, kNow + kPeerSkewSeconds));
  CHECK(Verify(sig, kStart, kNow - kPeerSkewSeconds));
  CHECK_FALSE(Verify(sig, kStart, kNow + kPeerSkewSeconds + 1));
  CHECK_FALSE(Verify(sig, kStart, kNow - kPeerSkewSeconds - 1));
}

TEST_CASE("a peer signature fits no other request, secret or date") {
  InitCrypto();
  const std::string sig = SignPeerRequest(kSecret, kNow, kStart);
  PeerRequest other = kStart;
  other.method = "PUT";
  CHECK_FALSE(Verify(sig, other));
  other = kStart;
  other.target = "/v1/workflows/other/runs";
  CHECK_FALSE(Verify(sig, other));
  other = kStart;
  other.idempotency_key = "";
  CHECK_FALSE(Verify(sig, other));
  other = kStart;
  other.body = R"({"input":{"customer":"bolt"}})";
  CHECK_FALSE(Verify(sig, other));
  CHECK_FALSE(Verify(sig, kStart, kNow, std::string(64, 'j')));
  // The date is part of what is signed: moving it forward breaks the signature.
  const std::string moved = std::to_string(kNow + 1) + sig.substr(sig.find('.'));
  CHECK_FALSE(Verify(moved, kStart));
}

TEST_CASE("malformed peer signatures are refused with a reason") {
  InitCrypto();
  const std::string sig = SignPeerRequest(kSecret, kNow, kStart);
  for (std::string bad : {std::string(""), std::string("."), std::string("abc.def"), sig.substr(0, sig.find('.')),
                          "." + sig.substr(sig.find('.') + 1), std::string("-5.") + sig.substr(sig.find('.') + 1),
                          sig + "0", sig.substr(0, sig.size() - 1), std::string("99999999999999999999999.x")}) {
    CAPTURE(bad);
    std::string why;
    CHECK_FALSE(VerifyPeerRequest(kSecret, bad, kNow, kStart, why));
    CHECK_FALSE(why.empty());
  }
}

}  // namespace
}  // namespace rf::auth
