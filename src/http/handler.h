#pragma once
// Endpoint: what the router maps a method + path to. A handler is either
// synchronous (health, metrics: answered inline, no coroutine frame per
// request) or a coroutine (API calls that wait on the engine).

#include <cstdint>

#include "http/h1_parser.h"
#include "http/response.h"
#include "http/router.h"
#include "reactor/task.h"

namespace rf::http {

struct RequestContext {
  const Request& req;
  const Params& params;
  Response& resp;
};

using SyncHandler = void (*)(void* ctx, RequestContext& rc);
using AsyncHandler = reactor::Task<void> (*)(void* ctx, RequestContext& rc);

struct Endpoint {
  SyncHandler sync = nullptr;
  AsyncHandler async = nullptr;
  void* ctx = nullptr;
  uint16_t route_id = 0;  // index into the route names, for metrics labels
};

}  // namespace rf::http
