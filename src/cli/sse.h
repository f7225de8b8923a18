#pragma once
// SseParser: splits a text/event-stream body (the WHATWG Server-Sent Events format) into events.
// Pure and incremental: feed the body in pieces of any size as it arrives. One per stream.
//
// Lines end in LF, CRLF or CR. "field: value" lines set id, event and data (data lines are joined
// with '\n'); a line starting with ':' is a comment (the daemon's heartbeat); an empty line
// dispatches the event if it has data. Other fields (retry) are ignored, as the format says.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rf::cli {

struct SseEvent {
  std::string id;     // empty when the event had no id line
  std::string event;  // "message" when the event had no event line
  std::string data;
};

class SseParser {
 public:
  // A line (or a pending event) longer than this is an error: the stream is not what we expect.
  static constexpr size_t kMaxEventBytes = 16 << 20;

  // Appends the events completed by `bytes` to `out`. False once the limit is exceeded.
  bool Feed(std::string_view bytes, std::vector<SseEvent>& out);

  // The id of the last event that had one (what Last-Event-ID resumes from).
  const std::string& last_id() const { return last_id_; }

 private:
  void Line(std::string_view line, std::vector<SseEvent>& out);

  std::string line_;       // a partial line
  bool skip_lf_ = false;   // the previous piece ended in CR: a leading LF belongs to it
  SseEvent pending_;
  bool has_data_ = false;
  std::string last_id_;
};

}  // namespace rf::cli
