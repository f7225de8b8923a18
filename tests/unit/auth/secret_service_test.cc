// SecretService and SecretVault on a two-shard reactor over the embedded SecretFile: a put is
// on every shard's vault when it returns and survives a new service on the same directory;
// values open only in their own namespace; a file edited by hand (a moved row, a changed byte)
// or another key fails the reveal with an error that names the secret, never its value.

#include <doctest/doctest.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "auth/crypto.h"
#include "auth/secret_service.h"
#include "reactor/shard.h"
#include "reactor/submit_to.h"
#include "reactor/test_reactor.h"
#include "store/embedded/secret_file.h"
#include "test_support.h"

using rf::Errc;
using rf::Result;
using rf::Status;
using rf::auth::SecretKey;
using rf::auth::SecretService;
using rf::auth::SecretVault;
using rf::reactor::Reactor;
using rf::reactor::Task;

namespace {

const std::string kKeyA = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const std::string kKeyB = "ff112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

std::shared_ptr<const SecretKey> Key(const std::string& hex) {
  return std::make_shared<const SecretKey>(std::move(SecretKey::Parse(hex).value()));
}

// A service and its two vaults over <dir>/secrets.json.
struct Fixture {
  std::vector<std::unique_ptr<SecretVault>> vaults;
  std::unique_ptr<SecretService> service;
  Fixture(const std::string& dir, std::shared_ptr<const SecretKey> key) {
    std::vector<SecretVault*> shards;
    for (int i = 0; i < 2; ++i) {
      vaults.push_back(std::make_unique<SecretVault>(key));
      shards.push_back(vaults.back().get());
    }
    service = std::make_unique<SecretService>(std::make_unique<rf::store::embedded::SecretFile>(dir), key, shards);
  }
};

struct Ctx {
  std::string dir;
  std::string key = kKeyA;
  // What the bodies saw.
  Result<std::string> on_shard1{Errc::kInternal};
  Result<std::string> other_ns{Errc::kInternal};
  Result<std::string> revealed{Errc::kInternal};
  Status put_unconfigured;
  bool created_first = false, created_second = true;
  size_t listed = 0;
};
Ctx* g = nullptr;

Result<std::string> RevealOn(SecretVault* v, std::string ns, std::string name) { return v->Reveal(ns, name); }

Task<void> PutAndReveal(Reactor&) {
  Fixture f(g->dir, Key(g->key));
  CO_REQUIRE((co_await f.service->Open()).has_value());
  auto a = co_await f.service->Put("team-a", "TOKEN", "first value");
  CO_REQUIRE(a.has_value());
  g->created_first = a->created;
  auto b = co_await f.service->Put("team-a", "TOKEN", "the value");
  CO_REQUIRE(b.has_value());
  g->created_second = b->created;
  CHECK(b->info.created_ms == a->info.created_ms);
  auto op = rf::reactor::SubmitTo(1, &RevealOn, f.vaults[1].get(), std::string("team-a"), std::string("TOKEN"));
  g->on_shard1 = co_await op;
  g->other_ns = f.vaults[0]->Reveal("team-b", "TOKEN");
  g->listed = f.service->List("team-a").size() + f.service->List("team-b").size();
  co_await f.service->Close();
}

Task<void> Reopen(Reactor&) {
  Fixture f(g->dir, Key(g->key));
  CO_REQUIRE((co_await f.service->Open()).has_value());
  g->revealed = f.vaults[0]->Reveal("team-a", "TOKEN");
  g->listed = f.service->List("team-a").size();
  co_await f.service->Close();
}

Task<void> Unconfigured(Reactor&) {
  Fixture f(g->dir, nullptr);
  CO_REQUIRE((co_await f.service->Open()).has_value());
  auto put = co_await f.service->Put("default", "X", "v");
  g->put_unconfigured = put ? Status{} : Status(put.error());
  g->revealed = f.vaults[0]->Reveal("team-a", "TOKEN");
  g->listed = f.service->List("team-a").size();  // listing needs no key
  co_await f.service->Close();
}

Task<void> DeleteOne(Reactor&) {
  Fixture f(g->dir, Key(g->key));
  CO_REQUIRE((co_await f.service->Open()).has_value());
  CO_REQUIRE((co_await f.service->Delete("team-a", "TOKEN")).has_value());
  Status again = co_await f.service->Delete("team-a", "TOKEN");
  CHECK(again.error().code == Errc::kNotFound);
  g->revealed = f.vaults[1]->Reveal("team-a", "TOKEN");
  co_await f.service->Close();
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

}  // namespace

TEST_SUITE("auth.secret_service") {
TEST_CASE("a secret put on shard 0 opens on shard 1, in its namespace only, and after a reopen") {
  rf::auth::InitCrypto();
  rf::test::TempDir dir("rf-secrets");
  Ctx ctx;
  ctx.dir = dir.path();
  g = &ctx;
  rf::test::RunOnReactor(2, &PutAndReveal);
  CHECK(ctx.created_first);
  CHECK_FALSE(ctx.created_second);
  REQUIRE(ctx.on_shard1.has_value());
  CHECK(*ctx.on_shard1 == "the value");
  REQUIRE_FALSE(ctx.other_ns.has_value());
  CHECK(ctx.other_ns.error().code == Errc::kNotFound);
  CHECK(ctx.listed == 1);
  const std::string file = ReadFile(dir.path() + "/secrets.json");
  CHECK(file.find("the value") == std::string::npos);
  CHECK(file.find("TOKEN") != std::string::npos);

  rf::test::RunOnReactor(2, &Reopen);
  REQUIRE(ctx.revealed.has_value());
  CHECK(*ctx.revealed == "the value");

  SUBCASE("another key: the reveal says so") {
    ctx.key = kKeyB;
    rf::test::RunOnReactor(2, &Reopen);
    REQUIRE_FALSE(ctx.revealed.has_value());
    CHECK(ctx.revealed.error().code == Errc::kCorrupt);
    CHECK(ctx.revealed.error().context.find("another key") != std::string::npos);
  }
  SUBCASE("no key: put refused, reveal fails, listing works") {
    rf::test::RunOnReactor(2, &Unconfigured);
    CHECK(ctx.put_unconfigured.error().code == Errc::kUnavailable);
    CHECK(ctx.revealed.error().code == Errc::kUnavailable);
    CHECK(ctx.listed == 1);
  }
  SUBCASE("a row moved to another namespace does not open there") {
    std::string text = ReadFile(dir.path() + "/secrets.json");
    const size_t at = text.find("\"team-a\"");
    REQUIRE(at != std::string::npos);
    text.replace(at, 8, "\"team-c\"");
    WriteFile(dir.path() + "/secrets.json", text);
    rf::test::RunOnReactor(2, [](Reactor&) -> Task<void> {
      Fixture f(g->dir, Key(g->key));
      CO_REQUIRE((co_await f.service->Open()).has_value());
      g->revealed = f.vaults[0]->Reveal("team-c", "TOKEN");
      co_await f.service->Close();
    });
    REQUIRE_FALSE(ctx.revealed.has_value());
    CHECK(ctx.revealed.error().code == Errc::kCorrupt);
    CHECK(ctx.revealed.error().context.find("TOKEN") != std::string::npos);
    CHECK(ctx.revealed.error().context.find("the value") == std::string::npos);
  }
  SUBCASE("a changed ciphertext byte does not open") {
    std::string text = ReadFile(dir.path() + "/secrets.json");
    const size_t at = text.find("\"sealed\":\"");
    REQUIRE(at != std::string::npos);
    char& c = text[at + 10 + 40];
    c = c == '0' ? '1' : '0';
    WriteFile(dir.path() + "/secrets.json", text);
    rf::test::RunOnReactor(2, &Reopen);
    REQUIRE_FALSE(ctx.revealed.has_value());
    CHECK(ctx.revealed.error().code == Errc::kCorrupt);
  }
  SUBCASE("deleted: gone from every shard") {
    rf::test::RunOnReactor(2, &DeleteOne);
    CHECK(ctx.revealed.error().code == Errc::kNotFound);
    rf::test::RunOnReactor(2, &Reopen);
    CHECK(ctx.listed == 0);
  }
}

TEST_CASE("secret names are what a template can reference") {
  CHECK(rf::auth::ValidSecretName("API_TOKEN-2"));
  CHECK_FALSE(rf::auth::ValidSecretName(""));
  CHECK_FALSE(rf::auth::ValidSecretName("a.b"));
  CHECK_FALSE(rf::auth::ValidSecretName("a/b"));
  CHECK_FALSE(rf::auth::ValidSecretName(std::string(129, 'a')));
}
}
