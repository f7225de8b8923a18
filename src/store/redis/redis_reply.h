#pragma once
// RedisReply: one RESP2 reply as a value (nil, integer, bulk string, status, error, array),
// and the RESP pieces around it: encoding a command, mapping an error reply to our Errc.
// Pure: no I/O. Strings are bytes (binary-safe), not necessarily UTF-8.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace rf::store::redis {

struct RedisReply {
  enum class Type : uint8_t { kNil, kInteger, kString, kStatus, kError, kArray };

  Type type = Type::kNil;
  int64_t integer = 0;               // kInteger
  std::string str;                   // kString (bulk), kStatus ("OK"), kError ("ERR ...")
  std::vector<RedisReply> elements;  // kArray

  static RedisReply Nil() { return {}; }
  static RedisReply Integer(int64_t v) { return {Type::kInteger, v, {}, {}}; }
  static RedisReply String(std::string s) { return {Type::kString, 0, std::move(s), {}}; }
  static RedisReply Status(std::string s) { return {Type::kStatus, 0, std::move(s), {}}; }
  static RedisReply ErrorReply(std::string s) { return {Type::kError, 0, std::move(s), {}}; }
  static RedisReply Array(std::vector<RedisReply> e) { return {Type::kArray, 0, {}, std::move(e)}; }

  bool is_nil() const { return type == Type::kNil; }
  // For a status reply such as "OK" or "PONG".
  bool IsStatus(std::string_view s) const { return type == Type::kStatus && str == s; }
  // A short, printable rendering for logs and test messages (bytes escaped, long strings cut).
  std::string Describe() const;
};

const char* ReplyTypeName(RedisReply::Type type);

// Appends `argv` as one RESP command (an array of bulk strings) to `out`. Binary-safe.
void EncodeCommand(std::span<const std::string_view> argv, std::string& out);

// The Errc of an error reply, by its first word (Redis's error code):
//   ERR, WRONGTYPE, EXECABORT, NOPERM          -> kInvalidArgument (the command or the ACL is
//   wrong) NOSCRIPT                                   -> kNotFound BUSYKEY -> kConflict BUSY,
//   LOADING, TRYAGAIN, OOM, MASTERDOWN, CLUSTERDOWN, NOREPLICAS                    -> kRetryLater
//   (the server cannot now; retry) NOAUTH, WRONGPASS, READONLY, MOVED, ASK    -> kUnavailable (this
//   server is not usable as is) anything else                              -> kInternal
Errc ErrcFromRedisError(std::string_view message);

// An Error for `command` answered with the error reply `message`:
// "redis GET: WRONGTYPE Operation against a key holding the wrong kind of value".
Error ReplyError(std::string_view command, std::string_view message);

}  // namespace rf::store::redis
