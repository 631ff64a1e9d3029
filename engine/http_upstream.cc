#include "engine/http_upstream.h"

#include <charconv>
#include <chrono>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "net/byte_range.h"
#include "net/retry_policy.h"

namespace cistern::engine {
namespace {

net::Request IndexRequest(net::Url url, UpstreamFormat format) {
  net::Request request;
  request.url = std::move(url);
  request.headers.Add("Accept", std::string(AcceptHeaderFor(format)));
  request.accept_gzip = true;
  request.urgent = true;  // the index and project pages go ahead of package files
  return request;
}

std::optional<int64_t> SerialHeader(const net::ResponseHead& head) {
  auto value = head.headers.Get("X-PyPI-Last-Serial");
  if (!value) {
    return std::nullopt;
  }
  int64_t serial = 0;
  const auto [end, error] = std::from_chars(value->data(), value->data() + value->size(), serial);
  if (error != std::errc() || end != value->data() + value->size()) {
    return std::nullopt;
  }
  return serial;
}

// The media type without parameters, lowercased: "application/vnd.pypi.simple.v1+json".
std::string MediaType(const net::ResponseHead& head) {
  std::string type(head.headers.Get("Content-Type").value_or(""));
  type = type.substr(0, type.find(';'));
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) {
    type.pop_back();
  }
  for (char& c : type) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return type;
}

// Checks status and Content-Type of an index response and says what the body holds; `what` names
// the resource in messages.
Result<BodyType> CheckIndexResponse(const net::ResponseHead& head, UpstreamFormat format, Errc code,
                                    std::string_view what) {
  if (head.status != 200) {
    Error error = MakeError(
        code, fmt::format("GET {}: HTTP {} {}", head.url.str(), head.status, head.reason));
    error.transient = net::IsRetryableStatus(head.status);
    if (net::HonoursRetryAfter(head.status)) {
      if (auto value = head.headers.Get("Retry-After")) {
        error.retry_after = net::ParseRetryAfter(*value, std::chrono::system_clock::now());
      }
    }
    return tl::make_unexpected(std::move(error));
  }
  const std::string type = MediaType(head);
  if (auto body = AcceptedBodyType(type, format)) {
    return *body;
  }
  return tl::make_unexpected(MakeError(
      code, fmt::format("GET {}: {}", head.url.str(), RefusedTypeMessage(type, format, what))));
}

}  // namespace

Result<net::Url> IndexUrlFromUpstream(std::string_view upstream) {
  if (upstream.starts_with('/')) {
    return tl::make_unexpected(MakeError(
        Errc::kConfig, fmt::format("upstream \"{}\" is a path: write a local index as "
                                   "file://{}",
                                   upstream, upstream)));
  }
  auto url = net::Url::Parse(upstream, net::Schemes::kHttpOrFile);
  if (!url) {
    if (url.error().code == net::make_error_code(net::Errc::kUnsupportedScheme)) {
      return tl::make_unexpected(MakeError(
          Errc::kConfig, fmt::format("upstream URL \"{}\" must start with https://, http:// or "
                                     "file://",
                                     upstream)));
    }
    return tl::make_unexpected(MakeError(
        Errc::kConfig, fmt::format("invalid upstream URL \"{}\": {}", upstream, url.error().detail)));
  }
  // A file:// index is the directory given; an http(s) origin alone means its /simple/.
  if (!url->is_file() && (url->path().empty() || url->path() == "/")) {
    return url->Resolve("/simple/").map_error([](const net::Error& e) { return FromNet(e); });
  }
  if (!url->path().ends_with('/')) {
    return url->Resolve(std::string(url->path()) + "/").map_error([](const net::Error& e) {
      return FromNet(e);
    });
  }
  return std::move(*url);
}

HttpUpstream::HttpUpstream(net::Client& client, net::Url index_url, HttpUpstreamOptions options)
    : client_(client), index_url_(std::move(index_url)), options_(options) {}

net::Task<Result<FetchedRoot>> HttpUpstream::FetchRoot() {
  net::StringSink sink(options_.max_root_bytes);
  auto head = co_await client_.Fetch(IndexRequest(index_url_, options_.format), sink);
  if (!head) {
    co_return tl::make_unexpected(FromNet(head.error()));
  }
  auto type = CheckIndexResponse(*head, options_.format, Errc::kUpstreamIndex, "the index root");
  if (!type) {
    co_return tl::make_unexpected(type.error());
  }
  std::string body = sink.TakeBody();
  auto index = reader_.ParseRoot(*type, body);
  if (!index) {
    Error error = index.error();
    error.detail = fmt::format("GET {}: {}", head->url.str(), error.detail);
    co_return tl::make_unexpected(std::move(error));
  }
  co_return FetchedRoot{std::move(*index), head->url, SerialHeader(*head)};
}

net::Task<Result<FetchedPage>> HttpUpstream::FetchProject(ProjectName name) {
  auto url = index_url_.Resolve(name.str() + "/");
  if (!url) {
    co_return tl::make_unexpected(FromNet(url.error(), name.str()));
  }
  net::StringSink sink(options_.max_page_bytes);
  auto head = co_await client_.Fetch(IndexRequest(*url, options_.format), sink);
  if (!head) {
    co_return tl::make_unexpected(FromNet(head.error(), name.str()));
  }
  FetchedPage fetched;
  fetched.url = head->url;
  fetched.header_serial = SerialHeader(*head);
  if (head->status == 404 || head->status == 410) {  // 410 Gone: deleted, said plainly
    fetched.found = false;
    co_return fetched;
  }
  auto type = CheckIndexResponse(*head, options_.format, Errc::kProjectPage, "the project page");
  if (!type) {
    Error error = type.error();
    error.project = name.str();
    co_return tl::make_unexpected(std::move(error));
  }
  std::string body = sink.TakeBody();
  auto page = reader_.ParseProject(*type, body, head->url);
  if (!page) {
    Error error = page.error();
    error.project = name.str();
    error.detail = fmt::format("GET {}: {}", head->url.str(), error.detail);
    co_return tl::make_unexpected(std::move(error));
  }
  fetched.page = std::move(*page);
  co_return fetched;
}

net::Task<Result<net::ResponseHead>> HttpUpstream::FetchFile(net::Url url, net::BodySink& sink,
                                                            std::optional<FileRange> range,
                                                            bool urgent) {
  net::Request request;
  request.url = std::move(url);
  request.urgent = urgent;
  // Files are hashed byte for byte and served with Range: never ask for a transfer encoding.
  request.accept_gzip = false;
  if (range) {
    request.headers.Add("Range", net::ByteRange{range->offset, std::nullopt}.HeaderValue());
    if (!range->if_range.empty()) {
      request.headers.Add("If-Range", range->if_range);
    }
  }
  auto head = co_await client_.Fetch(std::move(request), sink);
  if (!head) {
    co_return tl::make_unexpected(FromNet(head.error()));
  }
  co_return std::move(*head);
}

}  // namespace cistern::engine
