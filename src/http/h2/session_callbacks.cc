// h2::Session's nghttp2 callbacks: request assembly (headers into nghttp2's reference-counted
// buffers, bodies into the stream's buffer), dispatch at END_STREAM, stream close, and the data
// provider that hands response bodies to nghttp2 as the peer's flow-control window allows.

#include <algorithm>
#include <cstring>

#include "http/h2/session.h"

namespace rf::http::h2 {

namespace {

std::string_view View(nghttp2_rcbuf* b) {
  nghttp2_vec v = nghttp2_rcbuf_get_buf(b);
  return {reinterpret_cast<const char*>(v.base), v.len};
}

}  // namespace

int Session::OnBeginHeaders(nghttp2_session* ng, const nghttp2_frame* frame, void* user) {
  auto* self = static_cast<Session*>(user);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  // Handlers still running for streams the peer reset cost as much as open ones.
  if (self->handlers_running_ >= 2 * static_cast<size_t>(self->opt_.max_streams)) {
    self->stats_->h2_refused.Add();
    nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_REFUSED_STREAM);
    return 0;
  }
  H2Stream* s = self->Acquire();
  s->id = frame->hd.stream_id;
  nghttp2_session_set_stream_user_data(ng, s->id, s);
  ++self->streams_started_;
  self->stats_->h2_streams.Add();
  return 0;
}

int Session::OnHeader(nghttp2_session* ng, const nghttp2_frame* frame, nghttp2_rcbuf* name,
                      nghttp2_rcbuf* value, uint8_t, void* user) {
  auto* self = static_cast<Session*>(user);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  auto* s = static_cast<H2Stream*>(nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id));
  if (s == nullptr || s->error_status != 0) return 0;
  const std::string_view n = View(name), v = View(value);
  s->header_bytes += n.size() + v.size() + 32;  // RFC 9113 §6.5.2's accounting
  if (s->header_bytes > self->opt_.limits.max_head) {
    s->error_status = 431;
    return 0;
  }
  const bool pseudo = !n.empty() && n.front() == ':';
  if (!pseudo && s->rq->req.header_count == kMaxHeaders) {
    s->error_status = 431;
    return 0;
  }
  if (pseudo) {
    if (n == ":method") {
      s->rq->req.method_str = v;
      s->rq->req.method = MethodFromName(v);
    } else if (n == ":path") {
      s->rq->req.target = v;
    } else if (n == ":authority") {
      s->authority = v;
    } else {
      return 0;  // :scheme, :protocol: nothing uses them
    }
  } else {
    s->rq->req.headers[s->rq->req.header_count++] = {n, v};
  }
  if (s->rq->rcbuf_count + 2 > s->rq->rcbufs.size()) {
    s->error_status = 431;
    return 0;
  }
  nghttp2_rcbuf_incref(name);
  nghttp2_rcbuf_incref(value);
  s->rq->rcbufs[s->rq->rcbuf_count++] = name;
  s->rq->rcbufs[s->rq->rcbuf_count++] = value;
  return 0;
}

int Session::OnDataChunk(nghttp2_session* ng, uint8_t, int32_t stream_id, const uint8_t* data,
                         size_t len, void* user) {
  auto* self = static_cast<Session*>(user);
  auto* s = static_cast<H2Stream*>(nghttp2_session_get_stream_user_data(ng, stream_id));
  if (s == nullptr || s->dispatched) return 0;
  if (s->req_body.size() + len > self->opt_.limits.max_body) {
    s->error_status = 413;  // answered now; the rest of the body is dropped
    self->Dispatch(s);
    return 0;
  }
  if (len > 0) s->req_body.Append(std::string_view(reinterpret_cast<const char*>(data), len));
  return 0;
}

int Session::OnFrameRecv(nghttp2_session* ng, const nghttp2_frame* frame, void* user) {
  auto* self = static_cast<Session*>(user);
  switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
    case NGHTTP2_DATA:
      if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
        auto* s =
            static_cast<H2Stream*>(nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id));
        if (s != nullptr) {
          s->remote_done = true;
          if (!s->dispatched) self->Dispatch(s);
        }
      }
      break;
    case NGHTTP2_RST_STREAM:
      self->stats_->h2_resets_received.Add();
      break;
    default:
      break;
  }
  return 0;
}

int Session::OnFrameSend(nghttp2_session* ng, const nghttp2_frame* frame, void* user) {
  auto* self = static_cast<Session*>(user);
  if (frame->hd.type == NGHTTP2_GOAWAY) {
    self->stats_->h2_goaways.Add();
    return 0;
  }
  // A response sent before the request ended (413): ask the peer to stop sending (RFC 9113 §8.1).
  if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
    auto* s = static_cast<H2Stream*>(nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id));
    if (s != nullptr && !s->remote_done)
      nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_NO_ERROR);
  }
  return 0;
}

int Session::OnStreamClose(nghttp2_session* ng, int32_t stream_id, uint32_t, void* user) {
  auto* self = static_cast<Session*>(user);
  auto* s = static_cast<H2Stream*>(nghttp2_session_get_stream_user_data(ng, stream_id));
  if (s == nullptr) return 0;
  s->closed = true;
  s->nghttp2_gone = true;
  if (s->handler_running) {  // the peer reset it: the handler finds out and returns
    if (s->api) self->host_->AbortHandler(s);
    if (s->send_waiter) self->host_->Resume(std::exchange(s->send_waiter, {}));
    return 0;
  }
  self->Release(s);
  return 0;
}

ssize_t Session::ReadBody(nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                          nghttp2_data_source* source, void*) {
  auto* s = static_cast<H2Stream*>(source->ptr);
  size_t n = 0;
  if (!s->body.empty()) {
    n = std::min(length, s->body.size());
    std::memcpy(buf, s->body.data(), n);
    s->body.Consume(n);
  }
  // Then a streamed Send's parts, straight from the shared chunks (one copy: into the frame).
  while (n < length && s->part < s->parts.size()) {
    const std::string_view p = s->parts[s->part].substr(s->part_off);
    const size_t k = std::min(length - n, p.size());
    if (k > 0) std::memcpy(buf + n, p.data(), k);
    n += k;
    if (k == p.size()) {
      ++s->part;
      s->part_off = 0;
    } else {
      s->part_off += k;
    }
  }
  if (n > 0) s->last_progress = MonoNow();
  if (!s->HasOutput()) {
    s->DropParts();  // the handler's Send returns next: its views die with it
    if (s->eof) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
    } else {
      // The handler's Send is done once its bytes are with nghttp2.
      if (s->send_waiter) s->session->host_->Resume(std::exchange(s->send_waiter, {}));
      if (n == 0) {
        s->waiting_data = true;
        return NGHTTP2_ERR_DEFERRED;
      }
    }
  }
  return static_cast<ssize_t>(n);
}

}  // namespace rf::http::h2
