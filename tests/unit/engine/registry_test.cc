#include "engine/registry.h"

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <string_view>


using rf::Errc;
using rf::Status;
using rf::engine::ApplyDefinition;
using rf::engine::Compiled;
using rf::engine::CompileDefinition;
using rf::engine::Definition;
using rf::engine::Registry;
using rf::store::DefinitionChange;

namespace {

// A one-step definition of `name` whose noop step is called `step` (so sources differ by it).
std::string Source(std::string_view name, std::string_view step = "a") {
  return R"({"name":")" + std::string(name) + R"(","steps":[{"id":")" + std::string(step) +
         R"(","type":"noop"}]})";
}

std::shared_ptr<const Definition> Compile(std::string_view name, const std::string& source,
                                          int64_t version) {
  Compiled c = CompileDefinition(name, source, version);
  if (!c.def) FAIL("definition: " << c.errors.at(0).pointer << " " << c.errors.at(0).message);
  return c.def;
}

// What Engine::Put does to the master copy: the next version, added when new.
Registry::PutResult Put(Registry& reg, std::string_view name, const std::string& source) {
  Registry::PutResult r = reg.NextVersion(name, source);
  if (r.created) reg.Add(Compile(name, source, r.version));
  return r;
}

// A put as the definitions log gives it back.
DefinitionChange PutChange(std::string_view name, int64_t version, std::string_view source) {
  return {.kind = DefinitionChange::Kind::kPut,
          .name = std::string(name),
          .version = version,
          .source = std::string(source)};
}

DefinitionChange DeleteChange(std::string_view name) {
  return {.kind = DefinitionChange::Kind::kDelete, .name = std::string(name), .version = 0, .source = {}};
}

void CheckCorrupt(const Status& st, std::string_view why) {
  REQUIRE_FALSE(st.has_value());
  CHECK(st.error().code == Errc::kCorrupt);
  INFO(st.error().context);
  CHECK(st.error().context.find(why) != std::string::npos);
}

}  // namespace

TEST_SUITE("engine.registry") {
  TEST_CASE("a new name starts at version 1 and an unchanged source keeps the latest version") {
    Registry reg;
    auto first = reg.NextVersion("w", Source("w"));
    CHECK(first.version == 1);
    CHECK(first.created);
    reg.Add(Compile("w", Source("w"), 1));

    auto same = reg.NextVersion("w", Source("w"));
    CHECK(same.version == 1);
    CHECK_FALSE(same.created);

    auto changed = reg.NextVersion("w", Source("w", "b"));
    CHECK(changed.version == 2);
    CHECK(changed.created);
    // NextVersion only proposes: nothing was added.
    CHECK(reg.workflows().at("w").versions.size() == 1);
  }

  TEST_CASE("every changed source adds a version and the latest is the last added") {
    Registry reg;
    CHECK(Put(reg, "w", Source("w", "a")).version == 1);
    CHECK(Put(reg, "w", Source("w", "b")).version == 2);
    auto back = Put(reg, "w", Source("w", "a"));  // equal to v1, but v1 is not the latest
    CHECK(back.version == 3);
    CHECK(back.created);
    const auto* latest = reg.Latest("w");
    REQUIRE(latest != nullptr);
    CHECK((*latest)->version == 3);
    CHECK((*latest)->source == Source("w", "a"));
    // Other names are independent.
    CHECK(Put(reg, "v", Source("v")).version == 1);
    CHECK(reg.workflows().size() == 2);
  }

  TEST_CASE("after a delete the same source registers again as a new version") {
    Registry reg;
    Put(reg, "w", Source("w"));
    CHECK(reg.Delete("w"));
    CHECK_FALSE(reg.Delete("w"));        // already deleted
    CHECK_FALSE(reg.Delete("unknown"));  // never registered
    auto again = reg.NextVersion("w", Source("w"));
    CHECK(again.version == 2);
    CHECK(again.created);
    reg.Add(Compile("w", Source("w"), again.version));
    CHECK_FALSE(reg.workflows().at("w").deleted);
    REQUIRE(reg.Latest("w") != nullptr);
    CHECK((*reg.Latest("w"))->version == 2);
  }

  TEST_CASE("a deleted workflow has no latest version but every version can still be found") {
    Registry reg;
    Put(reg, "w", Source("w", "a"));
    Put(reg, "w", Source("w", "b"));
    REQUIRE(reg.Delete("w"));
    CHECK(reg.Latest("w") == nullptr);
    const auto* v1 = reg.Find("w", 1);
    const auto* v2 = reg.Find("w", 2);
    REQUIRE(v1 != nullptr);
    REQUIRE(v2 != nullptr);
    CHECK((*v1)->version == 1);
    CHECK((*v1)->source == Source("w", "a"));
    CHECK((*v2)->source == Source("w", "b"));
    CHECK(reg.Find("w", 0) == nullptr);
    CHECK(reg.Find("w", 3) == nullptr);
    CHECK(reg.Find("w", -1) == nullptr);
    CHECK(reg.Find("x", 1) == nullptr);
    CHECK(reg.Latest("x") == nullptr);
  }

  TEST_CASE("put and delete records applied in order rebuild the same registry") {
    Registry master;
    std::vector<DefinitionChange> log;
    auto put = [&](std::string_view name, const std::string& source) {
      auto r = Put(master, name, source);
      REQUIRE(r.created);
      const Definition& def = **master.Find(name, r.version);
      log.push_back(PutChange(def.name, def.version, def.source));
    };
    put("orders", Source("orders", "a"));
    put("orders", Source("orders", "b"));
    put("billing", Source("billing"));
    REQUIRE(master.Delete("billing"));
    log.push_back(DeleteChange("billing"));
    REQUIRE(master.Delete("orders"));
    log.push_back(DeleteChange("orders"));
    put("orders", Source("orders", "b"));  // registered again: version 3

    Registry replica;
    for (const DefinitionChange& c : log) {
      Status st = ApplyDefinition(replica, c);
      INFO(c.name);
      REQUIRE(st.has_value());
    }
    REQUIRE(replica.workflows().size() == master.workflows().size());
    for (const auto& [name, w] : master.workflows()) {
      INFO(name);
      auto it = replica.workflows().find(name);
      REQUIRE(it != replica.workflows().end());
      CHECK(it->second.deleted == w.deleted);
      REQUIRE(it->second.versions.size() == w.versions.size());
      for (size_t i = 0; i < w.versions.size(); ++i) {
        CHECK(it->second.versions[i]->version == static_cast<int64_t>(i + 1));
        CHECK(it->second.versions[i]->name == name);
        CHECK(it->second.versions[i]->source == w.versions[i]->source);
        CHECK(it->second.versions[i]->steps.size() == w.versions[i]->steps.size());
      }
    }
    CHECK(replica.Latest("billing") == nullptr);
    REQUIRE(replica.Latest("orders") != nullptr);
    CHECK((*replica.Latest("orders"))->version == 3);
    // The replica continues the numbering as the master would.
    CHECK(replica.NextVersion("orders", Source("orders", "b")).created == false);
    CHECK(replica.NextVersion("billing", Source("billing")).version == 2);
  }

  TEST_CASE("a put record that skips or repeats a version is corrupt") {
    Registry reg;
    CheckCorrupt(ApplyDefinition(reg, PutChange("w", 2, Source("w"))),
                 "versions skip");
    CHECK(reg.Latest("w") == nullptr);
    REQUIRE(ApplyDefinition(reg, PutChange("w", 1, Source("w"))).has_value());
    CheckCorrupt(ApplyDefinition(reg, PutChange("w", 3, Source("w", "b"))),
                 "versions skip");
    CheckCorrupt(ApplyDefinition(reg, PutChange("w", 1, Source("w", "b"))),
                 "version repeated");
    REQUIRE(ApplyDefinition(reg, PutChange("w", 2, Source("w", "b"))).has_value());
    CHECK(reg.workflows().at("w").versions.size() == 2);
  }

  TEST_CASE("a put record whose source no longer compiles is corrupt and names the workflow") {
    Registry reg;
    // What an older build might have accepted: a step type this one does not know.
    const std::string old = R"({"name":"w","steps":[{"id":"a","type":"sleep"}]})";
    Status st = ApplyDefinition(reg, PutChange("w", 1, old));
    CheckCorrupt(st, "no longer compiles");
    CHECK(st.error().context.find("'w' version 1") != std::string::npos);
    CHECK(st.error().context.find("/steps/0/type") != std::string::npos);
    // A name in the record that disagrees with the source's name does not compile either.
    CheckCorrupt(ApplyDefinition(reg, PutChange("v", 1, Source("w"))),
                 "no longer compiles");
    CHECK(reg.workflows().empty());
  }
}

