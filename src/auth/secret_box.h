#pragma once
// Secrets at rest: AES-256-GCM over OpenSSL's libcrypto with the daemon's one key
// (--secrets-key-file). Every seal draws a fresh 96-bit nonce; the namespace and name of the
// secret are the associated data, so a ciphertext copied onto another secret's row (or into
// another namespace) does not open. Pure and thread-safe: a SecretKey is immutable once parsed
// and shared by every shard.
//
// Sealed format: 0x01 | nonce (12) | ciphertext | tag (16).

#include <array>
#include <string>
#include <string_view>

#include "base/result.h"

namespace rf::auth {

class SecretKey {
 public:
  // From the contents of the key file (or RINGFLOW_SECRETS_KEY): 64 hex digits (surrounding
  // whitespace ignored, as `openssl rand -hex 32` writes them) or exactly 32 raw bytes.
  // Errors: kInvalidArgument saying what is wrong (never quoting the text).
  static Result<SecretKey> Parse(std::string_view text);

  SecretKey(const SecretKey&) = delete;
  SecretKey& operator=(const SecretKey&) = delete;
  SecretKey(SecretKey&& other) noexcept;
  ~SecretKey();

  // A public fingerprint of the key (16 hex digits), stored beside every ciphertext so that a
  // daemon started with another key says so instead of failing to open.
  const std::string& id() const { return id_; }

  // Errors: kIo (no random bytes), kInternal (libcrypto refused).
  Result<std::string> Seal(std::string_view plaintext, std::string_view aad) const;
  // Errors: kCorrupt (not this format, another key, other associated data, tampered).
  Result<std::string> Open(std::string_view sealed, std::string_view aad) const;

 private:
  SecretKey() = default;
  std::array<unsigned char, 32> key_{};
  std::string id_;
};

// The associated data that binds a secret's ciphertext to its namespace and name.
std::string SecretAad(std::string_view ns, std::string_view name);

}  // namespace rf::auth
