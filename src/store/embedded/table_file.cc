#include "store/embedded/table_file.h"

#include <errno.h>

#include "reactor/offload.h"
#include "store/embedded/file_ops.h"

namespace rf::store::embedded {

reactor::Task<Result<std::string>> ReadTableFile(std::string dir, std::string name) {
  // Named, not a temporary in the co_await: GCC 12 mishandles awaiter temporaries that own state.
  auto op = reactor::Offload([path = dir + "/" + name]() -> Result<std::string> {
    auto r = ReadFileBlocking(path);
    if (!r && r.error().sys_errno == ENOENT) return std::string();
    return r;
  });
  co_return co_await op;  // suspends
}

reactor::Task<Status> WriteTableFile(std::string dir, std::string name, std::string text) {
  auto op = reactor::Offload([dir = std::move(dir), name = std::move(name), text = std::move(text)] {
    return WriteFileAtomicBlocking(dir, name, text);
  });
  co_return co_await op;  // suspends
}

}  // namespace rf::store::embedded
