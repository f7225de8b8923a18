#include "http/client/response_parser.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>

#include "http/syntax.h"

namespace rf::http::client {
namespace {

using namespace syntax;  // NOLINT: the parser is written in the grammar's vocabulary

bool AllValueChars(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return Is(kValueChar, c); });
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Content-Length: 1*DIGIT that fits in 64 bits; a sign, a list or nothing is invalid.
bool ParseContentLength(std::string_view v, uint64_t& out) {
  const char* const last = v.data() + v.size();
  const auto [ptr, ec] = std::from_chars(v.data(), last, out);
  return !v.empty() && IsDigit(v.front()) && ec == std::errc() && ptr == last;
}

void ScanConnection(std::string_view v, bool& close, bool& keep_alive) {
  while (!v.empty()) {
    const size_t comma = v.find(',');
    const std::string_view token = TrimOws(v.substr(0, comma));
    if (IEquals(token, "close")) close = true;
    if (IEquals(token, "keep-alive")) keep_alive = true;
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
}

// field-line = field-name ":" OWS field-value OWS. On success, name and value (trimmed).
const char* SplitFieldLine(std::string_view line, std::string_view& name, std::string_view& value) {
  if (IsOws(line.front())) return "obs-fold or whitespace before field name";
  size_t i = 0;
  while (i < line.size() && Is(kTokenChar, line[i])) ++i;
  if (i == line.size()) return "header line without ':'";
  if (line[i] != ':') {
    return IsOws(line[i]) ? "whitespace between header name and ':'" : "invalid header name";
  }
  if (i == 0) return "empty header name";
  name = line.substr(0, i);
  value = line.substr(i + 1);
  if (!AllValueChars(value)) return "invalid character in header value";
  value = TrimOws(value);
  return nullptr;
}

}  // namespace

std::string_view Response::Header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (IEquals(n, name)) return v;
  }
  return {};
}

void ResponseParser::Reset(bool head_request) {
  state_ = State::kStatusLine;
  head_request_ = head_request;
  keep_alive_ = false;
  error_ = Error{};
  line_.clear();
  line_taken_ = false;
  head_bytes_ = 0;
  interim_count_ = 0;
  version_minor_ = 1;
  has_length_ = false;
  length_ = 0;
  te_count_ = 0;
  te_chunked_ = false;
  conn_close_ = false;
  conn_keep_alive_ = false;
  remaining_ = 0;
  trailer_bytes_ = 0;
  response_ = Response{};
}

Status ResponseParser::Fail(Errc code, const char* message) {
  state_ = State::kFailed;
  error_ = Error{code, message};
  return error_;
}

Result<size_t> ResponseParser::Feed(std::string_view in) {
  if (state_ == State::kFailed) return error_;
  const size_t total = in.size();
  while (!in.empty() && state_ != State::kDone) {
    if (Status st = Step(in); !st) return st.error();
  }
  return total - in.size();
}

Status ResponseParser::FinishAtEof() {
  switch (state_) {
    case State::kUntilClose:
      state_ = State::kDone;
      return {};
    case State::kDone:
      return {};
    case State::kFailed:
      return error_;
    default:
      return Fail(Errc::kIo, "connection closed before the response was complete");
  }
}

// Takes one CRLF-terminated line of at most `budget` bytes (CRLF included) from `in`. A line split
// across Feed calls is collected in line_; a complete one is handed out in place when possible.
// `line` stays valid until the next call.
ResponseParser::LineStatus ResponseParser::TakeLine(std::string_view& in, size_t budget,
                                                    std::string_view& line) {
  if (line_taken_) {
    line_.clear();
    line_taken_ = false;
  }
  const size_t room = budget > line_.size() ? budget - line_.size() : 0;
  const size_t scan = std::min(in.size(), room);
  const auto* lf = static_cast<const char*>(std::memchr(in.data(), '\n', scan));
  if (lf == nullptr) {
    if (in.size() >= room) return LineStatus::kTooLong;
    line_.append(in);
    in = {};
    return LineStatus::kNeedMore;
  }
  const auto n = static_cast<size_t>(lf - in.data()) + 1;
  std::string_view whole = in.substr(0, n);
  if (!line_.empty()) {
    line_.append(whole);
    whole = line_;
    line_taken_ = true;
  }
  in.remove_prefix(n);
  if (whole.size() < 2 || whole[whole.size() - 2] != '\r') return LineStatus::kBareLf;
  line = whole.substr(0, whole.size() - 2);
  return LineStatus::kLine;
}

