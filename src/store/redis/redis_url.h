#pragma once
// RedisUrl: where and how to reach Redis, parsed from
//   redis://[[user]:password@]host[:port][/db]
//   rediss://...   the same over TLS (the server's certificate is verified for `host`)
// The one grammar of a Redis URL: `--redis-url` validation (app/config.cc) and the client both
// use ParseRedisUrl. Pure: no I/O, no name lookups.

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace rf::store::redis {

struct RedisUrl {
  std::string host;  // a name, an IPv4 literal, or an IPv6 literal without brackets
  uint16_t port = 6379;
  std::string user;      // ACL user ("" = the default user); only with a password
  std::string password;  // "" = no AUTH
  bool auth = false;     // a password was given (it may be empty only when a user is named)
  int db = 0;            // SELECT db when not 0
  bool tls = false;      // rediss://

  // host:port, IPv6 in brackets, for messages; never the password.
  std::string Endpoint() const;
};

// Errors (kInvalidArgument) say what is wrong and what is expected, e.g. "port must be 1-65535".
// user and password are percent-decoded (%40 for '@', %3A for ':', %2F for '/').
Result<RedisUrl> ParseRedisUrl(std::string_view url);

// The URL with any credentials replaced by "***", for logs and error messages.
std::string RedactRedisUrl(std::string_view url);

}  // namespace rf::store::redis