TEST_CASE("registry: triggers are indexed by namespace and event type, latest versions only") {
  Registry reg;
  auto with = [](std::string_view name, std::string_view triggers) {
    return R"({"name":")" + std::string(name) + R"(","steps":[{"id":"a","type":"noop"}],"triggers":)" +
           std::string(triggers) + "}";
  };
  Put(reg, "ship", with("ship", R"([{"event":"order.created"}])"));
  Put(reg, "team-a/ship", with("ship", R"([{"event":"order.created","when":"input.n > 1"}])"));
  Put(reg, "vip", with("vip", R"([{"event":"order.created"},{"event":"order.paid"}])"));
  Put(reg, "vip", with("vip", R"([{"event":"order.paid"}])"));  // version 2 drops order.created
  Put(reg, "gone", with("gone", R"([{"event":"order.created"}])"));
  reg.Delete("gone");
  reg.IndexTriggers();
  const auto* created = reg.Subscribers("default", "order.created");
  REQUIRE(created != nullptr);
  REQUIRE(created->size() == 1);
  CHECK((*created)[0]->name == "ship");
  const auto* paid = reg.Subscribers("default", "order.paid");
  REQUIRE(paid != nullptr);
  CHECK((*paid)[0]->version == 2);
  const auto* scoped = reg.Subscribers("team-a", "order.created");
  REQUIRE(scoped != nullptr);
  CHECK((*scoped)[0]->name == "team-a/ship");
  CHECK((*scoped)[0]->triggers.at(0).when.has_value());
  CHECK(reg.Subscribers("team-b", "order.created") == nullptr);
  CHECK(reg.Subscribers("default", "order") == nullptr);
}

TEST_CASE("definitions: a qualified URL name keeps its namespace; the body names the plain name") {
  Compiled c = CompileDefinition("team-a/orders", R"({"name":"orders","steps":[{"id":"a","type":"noop"}]})");
  REQUIRE(c.def);
  CHECK(c.def->name == "team-a/orders");
  Compiled bad = CompileDefinition("team-a/orders", R"({"name":"team-a/orders","steps":[{"id":"a","type":"noop"}]})");
  CHECK_FALSE(bad.def);
  Compiled bad_ns = CompileDefinition("Team_A/orders", R"({"steps":[{"id":"a","type":"noop"}]})");
  REQUIRE_FALSE(bad_ns.def);
  CHECK(bad_ns.errors.at(0).pointer == "/name");
}
