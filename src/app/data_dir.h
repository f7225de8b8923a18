#pragma once
// What a daemon keeps in its --data-dir beside the stores: the lock that makes it its own, the
// instance name derived from it, and the SLO windows' saved state.

#include <string>

#include "api/slo.h"
#include "base/result.h"

namespace rf::app {

// One daemon per data directory: its journals, and with a shared database its identity in the
// partition leases (DefaultInstanceId), belong to one process. The lock lives as long as the
// process (the descriptor is never closed); a second daemon is told the holder's pid.
Status LockDataDir(const std::string& dir);

// The name this daemon's shards hold partition leases under: the same after a restart on the
// same data dir (it takes its own leases back at once), and different for every daemon.
std::string DefaultInstanceId(const std::string& data_dir);

// GET /v1/slo's windows outlive restarts in <data-dir>/slo.json (read here, before the reactor
// runs; written every minute off the shard). A file that cannot be read is logged and replaced.
api::SloService::Persistence SloPersistence(const std::string& data_dir);

}  // namespace rf::app
