// API key lookup (auth/key_table.h), the per-shard authenticator (auth/authenticator.h) and the
// embedded key file's format (store/embedded/key_file.h).

#include <doctest/doctest.h>

#include "auth/authenticator.h"
#include "auth/crypto.h"
#include "auth/key_table.h"
#include "auth/role.h"
#include "store/embedded/key_file.h"

namespace rf::auth {
namespace {

store::ApiKeyRow Row(std::string id, std::string token, std::string role, int64_t expires_ms = 0,
                     std::string ns = "default") {
  return {std::move(id), "name", std::move(ns), std::move(role), Hex(Sha256(token)), 1, expires_ms};
}

}  // namespace

TEST_SUITE("auth.key_table") {
TEST_CASE("a key is found by the hash of its token, the bootstrap key as admin of every namespace") {
  auto t = KeyTable::Build({Row("a1", "rfk_a1_secret", "operator"), Row("b2", "rfk_b2_x", "nobody")},
                           "bootstrap-token-123456");
  CHECK(t->size() == 2);  // the row with an unknown role is skipped
  const KeyEntry* k = t->Find(Sha256("rfk_a1_secret"));
  REQUIRE(k != nullptr);
  CHECK(k->id == "a1");
  CHECK(k->role == Role::kOperator);
  CHECK(t->Find(Sha256("rfk_a1_secreT")) == nullptr);
  const KeyEntry* b = t->Find(Sha256("bootstrap-token-123456"));
  REQUIRE(b != nullptr);
  CHECK(b->ns == "*");
  CHECK(b->role == Role::kAdmin);
  CHECK_FALSE(ValidBootstrapToken("short"));
  CHECK_FALSE(ValidBootstrapToken("has a space in it!!"));
  CHECK(ValidBootstrapToken("0123456789abcdef"));
}

TEST_CASE("the authenticator accepts live keys and refuses missing, unknown and expired ones") {
  Authenticator a({}, 16);
  a.SetKeys(KeyTable::Build({Row("a1", "rfk_a1_s", "viewer"), Row("e1", "rfk_e1_s", "admin", 5000)}, ""));
  Principal p;
  AuthFailure why;
  std::string msg;
  CHECK(a.Authenticate("Bearer rfk_a1_s", 1000, p, why, msg));
  CHECK(p.subject == "key:a1");
  CHECK(p.role == Role::kViewer);
  CHECK_FALSE(a.Authenticate("", 1000, p, why, msg));
  CHECK(why == AuthFailure::kMissing);
  CHECK_FALSE(a.Authenticate("Basic abc", 1000, p, why, msg));
  CHECK(why == AuthFailure::kScheme);
  CHECK_FALSE(a.Authenticate("Bearer rfk_zz_s", 1000, p, why, msg));
  CHECK(why == AuthFailure::kUnknownKey);
  CHECK(a.Authenticate("Bearer rfk_e1_s", 4999, p, why, msg));
  CHECK_FALSE(a.Authenticate("Bearer rfk_e1_s", 5000, p, why, msg));
  CHECK(why == AuthFailure::kKeyExpired);
  a.SetKeys(KeyTable::Build({}, ""));  // revoked
  CHECK_FALSE(a.Authenticate("Bearer rfk_a1_s", 1000, p, why, msg));
  CHECK(a.stats().failures[static_cast<size_t>(AuthFailure::kUnknownKey)].Get() == 2);
}

TEST_CASE("a key seen before is accepted again from the cache, only by its exact text, until the next snapshot") {
  Authenticator a({}, 16);
  a.SetKeys(KeyTable::Build({Row("a1", "rfk_a1_s", "operator")}, ""));
  Principal p;
  AuthFailure why;
  std::string msg;
  for (int i = 0; i < 3; ++i) CHECK(a.Authenticate("Bearer rfk_a1_s", 1000, p, why, msg));
  CHECK(p.role == Role::kOperator);
  CHECK_FALSE(a.Authenticate("Bearer rfk_a1_", 1000, p, why, msg));
  CHECK_FALSE(a.Authenticate("Bearer rfk_a1_sx", 1000, p, why, msg));
  a.SetKeys(KeyTable::Build({Row("a2", "rfk_a2_s", "viewer")}, ""));  // a1 revoked
  CHECK_FALSE(a.Authenticate("Bearer rfk_a1_s", 1000, p, why, msg));
  CHECK(why == AuthFailure::kUnknownKey);
  CHECK(a.stats().key_hits.Get() == 3);
}

TEST_CASE("a verified JWT is cached until it expires, and a new key set empties the cache") {
  Authenticator a({}, 2);
  auto keys = std::make_shared<JwtKeys>();
  keys->hs256_secret = "a-shared-secret-of-32-bytes-or-more!";
  a.SetJwtKeys(keys);
  auto token = [&](const std::string& sub, int64_t exp) {
    const std::string signing = Base64UrlEncode(R"({"alg":"HS256"})") + "." +
        Base64UrlEncode(R"({"sub":")" + sub + R"(","role":"viewer","exp":)" + std::to_string(exp) + "}");
    const Digest mac = HmacSha256(keys->hs256_secret, signing);
    return "Bearer " + signing + "." + Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(mac.data()), 32));
  };
  Principal p;
  AuthFailure why;
  std::string msg;
  const std::string t1 = token("a", 100);
  CHECK(a.Authenticate(t1, 50'000, p, why, msg));
  CHECK(a.Authenticate(t1, 60'000, p, why, msg));
  CHECK(p.subject == "jwt:a");
  CHECK(a.stats().jwt_cache_hits.Get() == 1);
  CHECK(a.stats().jwt_cache_size.Get() == 1);
  CHECK_FALSE(a.Authenticate(t1, (100 + kLeewaySeconds) * 1000, p, why, msg));  // expired: not from the cache
  CHECK(why == AuthFailure::kJwt);
  // Bounded: a third live token does not grow the cache past its capacity.
  CHECK(a.Authenticate(token("b", 1000), 50'000, p, why, msg));
  CHECK(a.Authenticate(token("c", 1000), 50'000, p, why, msg));
  CHECK(a.Authenticate(token("d", 1000), 50'000, p, why, msg));
  CHECK(a.stats().jwt_cache_size.Get() <= 2);
  a.SetJwtKeys(std::make_shared<JwtKeys>());  // the secret withdrawn
  CHECK(a.stats().jwt_cache_size.Get() == 0);
  CHECK_FALSE(a.Authenticate(token("d", 1000), 50'000, p, why, msg));
}

TEST_CASE("the role table: admin all, operator and developer run, developer edits workflows, viewer reads") {
  for (Role r : {Role::kViewer, Role::kOperator, Role::kDeveloper, Role::kAdmin}) {
    CHECK(RoleAllows(r, Access::kRead));
    CHECK(RoleAllows(r, Access::kRunsStart) == (r != Role::kViewer));
    CHECK(RoleAllows(r, Access::kRunsControl) == (r != Role::kViewer));
    CHECK(RoleAllows(r, Access::kWorkflowsWrite) == (r == Role::kDeveloper || r == Role::kAdmin));
    CHECK(RoleAllows(r, Access::kKeys) == (r == Role::kAdmin));
    CHECK(ParseRole(RoleName(r)) == r);
  }
  CHECK(NamespaceAllows("*", "team-a"));
  CHECK_FALSE(NamespaceAllows("team-a", "default"));
  CHECK(ValidNamespace("team-a1"));
  CHECK_FALSE(ValidNamespace("-a"));
  CHECK_FALSE(ValidNamespace("Team"));
  CHECK_FALSE(ValidNamespace(std::string(64, 'a')));
}
}

TEST_SUITE("store.key_file") {
TEST_CASE("the key file round-trips its rows and refuses a damaged one") {
  std::vector<store::ApiKeyRow> rows{Row("a1", "t1", "viewer", 0), Row("b\"2", "t2", "admin", 99, "*")};
  auto back = store::embedded::KeyFile::Decode(store::embedded::KeyFile::Encode(rows));
  REQUIRE(back.has_value());
  REQUIRE(back->size() == 2);
  CHECK((*back)[1].id == "b\"2");
  CHECK((*back)[1].ns == "*");
  CHECK((*back)[1].expires_ms == 99);
  CHECK((*back)[0].hash == Hex(Sha256("t1")));
  CHECK(store::embedded::KeyFile::Decode("{\"keys\":[{\"id\":1}]}").error().code == Errc::kCorrupt);
  CHECK(store::embedded::KeyFile::Decode("{").error().code == Errc::kCorrupt);
}
}

}  // namespace rf::auth
