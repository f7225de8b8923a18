#include "store/redis/redis_script.h"

#include <span>

namespace rf::store::redis {

reactor::Task<Result<RedisReply>> EvalScript(RedisClient* client, RedisScript* script,
                                             Nanos timeout, std::vector<std::string> args,
                                             std::string_view who) {
  if (client == nullptr) co_return Error{Errc::kUnavailable, std::string(who) + ": not started"};
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (script->sha.empty()) {
      auto loaded = co_await client->Command(Deadline::After(timeout), "SCRIPT", "LOAD",
                                             script->text);  // suspends
      if (!loaded) co_return loaded.error();
      if (loaded->type != RedisReply::Type::kString)
        co_return Error{Errc::kInternal,
                        std::string(who) + ": SCRIPT LOAD answered " + loaded->Describe()};
      script->sha = loaded->str;
    }
    std::vector<std::string_view> argv;
    argv.reserve(args.size() + 2);
    argv.push_back("EVALSHA");
    argv.push_back(script->sha);
    for (const std::string& a : args) argv.push_back(a);
    auto r = co_await client->Command(std::span<const std::string_view>(argv),
                                      Deadline::After(timeout));  // suspends
    if (!r && r.error().code == Errc::kNotFound) {
      script->sha.clear();  // NOSCRIPT
      continue;
    }
    co_return r;
  }
  co_return Error{Errc::kInternal, std::string(who) + ": the server does not keep the script"};
}

}  // namespace rf::store::redis
