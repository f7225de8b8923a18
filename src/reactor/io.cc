#include "reactor/io.h"

namespace rf::reactor {

Task<Status> SendAll(int fd, std::string_view data, Completion** current) {
  while (!data.empty()) {
    SendOp op(fd, data);
    if (current) *current = &op;
    auto n = co_await op;  // suspends
    if (current) *current = nullptr;
    if (!n) co_return n.error();
    if (*n == 0) co_return Error{Errc::kIo, "send: peer closed"};
    data.remove_prefix(*n);
  }
  co_return Status{};
}

}  // namespace rf::reactor
