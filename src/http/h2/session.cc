#include "http/h2/session.h"

#include <algorithm>
#include <cstring>

#include "http/date_cache.h"
#include "http/syntax.h"
#include "obs/log.h"

namespace rf::http::h2 {

namespace {

// Response buffers that grew past this for one stream are shrunk before the stream is pooled.
constexpr size_t kKeepBodyCap = 64 * 1024;


// Connection-specific fields have no meaning in HTTP/2 and make clients fail the stream.
bool ConnectionSpecific(std::string_view name) {
  return syntax::IEquals(name, "connection") || syntax::IEquals(name, "keep-alive") ||
         syntax::IEquals(name, "transfer-encoding") || syntax::IEquals(name, "upgrade") ||
         syntax::IEquals(name, "proxy-connection");
}

void SplitTarget(Request& r) {
  const size_t q = r.target.find('?');
  r.path = r.target.substr(0, q);
  r.query = q == std::string_view::npos ? std::string_view() : r.target.substr(q + 1);
}

}  // namespace

bool DecodeSettingsHeader(std::string_view b64, std::string& out) {
  out.clear();
  uint32_t acc = 0;
  int bits = 0;
  for (char ch : b64) {
    int v;
    if (ch >= 'A' && ch <= 'Z') {
      v = ch - 'A';
    } else if (ch >= 'a' && ch <= 'z') {
      v = ch - 'a' + 26;
    } else if (ch >= '0' && ch <= '9') {
      v = ch - '0' + 52;
    } else if (ch == '-') {
      v = 62;
    } else if (ch == '_') {
      v = 63;
    } else if (ch == '=') {
      break;  // tolerated padding ends the value
    } else {
      return false;
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out.size() % 6 == 0;
}

Session::Session(SessionOptions opt, HttpStats* stats, SessionHost* host)
    : opt_(opt), stats_(stats), host_(host) {
  nghttp2_session_callbacks* cb;
  nghttp2_session_callbacks_new(&cb);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb, &OnBeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback2(cb, &OnHeader);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, &OnDataChunk);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, &OnFrameRecv);
  nghttp2_session_callbacks_set_on_frame_send_callback(cb, &OnFrameSend);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, &OnStreamClose);
  nghttp2_option* o;
  nghttp2_option_new(&o);
  nghttp2_option_set_max_outbound_ack(o, kMaxOutboundAck);
  nghttp2_option_set_max_settings(o, kMaxSettings);
  nghttp2_option_set_stream_reset_rate_limit(o, kResetBurst, kResetRate);
  nghttp2_option_set_max_continuations(o, kMaxContinuations);
  nghttp2_option_set_no_closed_streams(o, 1);  // no priority tree: closed streams are freed
  nghttp2_session_server_new2(&ng_, cb, this, o);
  nghttp2_option_del(o);
  nghttp2_session_callbacks_del(cb);
  const nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, opt_.max_streams},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<uint32_t>(opt_.limits.max_head)},
  };
  nghttp2_submit_settings(ng_, NGHTTP2_FLAG_NONE, iv, std::size(iv));
  nv_text_.reserve(1024);
}

Session::~Session() {
  // Header buffers first: their allocator lives inside the nghttp2 session.
  while (live_) {
    H2Stream* s = live_;
    s->handler_running = false;
    Release(s);
  }
  for (H2Stream* s : free_) delete s;
  for (H2Request* r : free_requests_) delete r;
  nghttp2_session_del(ng_);  // runs no callbacks
}

H2Stream* Session::Acquire() {
  H2Stream* s;
  if (!free_.empty()) {
    s = free_.back();
    free_.pop_back();
  } else {
    s = new H2Stream(this);
  }
  if (!free_requests_.empty()) {
    s->rq = free_requests_.back();
    free_requests_.pop_back();
  } else {
    s->rq = new H2Request();
  }
  s->next = live_;
  if (live_) live_->prev = s;
  live_ = s;
  s->opened = MonoNow();
  return s;
}

void Session::DropRequest(H2Stream* s, size_t keep) {
  H2Request* r = std::exchange(s->rq, nullptr);
  if (r == nullptr) return;
  for (size_t i = 0; i < r->rcbuf_count; ++i) nghttp2_rcbuf_decref(r->rcbufs[i]);
  if (free_requests_.size() >= keep) {
    delete r;
    return;
  }
  r->req = Request{};
  r->rcbuf_count = 0;
  free_requests_.push_back(r);
}

