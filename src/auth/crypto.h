#pragma once
// The few primitives auth needs, over OpenSSL's libcrypto: SHA-256, HMAC-SHA256, random bytes
// (getrandom), base64url (RFC 4648 section 5, no padding) and a constant-time compare. Pure and
// thread-safe.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace rf::auth {

using Digest = std::array<uint8_t, 32>;

// Initialises libcrypto (its config, error strings) and fetches SHA-256 once. Call on the main
// thread before the shards run, so a shard never pays for (or locks in) libcrypto's lazy set-up
// and Sha256 never looks the algorithm up per call.
void InitCrypto();

Digest Sha256(std::string_view data);
std::string Hex(const Digest& d);
Digest HmacSha256(std::string_view key, std::string_view data);

// `n` bytes from getrandom(2). Errors: kIo (the kernel refused).
Result<std::string> RandomBytes(size_t n);

std::string Base64UrlEncode(std::string_view bytes);
// Strict: only [A-Za-z0-9_-], no padding, no bits left over. nullopt otherwise.
std::optional<std::string> Base64UrlDecode(std::string_view text);

bool ConstantTimeEqual(std::string_view a, std::string_view b);

}  // namespace rf::auth
