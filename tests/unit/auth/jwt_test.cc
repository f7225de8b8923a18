// JWT parsing and verification (auth/jwt.h) with real keys: RSA and P-256 keys are generated
// here with libcrypto, tokens signed with them, and the JWKS built from their public parts.

#include "auth/jwt.h"

#include <doctest/doctest.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include <ctime>
#include <memory>
#include <string>

#include "auth/crypto.h"
#include "auth/key_table.h"

namespace rf::auth {
namespace {

std::string B64(std::string_view s) { return Base64UrlEncode(s); }

struct KeyPair {
  std::shared_ptr<EVP_PKEY> key;
  std::string jwk;  // the public JWK, JSON
};

std::string BnBytes(EVP_PKEY* k, const char* name, size_t pad = 0) {
  BIGNUM* bn = nullptr;
  REQUIRE(EVP_PKEY_get_bn_param(k, name, &bn) == 1);
  std::string out(static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  BN_free(bn);
  if (out.size() < pad) out.insert(0, pad - out.size(), '\0');
  return out;
}

KeyPair Rsa(const std::string& kid, unsigned bits = 2048) {
  EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits));
  REQUIRE(k != nullptr);
  KeyPair p{std::shared_ptr<EVP_PKEY>(k, EVP_PKEY_free), ""};
  p.jwk = R"({"kty":"RSA","kid":")" + kid + R"(","n":")" + B64(BnBytes(k, OSSL_PKEY_PARAM_RSA_N)) +
          R"(","e":")" + B64(BnBytes(k, OSSL_PKEY_PARAM_RSA_E)) + R"("})";
  return p;
}

KeyPair Ec(const std::string& kid) {
  EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  REQUIRE(k != nullptr);
  KeyPair p{std::shared_ptr<EVP_PKEY>(k, EVP_PKEY_free), ""};
  p.jwk = R"({"kty":"EC","crv":"P-256","kid":")" + kid + R"(","x":")" +
          B64(BnBytes(k, OSSL_PKEY_PARAM_EC_PUB_X, 32)) + R"(","y":")" +
          B64(BnBytes(k, OSSL_PKEY_PARAM_EC_PUB_Y, 32)) + R"("})";
  return p;
}

