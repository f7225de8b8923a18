#pragma once
// RF_CHECK: an invariant that cannot fail. On violation, log and abort.

namespace rf::detail {
[[noreturn]] void CheckFailed(const char* expr, const char* file, int line);
}  // namespace rf::detail

#define RF_CHECK(cond) \
  ((cond) ? static_cast<void>(0) : ::rf::detail::CheckFailed(#cond, __FILE__, __LINE__))
