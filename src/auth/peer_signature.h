#pragma once
// Requests one daemon of a cluster sends another on nobody's behalf (a schedule's fire sent to
// the daemon holding its key's partition, and the looks and cancellations of its overlap
// policy): with --auth on they carry no caller's credential, so they are signed instead with
// the cluster's secret, which every daemon sharing the PostgreSQL database reads from it
// (migration 0014). Whoever can read that table can write every run already: the signature
// grants no more than the database does.
//
// Header: X-Ringflow-Peer: <unix seconds>.<hex HMAC-SHA256 of the canonical text>, the text being
// "ringflow-peer-v1\n<seconds>\n<METHOD>\n<target>\n<Idempotency-Key>\n<hex SHA-256 of the body>":
// a signature fits one request only, and is refused more than kPeerSkewSeconds from the
// receiver's clock. A repeat within that window is the same request again (a start repeats its
// Idempotency-Key, a cancellation or a read changes nothing more).

#include <cstdint>
#include <string>
#include <string_view>

namespace rf::auth {

inline constexpr std::string_view kPeerHeader = "X-Ringflow-Peer";
inline constexpr int64_t kPeerSkewSeconds = 300;

struct PeerRequest {
  std::string_view method;           // "POST"
  std::string_view target;           // "/v1/workflows/w/runs" (with its query, if any)
  std::string_view idempotency_key;  // empty: none
  std::string_view body;
};

std::string SignPeerRequest(std::string_view secret, int64_t now_s, const PeerRequest& r);
// True when `header` signs `r` with `secret` within the skew; otherwise false with `why`.
bool VerifyPeerRequest(std::string_view secret, std::string_view header, int64_t now_s,
                       const PeerRequest& r, std::string& why);

}  // namespace rf::auth
