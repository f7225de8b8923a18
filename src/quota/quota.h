#pragma once
// Quotas and rate limits per namespace (--quotas-file, reloaded on SIGHUP):
//   {"default":    {"requests_per_second": 500, "starts_per_second": 100, "live_runs": 10000},
//    "namespaces": {"team-a": {"requests_per_second": 50, "burst": 100, "live_runs": 200}}}
// A namespace listed under "namespaces" takes its own limits, a field it leaves out comes from
// "default"; an absent limit (or 0) is no limit. Rates are per second over the whole instance
// (each shard enforces its even part, Limiter), or over the cluster with --redis-url
// (SharedBucket); "burst" is how far above the rate a moment may
// go (default: one second's worth), for both rates. "retained_history_bytes" caps the
// finished-run history a namespace keeps (an integer, or a string with a K/M/G/T suffix:
// "512M"). A namespace may also name "egress_allow":
// what its http steps may reach beyond --egress-allow.

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/result.h"

namespace rf::quota {

struct Limits {
  double requests_per_second = 0;  // 0: unlimited
  double starts_per_second = 0;    // run starts; 0: unlimited
  double burst_seconds = 1;        // a bucket holds this many seconds of its rate
  int64_t live_runs = 0;           // 0: unlimited
  // Bytes of finished-run history the namespace may keep (its runs' logs as history stores
  // them); at or over it, run starts are refused until retention brings it back under.
  // A total over the cluster (history is shared), not split over instances. 0: unlimited.
  int64_t retained_history_bytes = 0;
  // Namespaces only: more addresses, CIDRs and host patterns its http steps may reach, on top of
  // --egress-allow (comma-separated, as the flag; an array in the file).
  std::string egress_allow;
};

struct Config {
  Limits defaults;
  std::map<std::string, Limits, std::less<>> namespaces;
  const Limits& For(std::string_view ns) const {
    auto it = namespaces.find(ns);
    return it == namespaces.end() ? defaults : it->second;
  }
  bool any() const;  // some limit is set somewhere
  bool caps_history() const;  // retained_history_bytes is set somewhere
};

// Parses and checks a quotas file; kInvalidArgument naming the field (a JSON pointer) otherwise.
Result<Config> ParseConfig(std::string_view json_text);

// A token bucket: `rate` tokens a second up to `capacity`. Starts full.
class TokenBucket {
 public:
  // Takes one token at `now`: true, or false with how long until one is there.
  bool Take(double rate, double capacity, Nanos now, Nanos& wait);
  // Full again (nothing taken lately): the limiter may forget it.
  bool Idle(double rate, double capacity, Nanos now) const;

 private:
  double tokens_ = -1;  // < 0: not used yet (full)
  Nanos last_ = 0;
};

}  // namespace rf::quota
