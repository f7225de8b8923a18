#pragma once
// Dial: opens the TCP connection to Redis without blocking the shard. A host name is resolved
// by getaddrinfo on an Offload helper (IP literals need no lookup); the connect is an
// IORING_OP_CONNECT (5.5+) on a non-blocking socket. Both are bounded by a deadline and a
// CancelToken; a lookup that outlives them is abandoned (it finishes unobserved on its helper).
//
// Private to store/redis. Shard-local.

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "reactor/cancel_token.h"
#include "reactor/task.h"

namespace rf::store::redis::detail {

// Connects to host:port, trying each address of the host in order until one accepts. Returns
// the socket (non-blocking, close-on-exec, TCP_NODELAY), which the caller owns. suspends.
// Errors: kUnavailable (no such host, or every address refused / was unreachable; the context
// names the address and the reason), kTimeout ("redis connect timed out"), kCancelled.
reactor::Task<Result<int>> Dial(std::string host, uint16_t port, Deadline deadline,
                                reactor::CancelToken* cancel);

}  // namespace rf::store::redis::detail
