#include "net/http1_codec.h"

#include <string>

#include <llhttp.h>

#include "net/internal/field_syntax.h"

namespace cistern::net {

using internal::IsFieldValue;
using internal::IsToken;

struct Http1Codec::Impl {
  llhttp_t parser{};
  bool is_head_request = false;
  bool started = false;
  bool has_head = false;
  bool complete = false;
  bool keep_alive = false;
  bool in_trailers = false;
  size_t head_bytes = 0;
  Http1Head head;
  std::string field;  // the header name being accumulated
  std::string value;  // the header value being accumulated
  std::vector<Http1Event> events;

  void Reset();
};

namespace {

using Impl = Http1Codec::Impl;

Impl& Self(llhttp_t* parser) { return *static_cast<Impl*>(parser->data); }

// Counts head bytes; false when the head grew past the limit.
bool CountHeadBytes(Impl& self, llhttp_t* parser, size_t length) {
  self.head_bytes += length;
  if (self.head_bytes > Http1Codec::kMaxHeadBytes) {
    llhttp_set_error_reason(parser, "response head exceeds the size limit");
    return false;
  }
  return true;
}

// Trampolines: they only record what llhttp saw (style §8: no I/O, no resumption from here).
int OnMessageBegin(llhttp_t* parser) noexcept {
  Impl& self = Self(parser);
  self.head = Http1Head{};
  self.field.clear();
  self.value.clear();
  self.head_bytes = 0;
  self.in_trailers = false;
  return 0;
}

int OnStatus(llhttp_t* parser, const char* at, size_t length) noexcept {
  Impl& self = Self(parser);
  if (!CountHeadBytes(self, parser, length)) {
    return HPE_USER;
  }
  self.head.reason.append(at, length);
  return 0;
}

int OnHeaderField(llhttp_t* parser, const char* at, size_t length) noexcept {
  Impl& self = Self(parser);
  if (self.in_trailers) {
    return 0;  // RFC 9112 §7.1.2: trailer fields are not merged into the head; ignored
  }
  if (!CountHeadBytes(self, parser, length)) {
    return HPE_USER;
  }
  self.field.append(at, length);
  return 0;
}

int OnHeaderValue(llhttp_t* parser, const char* at, size_t length) noexcept {
  Impl& self = Self(parser);
  if (self.in_trailers) {
    return 0;
  }
  if (!CountHeadBytes(self, parser, length)) {
    return HPE_USER;
  }
  self.value.append(at, length);
  return 0;
}

int OnHeaderValueComplete(llhttp_t* parser) noexcept {
  Impl& self = Self(parser);
  if (self.in_trailers) {
    return 0;
  }
  self.head.headers.Add(std::move(self.field), std::move(self.value));
  self.field.clear();
  self.value.clear();
  return 0;
}

int OnHeadersComplete(llhttp_t* parser) noexcept {
  Impl& self = Self(parser);
  int status = llhttp_get_status_code(parser);
  if (status >= 100 && status < 200) {
    return 1;  // interim response (RFC 9110 §15.2): no body; the final response follows
  }
  self.head.status = status;
  self.head.version_minor = llhttp_get_http_minor(parser);
  bool has_length = (parser->flags & F_CONTENT_LENGTH) != 0 && (parser->flags & F_CHUNKED) == 0;
  if (has_length) {
    self.head.content_length = parser->content_length;
  }
  self.has_head = true;
  self.in_trailers = true;
  self.events.push_back(Http1Event{Http1Event::Kind::kHead, {}});
  // RFC 9112 §6.3: a response to HEAD has no body, whatever its headers say.
  return self.is_head_request ? 1 : 0;
}

int OnBody(llhttp_t* parser, const char* at, size_t length) noexcept {
  Impl& self = Self(parser);
  self.events.push_back(
      Http1Event{Http1Event::Kind::kBody,
                 std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(at), length)});
  return 0;
}

int OnMessageComplete(llhttp_t* parser) noexcept {
  Impl& self = Self(parser);
  if (!self.has_head) {
    return 0;  // the end of an interim response
  }
  self.complete = true;
  self.keep_alive = llhttp_should_keep_alive(parser) != 0;
  self.events.push_back(Http1Event{Http1Event::Kind::kComplete, {}});
  // Stop here: bytes after the response belong to no request we sent.
  return HPE_PAUSED;
}

constexpr llhttp_settings_t kSettings = {
    .on_message_begin = OnMessageBegin,
    .on_url = nullptr,
    .on_status = OnStatus,
    .on_method = nullptr,
    .on_version = nullptr,
    .on_header_field = OnHeaderField,
    .on_header_value = OnHeaderValue,
    .on_chunk_extension_name = nullptr,
    .on_chunk_extension_value = nullptr,
    .on_headers_complete = OnHeadersComplete,
    .on_body = OnBody,
    .on_message_complete = OnMessageComplete,
    .on_url_complete = nullptr,
    .on_status_complete = nullptr,
    .on_method_complete = nullptr,
    .on_version_complete = nullptr,
    .on_header_field_complete = nullptr,
    .on_header_value_complete = OnHeaderValueComplete,
    .on_chunk_extension_name_complete = nullptr,
    .on_chunk_extension_value_complete = nullptr,
    .on_chunk_header = nullptr,
    .on_chunk_complete = nullptr,
    .on_reset = nullptr,
};

Error ParserError(const llhttp_t* parser, llhttp_errno_t err) {
  const char* reason = llhttp_get_error_reason(parser);
  std::string detail = std::string("malformed response: ") + llhttp_errno_name(err);
  if (reason != nullptr && *reason != '\0') {
    detail += ": ";
    detail += reason;
  }
  return Error{make_error_code(Errc::kProtocol), std::move(detail)};
}

}  // namespace