Status ResponseParser::Step(std::string_view& in) {
  std::string_view line;
  LineStatus ls = LineStatus::kNeedMore;
  switch (state_) {
    case State::kStatusLine:
    case State::kHeaders:
      ls = TakeLine(in, limits_.max_head - head_bytes_, line);
      if (ls == LineStatus::kTooLong) return Fail(Errc::kTooLarge, "response head too large");
      if (ls == LineStatus::kBareLf) return Fail(Errc::kIo, "bare LF line ending");
      if (ls == LineStatus::kNeedMore) return {};
      head_bytes_ += line.size() + 2;
      return state_ == State::kStatusLine ? OnStatusLine(line) : OnHeaderLine(line);

    case State::kFixedBody:
    case State::kChunkData: {
      const auto n = static_cast<size_t>(std::min<uint64_t>(remaining_, in.size()));
      if (Status st = AppendBody(in, n); !st) return st;
      remaining_ -= n;
      if (remaining_ == 0)
        state_ = state_ == State::kFixedBody ? State::kDone : State::kChunkDataCr;
      return {};
    }

    case State::kChunkDataCr:
    case State::kChunkDataLf: {
      const char want = state_ == State::kChunkDataCr ? '\r' : '\n';
      if (in.front() != want) return Fail(Errc::kIo, "missing CRLF after chunk data");
      in.remove_prefix(1);
      state_ = state_ == State::kChunkDataCr ? State::kChunkDataLf : State::kChunkSize;
      return {};
    }

    case State::kChunkSize:
      ls = TakeLine(in, kMaxChunkLineBytes + 2, line);
      if (ls == LineStatus::kTooLong) return Fail(Errc::kIo, "chunk size line too long");
      if (ls == LineStatus::kBareLf) return Fail(Errc::kIo, "bare LF in chunk size line");
      if (ls == LineStatus::kNeedMore) return {};
      return OnChunkSizeLine(line);

    case State::kTrailers:
      ls = TakeLine(in, limits_.max_head - trailer_bytes_, line);
      if (ls == LineStatus::kTooLong) return Fail(Errc::kTooLarge, "trailer section too large");
      if (ls == LineStatus::kBareLf) return Fail(Errc::kIo, "bare LF line ending");
      if (ls == LineStatus::kNeedMore) return {};
      trailer_bytes_ += line.size() + 2;
      return OnTrailerLine(line);

    case State::kUntilClose:
      return AppendBody(in, in.size());

    case State::kDone:
    case State::kFailed:
      break;
  }
  return {};
}

// status-line = HTTP-version SP status-code SP [ reason-phrase ]
Status ResponseParser::OnStatusLine(std::string_view line) {
  if (line.size() < 12 || line.substr(0, 5) != "HTTP/" || !IsDigit(line[5]) || line[6] != '.' ||
      !IsDigit(line[7]) || line[8] != ' ') {
    return Fail(Errc::kIo, "malformed status line");
  }
  if (line[5] != '1' || line[7] > '1') return Fail(Errc::kIo, "unsupported HTTP version");
  version_minor_ = line[7] - '0';
  if (!IsDigit(line[9]) || !IsDigit(line[10]) || !IsDigit(line[11])) {
    return Fail(Errc::kIo, "malformed status code");
  }
  const int status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
  if (status < 100 || status > 599) return Fail(Errc::kIo, "status code out of range");
  if (line.size() > 12 && (line[12] != ' ' || !AllValueChars(line.substr(13)))) {
    return Fail(Errc::kIo, "malformed reason phrase");
  }
  response_.status = status;
  state_ = State::kHeaders;
  return {};
}

Status ResponseParser::OnHeaderLine(std::string_view line) {
  if (line.empty()) return OnHeadEnd();
  std::string_view name, value;
  if (const char* err = SplitFieldLine(line, name, value)) return Fail(Errc::kIo, err);
  if (response_.headers.size() == kMaxResponseHeaders) {
    return Fail(Errc::kTooLarge, "too many response headers");
  }
  switch (name.size()) {  // cheap pre-filter before the case-insensitive compares
    case 10:
      if (IEquals(name, "connection")) ScanConnection(value, conn_close_, conn_keep_alive_);
      break;
    case 14:
      if (IEquals(name, "content-length")) {
        uint64_t n = 0;
        if (!ParseContentLength(value, n)) return Fail(Errc::kIo, "invalid Content-Length");
        if (has_length_ && n != length_) {
          return Fail(Errc::kIo, "conflicting Content-Length headers");
        }
        has_length_ = true;
        length_ = n;
      }
      break;
    case 17:
      if (IEquals(name, "transfer-encoding")) {
        ++te_count_;
        te_chunked_ = IEquals(value, "chunked");
      }
      break;
    default:
      break;
  }
  response_.headers.emplace_back(name, value);
  return {};
}