std::string SignWith(EVP_PKEY* k, std::string_view data, bool ec) {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  REQUIRE(EVP_DigestSignInit(md, nullptr, EVP_sha256(), nullptr, k) == 1);
  size_t len = 0;
  REQUIRE(EVP_DigestSign(md, nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1);
  std::string sig(len, '\0');
  REQUIRE(EVP_DigestSign(md, reinterpret_cast<unsigned char*>(sig.data()), &len,
                         reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1);
  EVP_MD_CTX_free(md);
  sig.resize(len);
  if (!ec) return sig;
  const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
  ECDSA_SIG* s = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
  REQUIRE(s != nullptr);
  std::string raw(64, '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(s), reinterpret_cast<unsigned char*>(raw.data()), 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(s), reinterpret_cast<unsigned char*>(raw.data() + 32), 32);
  ECDSA_SIG_free(s);
  return raw;
}

constexpr int64_t kNow = 1'800'000'000;
const std::string kSecret = "a-shared-secret-of-32-bytes-or-more!";

std::string Payload(const std::string& extra = "") {
  return R"({"sub":"alice","iss":"iss-1","aud":"svc","role":"developer","exp":)" +
         std::to_string(kNow + 600) + extra + "}";
}

std::string Token(const std::string& header, const std::string& payload, const std::string& sig) {
  return B64(header) + "." + B64(payload) + "." + B64(sig);
}

std::string Hs256(const std::string& payload, const std::string& secret = kSecret,
                  const std::string& header = R"({"alg":"HS256","typ":"JWT"})") {
  const std::string signing = B64(header) + "." + B64(payload);
  const Digest mac = HmacSha256(secret, signing);
  return signing + "." + B64(std::string_view(reinterpret_cast<const char*>(mac.data()), mac.size()));
}

std::string Signed(const KeyPair& k, const std::string& alg, const std::string& kid, const std::string& payload) {
  const std::string signing = B64(R"({"alg":")" + alg + R"(","kid":")" + kid + R"("})") + "." + B64(payload);
  return signing + "." + B64(SignWith(k.key.get(), signing, alg == "ES256"));
}

struct Fixture {
  KeyPair rsa = Rsa("r1");
  KeyPair ec = Ec("e1");
  JwtKeys keys;
  JwtPolicy policy{"iss-1", "svc"};
  Fixture() {
    keys.hs256_secret = kSecret;
    auto parsed = ParseJwks(R"({"keys":[)" + rsa.jwk + "," + ec.jwk + "]}");
    REQUIRE(parsed.has_value());
    keys.public_keys = std::move(*parsed);
  }
  JwtFailure Fails(const std::string& token) {
    JwtFailure why = JwtFailure::kClaims;
    auto r = VerifyJwt(token, keys, policy, kNow, &why);
    REQUIRE_FALSE(r.has_value());
    return why;
  }
};

}  // namespace

TEST_SUITE("auth.jwt") {
TEST_CASE("HS256, RS256 and ES256 tokens with valid claims verify and yield their claims") {
  Fixture f;
  for (const std::string& t : {Hs256(Payload()), Signed(f.rsa, "RS256", "r1", Payload()),
                               Signed(f.ec, "ES256", "e1", Payload(R"(,"ns":"team-a")"))}) {
    JwtFailure why;
    auto c = VerifyJwt(t, f.keys, f.policy, kNow, &why);
    REQUIRE(c.has_value());
    CHECK(c->sub == "alice");
    CHECK(c->role == Role::kDeveloper);
    CHECK(c->exp == kNow + 600);
  }
  auto c = VerifyJwt(Signed(f.ec, "ES256", "e1", Payload(R"(,"ns":"team-a")")), f.keys, f.policy, kNow, nullptr);
  CHECK(c->ns == "team-a");
  CHECK(VerifyJwt(Hs256(Payload()), f.keys, f.policy, kNow, nullptr)->ns == "default");
}

TEST_CASE("a token signed by another key or altered after signing is refused") {
  Fixture f;
  CHECK(f.Fails(Hs256(Payload(), "another-secret-of-32-bytes-or-more!!")) == JwtFailure::kSignature);
  KeyPair other = Rsa("r1");  // same kid, other key
  CHECK(f.Fails(Signed(other, "RS256", "r1", Payload())) == JwtFailure::kSignature);
  std::string t = Hs256(Payload());
  const size_t dot = t.find('.');
  std::string tampered = t.substr(0, dot + 1) + B64(Payload(R"(,"role":"admin")")) + t.substr(t.rfind('.'));
  CHECK(f.Fails(tampered) == JwtFailure::kSignature);
  std::string es = Signed(f.ec, "ES256", "e1", Payload());
  es.back() = es.back() == 'A' ? 'B' : 'A';
  CHECK(f.Fails(es) != JwtFailure::kClaims);  // bad signature or bad base64 tail: refused either way
}

TEST_CASE("alg none, unknown algs and an alg that does not fit the key are refused") {
  Fixture f;
  CHECK(f.Fails(B64(R"({"alg":"none"})") + "." + B64(Payload()) + ".") == JwtFailure::kAlg);
  CHECK(f.Fails(Token(R"({"alg":"HS512"})", Payload(), "x")) == JwtFailure::kAlg);
  CHECK(f.Fails(Token(R"({"typ":"JWT"})", Payload(), "x")) == JwtFailure::kAlg);
  // An EC key named by kid never checks an RS256 token, and the RSA public key is no HS256 secret.
  CHECK(f.Fails(Signed(f.ec, "RS256", "e1", Payload())) == JwtFailure::kAlg);
  CHECK(f.Fails(Hs256(Payload(), f.rsa.jwk)) == JwtFailure::kSignature);
  JwtKeys none;
  JwtFailure why;
  CHECK_FALSE(VerifyJwt(Hs256(Payload()), none, f.policy, kNow, &why).has_value());
  CHECK(why == JwtFailure::kAlg);
  CHECK_FALSE(VerifyJwt(Signed(f.rsa, "RS256", "r1", Payload()), none, f.policy, kNow, &why).has_value());
  CHECK(why == JwtFailure::kAlg);
  CHECK(f.Fails(Signed(f.rsa, "RS256", "nope", Payload())) == JwtFailure::kUnknownKey);
}

TEST_CASE("exp, nbf, iss, aud and the role and ns claims are enforced") {
  Fixture f;
  auto with = [](const std::string& body) { return Hs256(body); };
  const std::string base = R"({"sub":"a","iss":"iss-1","aud":"svc","role":"viewer")";
  CHECK(f.Fails(with(base + ",\"exp\":" + std::to_string(kNow - kLeewaySeconds) + "}")) == JwtFailure::kExpired);
  CHECK(VerifyJwt(with(base + ",\"exp\":" + std::to_string(kNow - kLeewaySeconds + 1) + "}"), f.keys, f.policy, kNow, nullptr));
  CHECK(f.Fails(with(base + "}")) == JwtFailure::kClaims);  // no exp
  CHECK(f.Fails(with(base + ",\"exp\":\"soon\"}")) == JwtFailure::kClaims);
  const std::string exp = ",\"exp\":" + std::to_string(kNow + 60);
  CHECK(f.Fails(with(base + exp + ",\"nbf\":" + std::to_string(kNow + 3600) + "}")) == JwtFailure::kNotYetValid);
  CHECK(f.Fails(with(R"({"iss":"other","aud":"svc","role":"viewer")" + exp + "}")) == JwtFailure::kIssuer);
  CHECK(f.Fails(with(R"({"aud":"svc","role":"viewer")" + exp + "}")) == JwtFailure::kIssuer);
  CHECK(f.Fails(with(R"({"iss":"iss-1","aud":"other","role":"viewer")" + exp + "}")) == JwtFailure::kAudience);
  CHECK(f.Fails(with(R"({"iss":"iss-1","aud":["a","b"],"role":"viewer")" + exp + "}")) == JwtFailure::kAudience);
  CHECK(VerifyJwt(with(R"({"iss":"iss-1","aud":["a","svc"],"role":"viewer")" + exp + "}"), f.keys, f.policy, kNow, nullptr));
  CHECK(f.Fails(with(R"({"iss":"iss-1","aud":"svc","role":"root")" + exp + "}")) == JwtFailure::kClaims);
  CHECK(f.Fails(with(R"({"iss":"iss-1","aud":"svc")" + exp + "}")) == JwtFailure::kClaims);
  CHECK(f.Fails(with(R"({"iss":"iss-1","aud":"svc","role":"viewer","ns":"Bad NS")" + exp + "}")) == JwtFailure::kClaims);
  JwtPolicy open;  // no issuer or audience configured: not checked
  CHECK(VerifyJwt(with(R"({"role":"viewer")" + exp + "}"), f.keys, open, kNow, nullptr));
}

TEST_CASE("malformed tokens are refused as malformed") {
  Fixture f;
  for (const std::string& t : {std::string(""), std::string("abc"), std::string("a.b"), std::string("a.b.c.d"),
                               std::string("!!.!!.!!"), B64("[1]") + "." + B64("{}") + ".",
                               B64(R"({"alg":"HS256"})") + "." + B64("not json") + ".",
                               B64(R"({"alg":"HS256"})") + "=." + B64(Payload()) + ".x"})
    CHECK_MESSAGE(f.Fails(t) == JwtFailure::kMalformed, t);
}

TEST_CASE("JWKS documents with bad keys are refused, saying which key") {
  auto err = [](const std::string& text) {
    auto r = ParseJwks(text);
    REQUIRE_FALSE(r.has_value());
    return r.error().context;
  };
  CHECK(err("nope").find("not JSON") != std::string::npos);
  CHECK(err(R"({"k":[]})").find("keys") != std::string::npos);
  CHECK(err(R"({"keys":[{"kty":"oct","k":"AAAA"}]})").find("kty") != std::string::npos);
  CHECK(err(R"({"keys":[{"kty":"RSA","n":"AQAB"}]})").find("key 0") != std::string::npos);
  CHECK(err(R"({"keys":[{"kty":"EC","crv":"P-384","x":"AA","y":"AA"}]})").find("P-256") != std::string::npos);
  CHECK(err(R"({"keys":[{"kty":"EC","crv":"P-256","x":")" + B64(std::string(32, 'a')) + R"(","y":")" +
            B64(std::string(32, 'b')) + R"("}]})").find("not a point") != std::string::npos);
  KeyPair small = Rsa("s", 1024);
  CHECK(err(R"({"keys":[)" + small.jwk + "]}").find("2048") != std::string::npos);
  KeyPair rsa = Rsa("r");
  std::string with_alg = rsa.jwk;
  with_alg.insert(1, R"("alg":"ES256",)");
  CHECK(err(R"({"keys":[)" + with_alg + "]}").find("RS256") != std::string::npos);
  // Encryption keys are skipped, not refused.
  std::string enc = rsa.jwk;
  enc.insert(1, R"("use":"enc",)");
  auto r = ParseJwks(R"({"keys":[)" + enc + "]}");
  REQUIRE(r.has_value());
  CHECK(r->empty());
}
}

TEST_SUITE("auth.crypto") {
TEST_CASE("base64url round-trips and refuses padding, other alphabets and stray bits") {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar", "\xff\xfe\x00"})
    CHECK(Base64UrlDecode(Base64UrlEncode(s)) == s);
  CHECK(Base64UrlEncode("\xfb\xff") == "-_8");
  CHECK_FALSE(Base64UrlDecode("Zm9v=").has_value());
  CHECK_FALSE(Base64UrlDecode("a+b/").has_value());
  CHECK_FALSE(Base64UrlDecode("Zh").has_value());  // "f" is "Zg": a set low bit is not canonical
  CHECK_FALSE(Base64UrlDecode("A").has_value());
}

TEST_CASE("SHA-256 and HMAC-SHA256 match the published test vectors") {
  CHECK(Hex(Sha256("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // RFC 4231 test case 2
  CHECK(Hex(HmacSha256("Jefe", "what do ya want for nothing?")) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  CHECK(ParseHexDigest(Hex(Sha256("abc"))) == Sha256("abc"));
  CHECK_FALSE(ParseHexDigest("xyz").has_value());
}
}

}  // namespace rf::auth
