#pragma once
// The limits of the JSON values ringflow stores: one set, in one place. They
// apply where values enter (the API: run inputs, signal payloads,
// definitions), where the engine makes them (step outputs, run outputs), and,
// with room to spare, where stored records are read back (replay). What the
// engine writes, it can always read back (DESIGN.md, "No poison records").
//
// They live in json/ because every module that meets a value includes json/
// (api, engine, steps, the stores' decoders), while json/ includes none of them.

#include <cstddef>
#include <string>

#include "base/result.h"
#include "json/value.h"

namespace rf::json {

// --- live limits: every value a run holds (input, step output, signal payload, run output) ---

// Containers nested inside each other: `[]` is depth 1, `[[]]` depth 2, a scalar depth 0.
inline constexpr size_t kMaxDepth = 64;
// The value as Write() encodes it. Strings and object keys are part of a value, so no string is
// longer than this either.
inline constexpr size_t kMaxValueBytes = 1 << 20;
// A record's text (an error message, an idempotency key); longer texts are cut (TruncateUtf8).
inline constexpr size_t kMaxTextBytes = 16 << 10;

// --- records: an envelope object around at most one value and one text ---

inline constexpr size_t kRecordEnvelopeDepth = 1;
inline constexpr size_t kMaxRecordEnvelopeBytes = 4 << 10;  // type, run id, times, step, names
inline constexpr size_t kMaxEscapeGrowth = 6;               // one byte written as \u00XX
inline constexpr size_t kMaxRecordBytes =
    kMaxRecordEnvelopeBytes + kMaxValueBytes + kMaxEscapeGrowth * kMaxTextBytes;

// --- replay: what decoders of stored records accept ---
// At least what a live record can contain, and more, so that records written under older, looser
// limits still read back.
// Well within the parser's own bound (parse.h: 1024, in practice 1023 around a scalar).
inline constexpr size_t kReplayMaxDepth = 512;
inline constexpr size_t kReplayMaxBytes = 64 << 20;

static_assert(kReplayMaxDepth >= kMaxDepth + kRecordEnvelopeDepth);
static_assert(kReplayMaxBytes >= kMaxRecordBytes);

struct ValueLimits {
  size_t max_depth = kMaxDepth;
  size_t max_bytes = kMaxValueBytes;
};

// Checks `v` against `limits`; stops at the first problem. Errors, with a context that completes
// "step output ..." or "input ...":
// - Errc::kTooDeep: "nests deeper than 64"
// - Errc::kTooLarge: "exceeds 1 MiB once encoded"
// - Errc::kInvalidArgument: "holds a string that is not valid UTF-8"
Status CheckValue(const Value& v, const ValueLimits& limits = {});

// "1 MiB", "16 KiB", "100 bytes": for messages about limits.
std::string SizeText(size_t bytes);

}  // namespace rf::json
