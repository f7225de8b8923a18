#include "auth/jwt.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <cmath>

#include "auth/crypto.h"
#include "json/parse.h"

namespace rf::auth {
namespace {

struct Fail {
  JwtFailure reason;
  std::string message;
};

std::string_view AlgName(JwtAlg a) {
  switch (a) {
    case JwtAlg::kHS256: return "HS256";
    case JwtAlg::kRS256: return "RS256";
    case JwtAlg::kES256: return "ES256";
  }
  return "?";
}

template <class T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using BldPtr = std::unique_ptr<OSSL_PARAM_BLD, Deleter<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, Deleter<OSSL_PARAM, OSSL_PARAM_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX, EVP_MD_CTX_free>>;
using SigPtr = std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG, ECDSA_SIG_free>>;

std::shared_ptr<EVP_PKEY> FromData(const char* type, OSSL_PARAM* params) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* pkey = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
      EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
    return nullptr;
  return std::shared_ptr<EVP_PKEY>(pkey, EVP_PKEY_free);
}

std::shared_ptr<EVP_PKEY> RsaKey(const std::string& n, const std::string& e) {
  BnPtr bn_n(BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()), static_cast<int>(n.size()), nullptr));
  BnPtr bn_e(BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()), static_cast<int>(e.size()), nullptr));
  BldPtr bld(OSSL_PARAM_BLD_new());
  if (!bn_n || !bn_e || !bld || !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) ||
      !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()))
    return nullptr;
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  return params ? FromData("RSA", params.get()) : nullptr;
}

std::shared_ptr<EVP_PKEY> EcKey(const std::string& x, const std::string& y) {
  std::string point = "\x04" + x + y;  // uncompressed SEC1 point
  BldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
      !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()))
    return nullptr;
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  return params ? FromData("EC", params.get()) : nullptr;
}

