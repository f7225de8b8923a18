#include "base/tenancy.h"

#include <doctest/doctest.h>

namespace rf {

TEST_CASE("namespace names: a-z 0-9 -, 1 to 63, not starting with -") {
  CHECK(ValidNamespace("default"));
  CHECK(ValidNamespace("team-a"));
  CHECK(ValidNamespace("0"));
  CHECK(ValidNamespace(std::string(63, 'x')));
  CHECK_FALSE(ValidNamespace(""));
  CHECK_FALSE(ValidNamespace(std::string(64, 'x')));
  CHECK_FALSE(ValidNamespace("-a"));
  CHECK_FALSE(ValidNamespace("Team"));
  CHECK_FALSE(ValidNamespace("a_b"));
  CHECK_FALSE(ValidNamespace("a/b"));
  CHECK_FALSE(ValidNamespace("a.b"));
}

TEST_CASE("qualified names: the default namespace keeps the plain name") {
  CHECK(QualifiedName("default", "orders") == "orders");
  CHECK(QualifiedName("team-a", "orders") == "team-a/orders");
  const ScopedName plain = SplitQualified("orders");
  CHECK(plain.ns == "default");
  CHECK(plain.name == "orders");
  const ScopedName scoped = SplitQualified("team-a/orders");
  CHECK(scoped.ns == "team-a");
  CHECK(scoped.name == "orders");
  CHECK(InNamespace("orders", "default"));
  CHECK_FALSE(InNamespace("orders", "team-a"));
  CHECK(InNamespace("team-a/orders", "team-a"));
  CHECK_FALSE(InNamespace("team-a/orders", "default"));
  CHECK_FALSE(InNamespace("team-ab/orders", "team-a"));
  CHECK(DescribeName("orders") == "'orders'");
  CHECK(DescribeName("team-a/orders") == "'orders' in namespace 'team-a'");
}

}  // namespace rf
