#include "engine/dag.h"

#include <doctest/doctest.h>

#include <vector>

using rf::engine::Ancestry;
using rf::engine::DagOrder;
using rf::engine::TopologicalOrder;
using Deps = std::vector<std::vector<uint32_t>>;

TEST_SUITE("engine.dag") {
  TEST_CASE("an order that is already valid is kept") {
    Deps deps = {{}, {0}, {0}, {1, 2}};
    DagOrder o = TopologicalOrder(deps);
    CHECK(o.cycles.empty());
    CHECK(o.order == std::vector<uint32_t>{0, 1, 2, 3});
  }

  TEST_CASE("dependencies are placed before their dependents") {
    // 0 depends on 3, 3 on 1; 2 is free.
    Deps deps = {{3}, {}, {}, {1}};
    DagOrder o = TopologicalOrder(deps);
    CHECK(o.cycles.empty());
    CHECK(o.order == std::vector<uint32_t>{1, 2, 3, 0});
  }

  TEST_CASE("a two-node cycle is reported in execution order") {
    Deps deps = {{1}, {0}, {}};
    DagOrder o = TopologicalOrder(deps);
    REQUIRE(o.cycles.size() == 1);
    CHECK(o.cycles[0] == std::vector<uint32_t>{0, 1});
    CHECK(o.order == std::vector<uint32_t>{2});
  }

  TEST_CASE("a cycle is rotated to start at its smallest index") {
    // 1 depends on 0, 2 on 1, 0 on 2: in execution order 0 -> 1 -> 2 -> 0.
    Deps deps = {{2}, {0}, {1}};
    DagOrder o = TopologicalOrder(deps);
    REQUIRE(o.cycles.size() == 1);
    CHECK(o.cycles[0] == std::vector<uint32_t>{0, 1, 2});
  }

  TEST_CASE("disjoint cycles are each reported once and their dependents are not") {
    // 0 <-> 1, 2 <-> 3, 4 depends on 1 (downstream of a cycle, not on one).
    Deps deps = {{1}, {0}, {3}, {2}, {1}};
    DagOrder o = TopologicalOrder(deps);
    REQUIRE(o.cycles.size() == 2);
    CHECK(o.cycles[0] == std::vector<uint32_t>{0, 1});
    CHECK(o.cycles[1] == std::vector<uint32_t>{2, 3});
    CHECK(o.order.empty());
  }

  TEST_CASE("ancestry is transitive and excludes unrelated branches") {
    // 0 -> 1 -> 3, 0 -> 2, 4 alone.
    Deps deps = {{}, {0}, {0}, {1}, {}};
    DagOrder o = TopologicalOrder(deps);
    Ancestry a(deps, o.order);
    CHECK(a.DependsOn(3, 1));
    CHECK(a.DependsOn(3, 0));
    CHECK_FALSE(a.DependsOn(3, 2));
    CHECK_FALSE(a.DependsOn(3, 3));
    CHECK_FALSE(a.DependsOn(0, 3));
    CHECK_FALSE(a.DependsOn(4, 0));
  }

  TEST_CASE("ancestry works across 64-bit word boundaries") {
    Deps deps(200);
    for (uint32_t i = 1; i < 200; ++i) deps[i] = {i - 1};
    DagOrder o = TopologicalOrder(deps);
    Ancestry a(deps, o.order);
    CHECK(a.DependsOn(199, 0));
    CHECK(a.DependsOn(130, 64));
    CHECK(a.DependsOn(64, 63));
    CHECK_FALSE(a.DependsOn(63, 64));
  }
}