bool VerifyWith(EVP_PKEY* pkey, std::string_view data, std::string_view sig) {
  MdCtxPtr md(EVP_MD_CTX_new());
  if (!md || EVP_DigestVerifyInit(md.get(), nullptr, EVP_sha256(), nullptr, pkey) != 1) return false;
  return EVP_DigestVerify(md.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                          reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
}

// JWS ES256 signatures are r || s (32 bytes each); libcrypto verifies DER.
bool VerifyEs256(EVP_PKEY* pkey, std::string_view data, std::string_view sig) {
  if (sig.size() != 64) return false;
  SigPtr s(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(sig.data()), 32, nullptr);
  BIGNUM* ss = BN_bin2bn(reinterpret_cast<const unsigned char*>(sig.data() + 32), 32, nullptr);
  if (!s || !r || !ss || ECDSA_SIG_set0(s.get(), r, ss) != 1) {
    BN_free(r);
    BN_free(ss);
    return false;
  }
  unsigned char* der = nullptr;
  int len = i2d_ECDSA_SIG(s.get(), &der);
  if (len <= 0) return false;
  bool ok = VerifyWith(pkey, data, std::string_view(reinterpret_cast<char*>(der), static_cast<size_t>(len)));
  OPENSSL_free(der);
  return ok;
}

const std::string* Str(const json::Value& obj, std::string_view key) {
  const json::Value* v = obj.Find(key);
  return v != nullptr && v->is_string() ? &v->as_string() : nullptr;
}

// A NumericDate claim: nullopt when absent; `bad` when present and not a number.
std::optional<int64_t> Date(const json::Value& obj, std::string_view key, bool& bad) {
  const json::Value* v = obj.Find(key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_number() || !std::isfinite(v->as_double())) {
    bad = true;
    return std::nullopt;
  }
  return static_cast<int64_t>(std::floor(v->as_double()));
}

std::optional<Fail> Check(std::string_view token, const JwtKeys& keys, const JwtPolicy& policy,
                          int64_t now_s, JwtClaims& out) {
  const size_t d1 = token.find('.');
  const size_t d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos)
    return Fail{JwtFailure::kMalformed, "not a JWT (three dot-separated parts)"};
  const std::string_view signed_part = token.substr(0, d2);
  auto header_text = Base64UrlDecode(token.substr(0, d1));
  auto payload_text = Base64UrlDecode(token.substr(d1 + 1, d2 - d1 - 1));
  auto sig = Base64UrlDecode(token.substr(d2 + 1));
  if (!header_text || !payload_text || !sig) return Fail{JwtFailure::kMalformed, "JWT part is not base64url"};
  const json::ParseLimits limits{.max_bytes = 16 << 10, .max_depth = 8};
  auto header = json::Parse(*header_text, limits);
  if (!header || !header->is_object()) return Fail{JwtFailure::kMalformed, "JWT header is not a JSON object"};
  auto payload = json::Parse(*payload_text, limits);
  if (!payload || !payload->is_object()) return Fail{JwtFailure::kMalformed, "JWT payload is not a JSON object"};

  const std::string* alg = Str(*header, "alg");
  if (alg == nullptr) return Fail{JwtFailure::kAlg, "JWT header has no alg"};
  const std::string* kid = Str(*header, "kid");
  if (*alg == "HS256") {
    if (keys.hs256_secret.empty()) return Fail{JwtFailure::kAlg, "HS256 tokens are not accepted (no --jwt-secret-file)"};
    const Digest mac = HmacSha256(keys.hs256_secret, signed_part);
    if (!ConstantTimeEqual(std::string_view(reinterpret_cast<const char*>(mac.data()), mac.size()), *sig))
      return Fail{JwtFailure::kSignature, "bad signature"};
  } else if (*alg == "RS256" || *alg == "ES256") {
    const JwtAlg want = *alg == "RS256" ? JwtAlg::kRS256 : JwtAlg::kES256;
    if (keys.public_keys.empty())
      return Fail{JwtFailure::kAlg, *alg + " tokens are not accepted (no --jwks-file)"};
    bool verified = false;
    bool any_key = false;
    for (const JwtPublicKey& k : keys.public_keys) {
      if (kid != nullptr && k.kid != *kid) continue;
      any_key = true;
      if (k.alg != want) {
        if (kid != nullptr)
          return Fail{JwtFailure::kAlg, "key '" + *kid + "' is " + std::string(AlgName(k.alg)) + ", not " + *alg};
        continue;
      }
      verified = want == JwtAlg::kRS256 ? VerifyWith(k.pkey.get(), signed_part, *sig)
                                        : VerifyEs256(k.pkey.get(), signed_part, *sig);
      if (verified) break;
    }
    if (!any_key)
      return Fail{kid ? JwtFailure::kUnknownKey : JwtFailure::kAlg,
                  kid ? "no key '" + *kid + "' in the JWKS" : *alg + " tokens are not accepted (no --jwks-file)"};
    if (!verified) return Fail{JwtFailure::kSignature, "bad signature"};
  } else {
    return Fail{JwtFailure::kAlg, "alg '" + *alg + "' is not accepted (HS256, RS256, ES256)"};
  }

  bool bad = false;
  auto exp = Date(*payload, "exp", bad);
  auto nbf = Date(*payload, "nbf", bad);
  if (bad) return Fail{JwtFailure::kClaims, "exp and nbf must be numbers"};
  if (!exp) return Fail{JwtFailure::kClaims, "JWT has no exp"};
  if (now_s >= *exp + kLeewaySeconds) return Fail{JwtFailure::kExpired, "JWT expired"};
  if (nbf && now_s + kLeewaySeconds < *nbf) return Fail{JwtFailure::kNotYetValid, "JWT not valid yet (nbf)"};
  if (!policy.issuer.empty()) {
    const std::string* iss = Str(*payload, "iss");
    if (iss == nullptr || *iss != policy.issuer) return Fail{JwtFailure::kIssuer, "JWT issuer is not the one expected"};
  }
  if (!policy.audience.empty()) {
    bool found = false;
    if (const json::Value* aud = payload->Find("aud")) {
      if (aud->is_string()) found = aud->as_string() == policy.audience;
      if (aud->is_array())
        for (const json::Value& a : aud->as_array()) found = found || (a.is_string() && a.as_string() == policy.audience);
    }
    if (!found) return Fail{JwtFailure::kAudience, "JWT audience does not include this service"};
  }
  const std::string* role = Str(*payload, "role");
  auto parsed = role ? ParseRole(*role) : std::nullopt;
  if (!parsed) return Fail{JwtFailure::kClaims, "JWT role claim missing or not admin, operator, developer or viewer"};
  const std::string* ns = Str(*payload, "ns");
  if (ns != nullptr && *ns != "*" && !ValidNamespace(*ns)) return Fail{JwtFailure::kClaims, "JWT ns claim is not a namespace name"};
  out.role = *parsed;
  out.ns = ns ? *ns : "default";
  const std::string* sub = Str(*payload, "sub");
  out.sub = sub ? *sub : std::string();
  out.exp = *exp;
  return std::nullopt;
}

}  // namespace

