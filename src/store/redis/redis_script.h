#pragma once
// RedisScript: a Lua script run with EVALSHA on a shard's RedisClient. Loaded once a connection
// (SCRIPT LOAD) and loaded again when the server lost it (NOSCRIPT: it restarted, or its scripts
// were flushed). Shard-local, like the client.

#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "reactor/task.h"
#include "store/redis/redis_client.h"

namespace rf::store::redis {

struct RedisScript {
  std::string_view text;
  std::string sha;  // as SCRIPT LOAD answered ("": load first)
};

// EVALSHA of `script` with `args` (numkeys, keys..., argv...), each command bounded by
// `timeout`. `who` names the caller in errors ("redis quota"). kUnavailable without a client.
reactor::Task<Result<RedisReply>> EvalScript(RedisClient* client, RedisScript* script,
                                             Nanos timeout, std::vector<std::string> args,
                                             std::string_view who);

}  // namespace rf::store::redis
