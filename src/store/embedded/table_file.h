#pragma once
// Small tables kept whole in one file under the data directory (API keys, secrets): read at
// load, rewritten atomically on every change (file_ops.h WriteFileAtomicBlocking: a crash
// leaves the old or the new text, never a mix). The file I/O runs on the offload pool, never on
// the shard. The tables are small and change rarely, so a rewrite per change is cheap.

#include <string>

#include "base/result.h"
#include "reactor/task.h"

namespace rf::store::embedded {

// The text of <dir>/<name>; empty when the file does not exist. Suspends.
reactor::Task<Result<std::string>> ReadTableFile(std::string dir, std::string name);
// Replaces <dir>/<name> with `text` (mode 0600), durable on return. Suspends.
reactor::Task<Status> WriteTableFile(std::string dir, std::string name, std::string text);

}  // namespace rf::store::embedded
