#pragma once
// The one duration grammar of ringflow. Flags, RINGFLOW_* variables, config-file keys and query
// parameters (?wait=) all parse durations with ParseDuration, so a value means the same wherever
// it is written:
//
//   duration = 1*DIGIT [ unit ]      unit = "us" / "ms" / "s" / "m" / "h"
//
// A bare number is seconds ("10" == "10s"). No sign, no fraction, no spaces, no compound forms
// ("1m30s"); a value that does not fit in int64 nanoseconds is an error.

#include <string_view>

#include "base/clock.h"
#include "base/result.h"

namespace rf {

Result<Nanos> ParseDuration(std::string_view text);

}  // namespace rf
