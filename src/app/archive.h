#pragma once
// `ringflow archive --before DURATION --out FILE`: exports finished runs as
// gzip'd JSON lines, oldest first, for users who must keep records longer than
// --retention. One line per run: its summary and every record of its log (the
// same compact JSON the journal holds), so the file needs no definitions to be
// read. Safe beside a running daemon (embedded: RocksDB opened as a secondary;
// PostgreSQL: one read-only snapshot through a cursor).

#include "app/config.h"

namespace rf::app {

// Returns the process exit code: 0 done, 1 failed (the reason on stderr).
int Archive(const Config& config);

}  // namespace rf::app