Status ResponseParser::OnHeadEnd() {
  const int status = response_.status;
  if (status < 200) {
    // Interim responses (100 Continue, 103 Early Hints) carry no body: start over on the next
    // head. 101 would switch protocols, which this client never asks for.
    if (status == 101) return Fail(Errc::kIo, "unexpected 101 Switching Protocols");
    if (++interim_count_ > kMaxInterimResponses) {
      return Fail(Errc::kIo, "too many interim responses");
    }
    head_bytes_ = 0;
    has_length_ = false;
    length_ = 0;
    te_count_ = 0;
    te_chunked_ = false;
    conn_close_ = false;
    conn_keep_alive_ = false;
    response_ = Response{};
    state_ = State::kStatusLine;
    return {};
  }
  // A message with both is a smuggling vector (RFC 9112 §6.3): refuse rather than pick one.
  if (te_count_ > 0) {
    if (has_length_) return Fail(Errc::kIo, "both Content-Length and Transfer-Encoding");
    if (version_minor_ == 0) return Fail(Errc::kIo, "Transfer-Encoding in HTTP/1.0 response");
    if (te_count_ > 1 || !te_chunked_) return Fail(Errc::kIo, "unsupported Transfer-Encoding");
  }
  keep_alive_ = version_minor_ == 1 ? !conn_close_ : (conn_keep_alive_ && !conn_close_);

  if (head_request_ || status == 204 || status == 304) {
    state_ = State::kDone;
  } else if (te_count_ > 0) {
    state_ = State::kChunkSize;
  } else if (has_length_) {
    if (length_ > limits_.max_body) return Fail(Errc::kTooLarge, "response body too large");
    remaining_ = length_;
    // Capped: the declared length is the peer's claim, not yet bytes we hold.
    response_.body.reserve(static_cast<size_t>(std::min<uint64_t>(length_, 1 << 20)));
    state_ = remaining_ == 0 ? State::kDone : State::kFixedBody;
  } else {
    keep_alive_ = false;  // only the close marks the end
    state_ = State::kUntilClose;
  }
  return {};
}

// chunk-size [ chunk-ext ] CRLF; leading zeros are legal, so count significant digits.
Status ResponseParser::OnChunkSizeLine(std::string_view line) {
  size_t i = 0;
  uint64_t size = 0;
  int significant = 0;
  for (int d; i < line.size() && (d = HexValue(line[i])) >= 0; ++i) {
    if (size != 0 || d != 0) ++significant;
    if (significant > 16) return Fail(Errc::kIo, "chunk size overflow");
    size = (size << 4) | static_cast<uint64_t>(d);
  }
  if (i == 0) return Fail(Errc::kIo, "invalid chunk size");
  std::string_view ext = line.substr(i);
  while (!ext.empty() && IsOws(ext.front())) ext.remove_prefix(1);
  if (!ext.empty() && (ext.front() != ';' || !AllValueChars(ext))) {
    return Fail(Errc::kIo, "invalid chunk extension");
  }
  if (size > limits_.max_body - response_.body.size()) {
    return Fail(Errc::kTooLarge, "response body too large");
  }
  if (size == 0) {
    trailer_bytes_ = 0;
    state_ = State::kTrailers;
  } else {
    remaining_ = size;
    state_ = State::kChunkData;
  }
  return {};
}

Status ResponseParser::OnTrailerLine(std::string_view line) {
  if (line.empty()) {
    state_ = State::kDone;
    return {};
  }
  std::string_view name, value;
  if (const char* err = SplitFieldLine(line, name, value)) return Fail(Errc::kIo, err);
  return {};
}

Status ResponseParser::AppendBody(std::string_view& in, size_t n) {
  if (n > limits_.max_body - response_.body.size()) {
    return Fail(Errc::kTooLarge, "response body too large");
  }
  response_.body.append(in.data(), n);
  in.remove_prefix(n);
  return {};
}

}  // namespace rf::http::client