std::string_view JwtFailureName(JwtFailure f) {
  switch (f) {
    case JwtFailure::kMalformed: return "jwt_malformed";
    case JwtFailure::kAlg: return "jwt_alg";
    case JwtFailure::kUnknownKey: return "jwt_unknown_key";
    case JwtFailure::kSignature: return "jwt_signature";
    case JwtFailure::kExpired: return "jwt_expired";
    case JwtFailure::kNotYetValid: return "jwt_not_yet_valid";
    case JwtFailure::kIssuer: return "jwt_issuer";
    case JwtFailure::kAudience: return "jwt_audience";
    case JwtFailure::kClaims: return "jwt_claims";
  }
  return "jwt";
}

Result<std::vector<JwtPublicKey>> ParseJwks(std::string_view text) {
  auto doc = json::Parse(text, {.max_bytes = 1 << 20, .max_depth = 8});
  if (!doc) return Error{Errc::kInvalidArgument, "JWKS is not JSON: " + doc.error().context};
  const json::Value* arr = doc->Find("keys");
  if (arr == nullptr || !arr->is_array()) return Error{Errc::kInvalidArgument, "JWKS has no \"keys\" array"};
  std::vector<JwtPublicKey> out;
  size_t i = 0;
  for (const json::Value& k : arr->as_array()) {
    const std::string where = "JWKS key " + std::to_string(i++);
    if (!k.is_object()) return Error{Errc::kInvalidArgument, where + " is not an object"};
    if (const std::string* use = Str(k, "use"); use && *use != "sig") continue;
    const std::string* kty = Str(k, "kty");
    const std::string* alg = Str(k, "alg");
    JwtPublicKey key;
    if (const std::string* kid = Str(k, "kid")) key.kid = *kid;
    auto b64 = [&](const char* f) -> std::optional<std::string> {
      const std::string* s = Str(k, f);
      return s ? Base64UrlDecode(*s) : std::nullopt;
    };
    if (kty && *kty == "RSA") {
      if (alg && *alg != "RS256") return Error{Errc::kInvalidArgument, where + ": RSA keys are for RS256, not " + *alg};
      auto n = b64("n"), e = b64("e");
      if (!n || !e) return Error{Errc::kInvalidArgument, where + ": RSA key needs base64url n and e"};
      key.alg = JwtAlg::kRS256;
      key.pkey = RsaKey(*n, *e);
      if (!key.pkey) return Error{Errc::kInvalidArgument, where + ": not a valid RSA public key"};
      if (EVP_PKEY_get_bits(key.pkey.get()) < 2048)
        return Error{Errc::kInvalidArgument, where + ": RSA key shorter than 2048 bits"};
    } else if (kty && *kty == "EC") {
      const std::string* crv = Str(k, "crv");
      if (!crv || *crv != "P-256") return Error{Errc::kInvalidArgument, where + ": only EC keys on P-256 (ES256)"};
      if (alg && *alg != "ES256") return Error{Errc::kInvalidArgument, where + ": P-256 keys are for ES256, not " + *alg};
      auto x = b64("x"), y = b64("y");
      if (!x || !y || x->size() != 32 || y->size() != 32)
        return Error{Errc::kInvalidArgument, where + ": EC key needs 32-byte base64url x and y"};
      key.alg = JwtAlg::kES256;
      key.pkey = EcKey(*x, *y);
      if (!key.pkey) return Error{Errc::kInvalidArgument, where + ": not a point on P-256"};
    } else {
      return Error{Errc::kInvalidArgument, where + ": kty must be RSA or EC"};
    }
    out.push_back(std::move(key));
  }
  return out;
}

Result<JwtClaims> VerifyJwt(std::string_view token, const JwtKeys& keys, const JwtPolicy& policy,
                            int64_t now_s, JwtFailure* why) {
  JwtClaims claims;
  if (auto f = Check(token, keys, policy, now_s, claims)) {
    if (why) *why = f->reason;
    return Error{Errc::kInvalidArgument, std::move(f->message)};
  }
  return claims;
}

}  // namespace rf::auth
