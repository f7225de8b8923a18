#include "cli/sse.h"

namespace rf::cli {

bool SseParser::Feed(std::string_view bytes, std::vector<SseEvent>& out) {
  size_t i = 0;
  if (skip_lf_ && !bytes.empty()) {
    if (bytes[0] == '\n') i = 1;
    skip_lf_ = false;
  }
  while (i < bytes.size()) {
    size_t end = bytes.find_first_of("\r\n", i);
    if (end == std::string_view::npos) {
      line_.append(bytes.substr(i));
      break;
    }
    line_.append(bytes.substr(i, end - i));
    Line(line_, out);
    line_.clear();
    if (bytes[end] == '\r') {
      if (end + 1 == bytes.size()) skip_lf_ = true;
      else if (bytes[end + 1] == '\n') ++end;
    }
    i = end + 1;
  }
  return line_.size() + pending_.data.size() <= kMaxEventBytes;
}

void SseParser::Line(std::string_view line, std::vector<SseEvent>& out) {
  if (line.empty()) {
    if (has_data_) {
      if (pending_.event.empty()) pending_.event = "message";
      out.push_back(std::move(pending_));
    }
    pending_ = SseEvent{};
    has_data_ = false;
    return;
  }
  if (line.front() == ':') return;
  size_t colon = line.find(':');
  std::string_view field = line.substr(0, colon);
  std::string_view value;
  if (colon != std::string_view::npos) {
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (has_data_) pending_.data += '\n';
    pending_.data.append(value);
    has_data_ = true;
  } else if (field == "event") {
    pending_.event = std::string(value);
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) {
      pending_.id = std::string(value);
      last_id_ = pending_.id;
    }
  }
}

}  // namespace rf::cli
