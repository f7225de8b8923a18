#include "auth/secret_box.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <memory>

#include "auth/crypto.h"
#include "base/hex.h"

namespace rf::auth {
namespace {

constexpr unsigned char kFormat = 0x01;
constexpr size_t kNonce = 12;
constexpr size_t kTag = 16;

// Fetched once: an implicit fetch looks the algorithm up under libcrypto's lock on every call.
const EVP_CIPHER* AesGcm() {
  static EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  return cipher ? cipher : EVP_aes_256_gcm();
}

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, void (*)(EVP_CIPHER_CTX*)>;

CipherCtx NewCtx() { return CipherCtx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free); }

const unsigned char* U(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

}  // namespace

SecretKey::SecretKey(SecretKey&& other) noexcept : key_(other.key_), id_(std::move(other.id_)) {
  OPENSSL_cleanse(other.key_.data(), other.key_.size());
}

SecretKey::~SecretKey() { OPENSSL_cleanse(key_.data(), key_.size()); }

Result<SecretKey> SecretKey::Parse(std::string_view text) {
  std::string raw;
  if (text.size() == 32) {
    raw.assign(text);
    bool printable = true;
    for (char c : raw) printable = printable && c >= 0x20 && c < 0x7f;
    // Random bytes are all printable once in 10^13 tries; text is a hex key cut short.
    if (printable)
      return Error{Errc::kInvalidArgument,
                   "32 characters of text, not 32 random bytes: write 64 hex digits "
                   "(openssl rand -hex 32) or 32 raw random bytes"};
  } else {
    while (!text.empty() && IsSpace(text.front())) text.remove_prefix(1);
    while (!text.empty() && IsSpace(text.back())) text.remove_suffix(1);
    auto decoded = text.size() == 64 ? HexDecode(text) : std::nullopt;
    if (!decoded)
      return Error{Errc::kInvalidArgument,
                   "must hold a 256-bit key: 64 hex digits (openssl rand -hex 32) or exactly 32 raw "
                   "bytes; found " + std::to_string(text.size()) + " bytes that are neither"};
    raw = std::move(*decoded);
  }
  bool zero = true;
  for (char c : raw) zero = zero && c == 0;
  if (zero) return Error{Errc::kInvalidArgument, "the key is all zeros: use random bytes"};
  SecretKey k;
  std::copy(raw.begin(), raw.end(), k.key_.begin());
  OPENSSL_cleanse(raw.data(), raw.size());
  const std::string_view label = "ringflow secrets key id\n";
  std::string idsrc(label);
  idsrc.append(reinterpret_cast<const char*>(k.key_.data()), k.key_.size());
  k.id_ = Hex(Sha256(idsrc)).substr(0, 16);
  OPENSSL_cleanse(idsrc.data(), idsrc.size());
  return k;
}

Result<std::string> SecretKey::Seal(std::string_view plaintext, std::string_view aad) const {
  auto nonce = RandomBytes(kNonce);
  if (!nonce) return nonce.error();
  std::string out(1 + kNonce + plaintext.size() + kTag, '\0');
  out[0] = static_cast<char>(kFormat);
  std::copy(nonce->begin(), nonce->end(), out.begin() + 1);
  auto* ct = reinterpret_cast<unsigned char*>(out.data() + 1 + kNonce);
  CipherCtx ctx = NewCtx();
  int len = 0;
  if (!ctx || EVP_EncryptInit_ex2(ctx.get(), AesGcm(), key_.data(), U(*nonce), nullptr) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, U(aad), static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), ct, &len, U(plaintext), static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), ct + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTag, ct + plaintext.size()) != 1)
    return Error{Errc::kInternal, "AES-256-GCM encryption failed"};
  return out;
}

Result<std::string> SecretKey::Open(std::string_view sealed, std::string_view aad) const {
  if (sealed.size() < 1 + kNonce + kTag || static_cast<unsigned char>(sealed[0]) != kFormat)
    return Error{Errc::kCorrupt, "not a sealed secret of this format"};
  const std::string_view nonce = sealed.substr(1, kNonce);
  const std::string_view ct = sealed.substr(1 + kNonce, sealed.size() - 1 - kNonce - kTag);
  std::string tag(sealed.substr(sealed.size() - kTag));
  std::string out(ct.size(), '\0');
  auto* pt = reinterpret_cast<unsigned char*>(out.data());
  CipherCtx ctx = NewCtx();
  int len = 0;
  if (!ctx || EVP_DecryptInit_ex2(ctx.get(), AesGcm(), key_.data(), U(nonce), nullptr) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, U(aad), static_cast<int>(aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), pt, &len, U(ct), static_cast<int>(ct.size())) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTag, tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), pt + len, &len) != 1) {
    OPENSSL_cleanse(out.data(), out.size());
    return Error{Errc::kCorrupt, "the ciphertext does not open with this key (another key, moved, or tampered)"};
  }
  return out;
}

std::string SecretAad(std::string_view ns, std::string_view name) {
  std::string aad = "ringflow secret\n";
  aad.append(ns).append("\n").append(name);
  return aad;
}

}  // namespace rf::auth
