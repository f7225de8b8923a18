#pragma once
// Private to http/: the HTTP/2 side of one connection (h2_connection.cc). The session does the
// protocol; this owns its I/O: a reader (the connection's coroutine) and a writer task that
// sends whatever the session produces, so a full socket never stops input from being read and a
// handler that waits on the engine never stops other streams.

#include <coroutine>

#include "http/h2/session.h"
#include "reactor/task.h"

namespace rf::http {

struct Connection;

struct H2Conn final : h2::SessionHost {
  explicit H2Conn(Connection* conn) : c(conn) {}
  void StartAsync(h2::H2Stream* s, const Endpoint* ep) override;
  void Resume(std::coroutine_handle<> h) override;
  void WakeWriter() override;
  void AbortHandler(h2::H2Stream* s) override;

  // From the shard's sweep: send stalls, the idle timeout, stalled streams.
  void Tick(Nanos now);
  // Graceful shutdown of the server: GOAWAY, then finish the streams in flight.
  void BeginDrain();

  Connection* c;
  h2::Session* session = nullptr;
  reactor::TaskGroup handlers;
  reactor::TaskGroup writer;
  std::coroutine_handle<> writer_parked;
  Nanos send_deadline = INT64_MAX;
  Nanos last_activity = 0;
  bool closing = false;      // the reader stopped: the writer flushes what is queued and ends
  bool writer_done = false;  // the writer ended (failed, or the session is done)
};

}  // namespace rf::http