void Session::ReleaseRequest(H2Stream* s) {
  if (s->who.audit_pending) return;  // FinishAudit reads the request at the end
  // A few are kept for the next streams; the rest go back to the allocator: a long-lived event
  // stream keeps its H2Stream only, not the ~5 KiB header table (bench/fanout.sh (a)).
  constexpr size_t kSpareRequests = 4;
  DropRequest(s, kSpareRequests);
  std::string().swap(s->owned);  // an upgraded request's bytes
}

void Session::Release(H2Stream* s) {
  if (opt_.server && s->rq)
    FinishAudit(*opt_.server, opt_.shard, s->rq->req, s->match, s->who, s->resp.status);
  DropRequest(s, opt_.max_streams);
  if (s->prev)
    s->prev->next = s->next;
  else
    live_ = s->next;
  if (s->next) s->next->prev = s->prev;
  if (free_.size() >= opt_.max_streams) {
    delete s;
    return;
  }
  s->match = {};
  s->req_body.Clear();
  s->body.Clear();
  s->DropParts();
  if (s->req_body.capacity() > kKeepBodyCap) s->req_body.ShrinkTo(4096);
  if (s->body.capacity() > kKeepBodyCap) s->body.ShrinkTo(4096);
  s->headers.clear();
  s->resp.status = 200;
  s->resp.content_type = "application/json";
  s->resp.close = false;
  s->owned.clear();
  s->authority = {};
  s->header_bytes = 0;
  s->error_status = 0;
  s->route_id = 0;
  s->id = 0;
  s->dispatched = s->responding = s->eof = s->closed = s->handler_running = false;
  s->head_only = s->remote_done = s->waiting_data = s->nghttp2_gone = false;
  s->api = nullptr;
  s->send_waiter = {};
  s->prev = s->next = nullptr;
  free_.push_back(s);
}

bool Session::Upgrade(std::string_view settings, const Request& req, bool head) {
  H2Stream* s = Acquire();
  // The request's bytes live in the HTTP/1.1 input buffer, which is about to be reused.
  size_t total = req.method_str.size() + req.target.size() + req.body.size();
  for (size_t i = 0; i < req.header_count; ++i)
    total += req.headers[i].name.size() + req.headers[i].value.size();
  s->owned.reserve(total);
  auto keep = [s](std::string_view v) {
    const size_t at = s->owned.size();
    s->owned.append(v);
    return std::string_view(s->owned).substr(at, v.size());
  };
  s->rq->req.method = req.method;
  s->rq->req.method_str = keep(req.method_str);
  s->rq->req.target = keep(req.target);
  for (size_t i = 0; i < req.header_count; ++i)
    s->rq->req.headers[i] = {keep(req.headers[i].name), keep(req.headers[i].value)};
  s->rq->req.header_count = req.header_count;
  if (!req.body.empty()) s->req_body.Append(req.body);
  const int rv = nghttp2_session_upgrade2(ng_, reinterpret_cast<const uint8_t*>(settings.data()),
                                          settings.size(), head ? 1 : 0, s);
  if (rv != 0) {  // settings nghttp2 refuses (an invalid value): the 101 is out, so GOAWAY
    Release(s);
    Fail(NGHTTP2_PROTOCOL_ERROR);
    return false;
  }
  s->id = 1;
  s->remote_done = true;
  ++streams_started_;
  stats_->h2_streams.Add();
  Dispatch(s);
  return true;
}

bool Session::Receive(std::string_view in) {
  const ssize_t n =
      nghttp2_session_mem_recv(ng_, reinterpret_cast<const uint8_t*>(in.data()), in.size());
  host_->WakeWriter();
  if (n >= 0) return true;
  if (n == NGHTTP2_ERR_BAD_CLIENT_MAGIC) return false;  // not HTTP/2 at all: just close
  stats_->h2_floods.Add(n == NGHTTP2_ERR_FLOODED || n == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS);
  Fail(n == NGHTTP2_ERR_FLOODED || n == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS
           ? NGHTTP2_ENHANCE_YOUR_CALM
           : NGHTTP2_PROTOCOL_ERROR);
  return false;
}

void Session::Fail(uint32_t error_code) {
  nghttp2_session_terminate_session(ng_, error_code);
  host_->WakeWriter();
}

bool Session::Produce(Buffer& out, size_t limit) {
  while (out.size() < limit) {
    const uint8_t* p = nullptr;
    const ssize_t n = nghttp2_session_mem_send(ng_, &p);
    if (n < 0) return false;
    if (n == 0) break;
    out.Append(std::string_view(reinterpret_cast<const char*>(p), static_cast<size_t>(n)));
  }
  return true;
}

