#include "base/tenancy.h"

namespace rf {

bool ValidNamespace(std::string_view ns) {
  if (ns.empty() || ns.size() > 63 || ns.front() == '-') return false;
  for (char c : ns)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  return true;
}

bool ValidSecretName(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
      return false;
  return true;
}

std::string QualifiedName(std::string_view ns, std::string_view name) {
  if (ns == kDefaultNamespace) return std::string(name);
  std::string out;
  out.reserve(ns.size() + 1 + name.size());
  out.append(ns).append(1, '/').append(name);
  return out;
}

std::string DescribeName(std::string_view qualified) {
  const ScopedName s = SplitQualified(qualified);
  std::string out = "'" + std::string(s.name) + "'";
  if (s.ns != kDefaultNamespace) out += " in namespace '" + std::string(s.ns) + "'";
  return out;
}

ScopedName SplitQualified(std::string_view qualified) {
  const size_t slash = qualified.find('/');
  if (slash == std::string_view::npos) return {kDefaultNamespace, qualified};
  return {qualified.substr(0, slash), qualified.substr(slash + 1)};
}

}  // namespace rf