void Http1Codec::Impl::Reset() {
  llhttp_init(&parser, HTTP_RESPONSE, &kSettings);
  parser.data = this;
  started = false;
  has_head = false;
  complete = false;
  keep_alive = false;
  in_trailers = false;
  head_bytes = 0;
  head = Http1Head{};
  field.clear();
  value.clear();
  events.clear();
}

Http1Codec::Http1Codec() : impl_(std::make_unique<Impl>()) { impl_->Reset(); }

Http1Codec::~Http1Codec() = default;

Result<std::string> Http1Codec::SerializeRequest(const Request& request,
                                                 std::string_view user_agent) {
  if (!IsToken(request.method)) {
    return Fail(Errc::kProtocol, "request method \"" + request.method + "\" is not a token");
  }
  for (const Header& header : request.headers.all()) {
    if (!IsToken(header.name) || !IsFieldValue(header.value)) {
      return Fail(Errc::kProtocol, "request header \"" + header.name +
                                       "\" has an invalid name or a CR, LF or NUL in its value");
    }
  }
  if (!IsFieldValue(user_agent)) {
    return Fail(Errc::kProtocol, "User-Agent contains CR, LF or NUL");
  }
  static constexpr std::string_view kDefaults[] = {"Host", "User-Agent", "Accept-Encoding",
                                                   "Connection"};
  std::string out;
  out.reserve(256);
  out += request.method;
  out += ' ';
  out += request.url.target();
  out += " HTTP/1.1\r\n";
  auto add = [&out](std::string_view name, std::string_view value) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  };
  std::string host = request.url.authority();
  add("Host", request.headers.Get("Host").value_or(host));
  add("User-Agent", request.headers.Get("User-Agent").value_or(user_agent));
  if (auto accept_encoding = request.headers.Get("Accept-Encoding")) {
    add("Accept-Encoding", *accept_encoding);
  } else if (request.accept_gzip) {
    add("Accept-Encoding", "gzip");
  }
  add("Connection", request.headers.Get("Connection").value_or("keep-alive"));
  for (const Header& header : request.headers.all()) {
    bool is_default = false;
    for (std::string_view name : kDefaults) {
      is_default = is_default || EqualsIgnoreCase(header.name, name);
    }
    if (!is_default) {
      add(header.name, header.value);
    }
  }
  out += "\r\n";
  return out;
}

void Http1Codec::BeginResponse(std::string_view method) {
  impl_->Reset();
  impl_->is_head_request = EqualsIgnoreCase(method, "HEAD");
}

Result<size_t> Http1Codec::Feed(std::span<const uint8_t> bytes) {
  Impl& self = *impl_;
  if (self.complete || bytes.empty()) {
    return size_t{0};
  }
  self.started = true;
  const char* data = reinterpret_cast<const char*>(bytes.data());
  llhttp_errno_t err = llhttp_execute(&self.parser, data, bytes.size());
  if (err == HPE_OK) {
    return bytes.size();
  }
  if (err == HPE_PAUSED && self.complete) {
    const char* stop = llhttp_get_error_pos(&self.parser);
    return static_cast<size_t>(stop - data);
  }
  if (err == HPE_PAUSED_UPGRADE) {
    return Fail(Errc::kProtocol, "malformed response: unexpected protocol upgrade");
  }
  return tl::unexpected(ParserError(&self.parser, err));
}

Result<void> Http1Codec::FeedEof() {
  Impl& self = *impl_;
  if (self.complete) {
    return {};
  }
  if (!self.started) {
    return Fail(Errc::kConnectionClosed, "connection closed before any response byte");
  }
  llhttp_errno_t err = llhttp_finish(&self.parser);
  if ((err == HPE_OK || err == HPE_PAUSED) && self.complete) {
    return {};
  }
  if (!self.has_head) {
    return Fail(Errc::kConnectionClosed, "connection closed in the response head");
  }
  return Fail(Errc::kConnectionClosed, "connection closed in the response body");
}

const std::vector<Http1Event>& Http1Codec::events() const { return impl_->events; }
void Http1Codec::ClearEvents() { impl_->events.clear(); }
const Http1Head& Http1Codec::head() const { return impl_->head; }
bool Http1Codec::has_head() const { return impl_->has_head; }
bool Http1Codec::is_complete() const { return impl_->complete; }
bool Http1Codec::keep_alive() const { return impl_->complete && impl_->keep_alive; }
bool Http1Codec::started() const { return impl_->started; }

}  // namespace cistern::net