bool Session::Done() const {
  return !nghttp2_session_want_read(ng_) && !nghttp2_session_want_write(ng_);
}

void Session::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  // Event streams end first (RST_STREAM CANCEL), then GOAWAY: some clients treat GOAWAY as the
  // end of the connection and fail on a frame after it.
  for (H2Stream* s = live_; s; s = s->next)
    if (s->api && s->api->started()) host_->AbortHandler(s);
  nghttp2_submit_goaway(ng_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(ng_),
                        NGHTTP2_NO_ERROR, nullptr, 0);
  host_->WakeWriter();
}

void Session::AbortAll() {
  shut_down_ = true;
  for (H2Stream* s = live_; s; s = s->next) {
    s->closed = true;  // nothing more goes out
    if (s->api) host_->AbortHandler(s);
    if (s->send_waiter) host_->Resume(std::exchange(s->send_waiter, {}));
  }
}

void Session::Tick(Nanos now) {
  for (H2Stream* s = live_; s; s = s->next) {
    if (s->closed) continue;
    if (!s->dispatched && now - s->opened > opt_.request_timeout) {
      stats_->h2_stalled.Add();
      s->closed = true;
      nghttp2_submit_rst_stream(ng_, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
      host_->WakeWriter();
    } else if (s->responding && s->HasOutput() && now - s->last_progress > opt_.stall_timeout) {
      // The peer granted no window for this stream (or the connection) for too long.
      stats_->h2_stalled.Add();
      if (s->api) {
        host_->AbortHandler(s);  // resets the stream via AbortStream
      } else {
        AbortStream(s);
      }
    }
  }
}

void Session::Dispatch(H2Stream* s) {
  s->dispatched = true;
  Request& r = s->rq->req;
  r.version_minor = 1;
  r.keep_alive = true;
  r.body = s->req_body.view();
  SplitTarget(r);
  if (!s->authority.empty() && r.Header("host").empty() && r.header_count < kMaxHeaders)
    r.headers[r.header_count++] = {"host", s->authority};
  s->head_only = r.method == Method::kHead;
  s->t0 = MonoNow();
  Response& resp = s->resp;
  if (s->error_status != 0) {
    if (s->error_status == 431) {
      resp.Error(431, "headers_too_large", "header list too large");
    } else if (s->error_status == 413) {
      resp.Error(413, "payload_too_large", "request body too large");
    } else {
      resp.Error(400, "bad_request", "malformed request");
    }
    SubmitResponse(s, true);
    return;
  }
  s->match = opt_.router->Find(r.method, r.path);
  const auto& m = s->match;
  if (m.kind == Router<Endpoint>::Match::Kind::kFound) s->route_id = m.handler->route_id;
  if (opt_.server && !AdmitRequest(*opt_.server, opt_.shard, r, m, s->who, resp)) {
    SubmitResponse(s, true);
    return;
  }
  if (m.kind == Router<Endpoint>::Match::Kind::kFound) {
    const Endpoint& ep = *m.handler;
    if (ep.async) {
      s->handler_running = true;
      ++handlers_running_;
      host_->StartAsync(s, &ep);
      return;
    }
    RequestContext rc{r, m.params, resp, nullptr, &s->who};
    ep.sync(ep.ctx, rc);
  } else if (m.kind == Router<Endpoint>::Match::Kind::kMethodNotAllowed) {
    resp.Error(405, "method_not_allowed", "method not allowed for this path");
    resp.AddHeader("Allow", m.allow);
    if (opt_.route_names) {
      const auto& names = *opt_.route_names;
      for (size_t i = 1; i < names.size(); ++i)
        if (names[i] == m.pattern) s->route_id = static_cast<uint16_t>(i);
    }
  } else {
    resp.Error(404, "not_found", "no route for this path");
  }
  SubmitResponse(s, true);
}

void Session::Record(H2Stream* s) {
  const Nanos dt = MonoNow() - s->t0;
  stats_->requests[s->route_id][StatusSlot(s->resp.status)].Add();
  stats_->duration[s->route_id].ObserveNanos(dt);
  if (s->rq == nullptr) return;  // its request was released: nothing left to log
  if (opt_.server) FinishAudit(*opt_.server, opt_.shard, s->rq->req, s->match, s->who, s->resp.status);
  if (opt_.access_log) {
    RF_LOG(kInfo, "access", {"method", s->rq->req.method_str}, {"target", s->rq->req.target},
           {"status", s->resp.status}, {"bytes", s->body.size()}, {"dur_us", dt / 1000},
           {"proto", "h2"});
  }
}

void Session::SubmitResponse(H2Stream* s, bool with_length) {
  const Response& r = s->resp;
  // Every name and value goes into nv_text_ first (it may grow), then nv_ points into it.
  struct Field {
    size_t name, name_len, value, value_len;
  };
  std::array<Field, 64> fields;
  size_t count = 0;
  nv_text_.clear();
  auto add = [&](std::string_view name, std::string_view value, bool lower) {
    if (count == fields.size()) return;
    Field& f = fields[count++];
    f.name = nv_text_.size();
    f.name_len = name.size();
    for (char ch : name)
      nv_text_ += lower && ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch - 'A' + 'a') : ch;
    f.value = nv_text_.size();
    f.value_len = value.size();
    nv_text_.append(value);
  };
  char status[4];
  status[0] = static_cast<char>('0' + (r.status / 100) % 10);
  status[1] = static_cast<char>('0' + (r.status / 10) % 10);
  status[2] = static_cast<char>('0' + r.status % 10);
  add(":status", std::string_view(status, 3), false);
  add("server", "ringflow", false);
  const std::string_view date = DateLine();  // "Date: ...\r\n"
  if (date.size() > 8) add("date", date.substr(6, date.size() - 8), false);
  if (!r.content_type.empty()) add("content-type", r.content_type, false);
  if (with_length) add("content-length", std::to_string(s->body.size()), false);
  std::string_view extra = r.extra_headers;
  while (!extra.empty()) {
    const size_t eol = extra.find("\r\n");
    std::string_view line = extra.substr(0, eol);
    extra.remove_prefix(eol == std::string_view::npos ? extra.size() : eol + 2);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = line.substr(0, colon);
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    if (!ConnectionSpecific(name)) add(name, value, true);
  }
  nv_.clear();
  for (size_t i = 0; i < count; ++i) {
    const Field& f = fields[i];
    nv_.push_back({reinterpret_cast<uint8_t*>(nv_text_.data() + f.name),
                   reinterpret_cast<uint8_t*>(nv_text_.data() + f.value), f.name_len, f.value_len,
                   NGHTTP2_NV_FLAG_NONE});
  }
  s->responding = true;
  s->last_progress = MonoNow();
  if (with_length) s->eof = true;
  if (s->head_only) {
    s->body.Clear();
    s->eof = true;
  }
  const bool has_body = !s->head_only && !(with_length && s->body.empty());
  nghttp2_data_provider prd;
  prd.source.ptr = s;
  prd.read_callback = &ReadBody;
  if (nghttp2_submit_response(ng_, s->id, nv_.data(), nv_.size(), has_body ? &prd : nullptr) != 0) {
    nghttp2_submit_rst_stream(ng_, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
  }
  if (with_length) Record(s);
  host_->WakeWriter();
}

void Session::StartStream(H2Stream* s) {
  if (s->closed) return;
  SubmitResponse(s, false);
}

void Session::PushBody(H2Stream* s) {
  if (s->closed || !s->responding) return;
  if (s->waiting_data) {
    s->waiting_data = false;
    s->last_progress = MonoNow();
    nghttp2_session_resume_data(ng_, s->id);
  }
  host_->WakeWriter();
}

void Session::AbortStream(H2Stream* s) {
  if (!s->closed) {
    s->closed = true;  // no more DATA: the read callback must not run for it again
    nghttp2_submit_rst_stream(ng_, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
  }
  if (s->send_waiter) host_->Resume(std::exchange(s->send_waiter, {}));
  host_->WakeWriter();
}

void Session::FinishAsync(H2Stream* s, bool streamed, bool aborted) {
  s->handler_running = false;
  --handlers_running_;
  s->api = nullptr;
  // The handler ran: its outcome is recorded even if the peer reset the stream meanwhile.
  if (opt_.server && s->rq)
    FinishAudit(*opt_.server, opt_.shard, s->rq->req, s->match, s->who, s->resp.status);
  if (streamed) {
    stats_->requests[s->route_id][StatusSlot(s->resp.status)].Add();
    stats_->duration[s->route_id].ObserveNanos(MonoNow() - s->t0);
  }
  if (s->closed || s->nghttp2_gone) {
    if (s->nghttp2_gone) Release(s);
    return;
  }
  if (!streamed) {
    SubmitResponse(s, true);
  } else if (aborted && !s->head_only) {
    AbortStream(s);
  } else {
    s->eof = true;
    PushBody(s);
  }
}

}  // namespace rf::http::h2
