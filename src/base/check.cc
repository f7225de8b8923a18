#include "base/check.h"

#include <cstdio>
#include <cstdlib>

namespace rf::detail {

void CheckFailed(const char* expr, const char* file, int line) {
  std::fprintf(stderr, "{\"level\":\"fatal\",\"msg\":\"check failed\",\"expr\":\"%s\",\"at\":\"%s:%d\"}\n",
               expr, file, line);
  std::abort();
}

}  // namespace rf::detail
