#pragma once
// What the store interface sees of a run (store::RunRow) and of one record the
// coordinator appends (store::AppendedRecord, with the durable timer it arms or
// ends). The engine decides both, so stores that keep rows and timers
// (PostgreSQL) need no knowledge of steps or records.

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/record.h"
#include "engine/run.h"
#include "store/store.h"

namespace rf::engine {

// Storage for the JSON texts a full row points into; reused across appends.
struct RowText {
  std::string input;
  std::string output;
  std::string error;
};

// The row of `run` as it stands. `full`: every field (stores with wants_rows());
// otherwise only the id. `created`: the record being appended created the run
// (the row carries its input then). Views into `run` and `text`.
store::RunRow MakeRunRow(const Run& run, bool full, bool created, RowText& text);

// `r` (already applied to `run`) as the store appends it at `seq`.
store::AppendedRecord MakeAppended(const Run& run, const Record& r, uint32_t seq,
                                   std::string_view payload);

}  // namespace rf::engine
