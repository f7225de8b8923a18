#pragma once
// Bearer JWTs (RFC 7519, JWS compact form, RFC 7515): HS256 with a shared secret, RS256 and
// ES256 (P-256) with public keys from a JWKS document (RFC 7517). Pure and thread-safe: the key
// set is immutable once built and shared by every shard (auth/authenticator.h swaps it whole).
//
// What a token must be to pass (VerifyJwt):
//  - three base64url parts; a header with "alg" HS256, RS256 or ES256 ("none", anything else and
//    an alg the configured keys cannot check are refused: kAlg); with a "kid", the JWKS key of
//    that id, whose type must fit the alg (an EC key never checks an RS256 token: kAlg);
//  - a valid signature (kSignature);
//  - claims: "exp" (required) in the future, "nbf" (optional) not in the future, both within
//    kLeewaySeconds; "iss" equal to the policy's issuer and "aud" (a string or an array) holding
//    its audience, when the policy sets them; "role" one of the role names; "ns" a namespace name
//    or "*" (absent: "default"); "sub" optional.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "auth/role.h"
#include "base/result.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace rf::auth {

constexpr int64_t kLeewaySeconds = 30;

enum class JwtAlg : uint8_t { kHS256, kRS256, kES256 };

enum class JwtFailure : uint8_t {
  kMalformed,    // not three base64url parts of JSON objects
  kAlg,          // alg none, unknown, not configured, or not the key's
  kUnknownKey,   // no key of that kid
  kSignature,
  kExpired,
  kNotYetValid,
  kIssuer,
  kAudience,
  kClaims,       // exp missing, role or ns missing or invalid
};
std::string_view JwtFailureName(JwtFailure f);  // metric label: "jwt_expired", ...

struct JwtPublicKey {
  std::string kid;  // may be empty
  JwtAlg alg = JwtAlg::kRS256;
  std::shared_ptr<EVP_PKEY> pkey;
};

// What tokens are checked against. Immutable once built.
struct JwtKeys {
  std::string hs256_secret;  // empty: HS256 tokens are refused
  std::vector<JwtPublicKey> public_keys;
  bool empty() const { return hs256_secret.empty() && public_keys.empty(); }
};

struct JwtPolicy {
  std::string issuer;    // empty: "iss" is not checked
  std::string audience;  // empty: "aud" is not checked
};

struct JwtClaims {
  std::string sub;
  std::string ns;
  Role role = Role::kViewer;
  int64_t exp = 0;  // seconds since the epoch
};

// Parses a JWKS document {"keys":[...]}: RSA keys ("n", "e"; at least 2048 bits) and EC P-256
// keys ("x", "y"); "alg", when present, must be RS256 / ES256 and fit the type; keys with
// "use" other than "sig" are skipped. Errors: kInvalidArgument saying which key and why.
Result<std::vector<JwtPublicKey>> ParseJwks(std::string_view text);

// Checks `token` at `now_s`. On failure the error's context says why, for the log, and `why`
// the reason, for the metric.
Result<JwtClaims> VerifyJwt(std::string_view token, const JwtKeys& keys, const JwtPolicy& policy,
                            int64_t now_s, JwtFailure* why);

}  // namespace rf::auth
