#pragma once
// Namespaces (tenants): every workflow, run, key, secret, schedule and event stream belongs to
// one. Inside the engine and the stores a workflow is known by its qualified name: the plain
// name in the `default` namespace (so what existed before namespaces keeps its name), and
// "<ns>/<name>" in any other. Neither part may contain '/', so the split is unambiguous and
// a user can never name a workflow into another namespace.

#include <string>
#include <string_view>

namespace rf {

inline constexpr std::string_view kDefaultNamespace = "default";

// Namespace names: 1..63 of [a-z0-9-], not starting with '-'.
bool ValidNamespace(std::string_view ns);

// Secret names (per namespace): 1..128 of [A-Za-z0-9_-], what a {{secrets.NAME}} reference
// or a trigger's signing secret can name.
bool ValidSecretName(std::string_view name);

// "<ns>/<name>", or `name` itself in the default namespace.
std::string QualifiedName(std::string_view ns, std::string_view name);

struct ScopedName {
  std::string_view ns;    // kDefaultNamespace when the name has no prefix
  std::string_view name;  // the plain name
};
// Views into `qualified`.
ScopedName SplitQualified(std::string_view qualified);

// For messages: "'name'" in the default namespace, "'name' in namespace 'ns'" elsewhere.
std::string DescribeName(std::string_view qualified);

// Whether the qualified name belongs to namespace `ns`.
inline bool InNamespace(std::string_view qualified, std::string_view ns) {
  return SplitQualified(qualified).ns == ns;
}

}  // namespace rf
