#pragma once
// `ringflow doctor`: checks the host against what the daemon needs and prints
// one line per check. Exit 0 when healthy, 1 with findings.
// RINGFLOW_PROC_SYS overrides /proc/sys (tests point it at a fake tree).

#include "app/config.h"

namespace rf::app {

int Doctor(const Config& config);

}  // namespace rf::app
