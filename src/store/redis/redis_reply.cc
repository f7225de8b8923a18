#include "store/redis/redis_reply.h"

#include <array>
#include <utility>

namespace rf::store::redis {
namespace {

void AppendEscaped(std::string_view s, std::string& out) {
  constexpr size_t kMax = 64;
  static constexpr char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < s.size() && i < kMax; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > kMax) out += "...(" + std::to_string(s.size()) + " bytes)";
}

void Describe(const RedisReply& r, std::string& out, int depth) {
  switch (r.type) {
    case RedisReply::Type::kNil:
      out += "(nil)";
      return;
    case RedisReply::Type::kInteger:
      out += "(integer) " + std::to_string(r.integer);
      return;
    case RedisReply::Type::kString:
      out += '"';
      AppendEscaped(r.str, out);
      out += '"';
      return;
    case RedisReply::Type::kStatus:
      AppendEscaped(r.str, out);
      return;
    case RedisReply::Type::kError:
      out += "(error) ";
      AppendEscaped(r.str, out);
      return;
    case RedisReply::Type::kArray:
      out += '[';
      for (size_t i = 0; i < r.elements.size(); ++i) {
        if (i == 8 || depth > 4) {
          out += "...(" + std::to_string(r.elements.size()) + " elements)";
          break;
        }
        if (i > 0) out += ", ";
        Describe(r.elements[i], out, depth + 1);
      }
      out += ']';
      return;
  }
}

}  // namespace

std::string RedisReply::Describe() const {
  std::string out;
  redis::Describe(*this, out, 0);
  return out;
}

const char* ReplyTypeName(RedisReply::Type type) {
  switch (type) {
    case RedisReply::Type::kNil:
      return "nil";
    case RedisReply::Type::kInteger:
      return "integer";
    case RedisReply::Type::kString:
      return "string";
    case RedisReply::Type::kStatus:
      return "status";
    case RedisReply::Type::kError:
      return "error";
    case RedisReply::Type::kArray:
      return "array";
  }
  return "?";
}

void EncodeCommand(std::span<const std::string_view> argv, std::string& out) {
  out += '*';
  out += std::to_string(argv.size());
  out += "\r\n";
  for (std::string_view arg : argv) {
    out += '$';
    out += std::to_string(arg.size());
    out += "\r\n";
    out.append(arg.data(), arg.size());
    out += "\r\n";
  }
}

Errc ErrcFromRedisError(std::string_view message) {
  const std::string_view code = message.substr(0, message.find(' '));
  struct Row {
    std::string_view code;
    Errc errc;
  };
  static constexpr std::array<Row, 18> kTable = {{
      {"ERR", Errc::kInvalidArgument},
      {"WRONGTYPE", Errc::kInvalidArgument},
      {"EXECABORT", Errc::kInvalidArgument},
      {"NOPERM", Errc::kInvalidArgument},
      {"NOSCRIPT", Errc::kNotFound},
      {"BUSYKEY", Errc::kConflict},
      {"BUSY", Errc::kRetryLater},
      {"LOADING", Errc::kRetryLater},
      {"TRYAGAIN", Errc::kRetryLater},
      {"OOM", Errc::kRetryLater},
      {"MASTERDOWN", Errc::kRetryLater},
      {"CLUSTERDOWN", Errc::kRetryLater},
      {"NOREPLICAS", Errc::kRetryLater},
      {"NOAUTH", Errc::kUnavailable},
      {"WRONGPASS", Errc::kUnavailable},
      {"READONLY", Errc::kUnavailable},
      {"MOVED", Errc::kUnavailable},
      {"ASK", Errc::kUnavailable},
  }};
  for (const Row& row : kTable) {
    if (row.code == code) return row.errc;
  }
  return Errc::kInternal;
}

Error ReplyError(std::string_view command, std::string_view message) {
  return Error{ErrcFromRedisError(message),
               "redis " + std::string(command) + ": " + std::string(message)};
}

}  // namespace rf::store::redis
