#include "auth/peer_signature.h"

#include <charconv>
#include <system_error>

#include "auth/crypto.h"

namespace rf::auth {
namespace {

std::string Mac(std::string_view secret, std::string_view seconds, const PeerRequest& r) {
  std::string text = "ringflow-peer-v1\n";
  text += seconds;
  text += '\n';
  text += r.method;
  text += '\n';
  text += r.target;
  text += '\n';
  text += r.idempotency_key;
  text += '\n';
  text += Hex(Sha256(r.body));
  return Hex(HmacSha256(secret, text));
}

}  // namespace

std::string SignPeerRequest(std::string_view secret, int64_t now_s, const PeerRequest& r) {
  const std::string seconds = std::to_string(now_s);
  return seconds + "." + Mac(secret, seconds, r);
}

bool VerifyPeerRequest(std::string_view secret, std::string_view header, int64_t now_s,
                       const PeerRequest& r, std::string& why) {
  const size_t dot = header.find('.');
  int64_t at = 0;
  const auto parsed = dot == std::string_view::npos
                          ? std::from_chars_result{header.data(), std::errc::invalid_argument}
                          : std::from_chars(header.data(), header.data() + dot, at);
  if (dot == 0 || parsed.ec != std::errc() || parsed.ptr != header.data() + dot) {
    why = "X-Ringflow-Peer is not <seconds>.<signature>";
    return false;
  }
  if (at < now_s - kPeerSkewSeconds || at > now_s + kPeerSkewSeconds) {
    why = "X-Ringflow-Peer is dated " + std::to_string(at > now_s ? at - now_s : now_s - at) +
          " s away from this daemon's clock (at most " + std::to_string(kPeerSkewSeconds) + " s)";
    return false;
  }
  if (!ConstantTimeEqual(header.substr(dot + 1), Mac(secret, header.substr(0, dot), r))) {
    why = "X-Ringflow-Peer does not sign this request with this cluster's secret";
    return false;
  }
  return true;
}

}  // namespace rf::auth
