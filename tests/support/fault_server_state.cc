// ServerState and ResponsePlan: what FaultServer answers (resources, ranges, validators, fault
// rules) and what it recorded. No I/O but reading files under `root`.
#include <algorithm>
#include <charconv>
#include <ctime>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <sys/stat.h>

#include "tests/support/fault_server_internal.h"

namespace cistern::testing {

std::string RequestRecord::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) {
      return value;
    }
  }
  return {};
}

namespace fault_internal {
namespace {

namespace fs = std::filesystem;

std::string PathOf(std::string_view target) {
  return std::string(target.substr(0, target.find('?')));
}

// %XX escapes decoded, as nginx does before mapping a URI to a file; nullopt for a bad escape or
// an encoded NUL or slash.
std::optional<std::string> PercentDecoded(std::string_view path) {
  std::string out;
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] != '%') {
      out.push_back(path[i]);
      continue;
    }
    unsigned value = 0;
    if (i + 2 >= path.size() ||
        std::from_chars(path.data() + i + 1, path.data() + i + 3, value, 16).ptr !=
            path.data() + i + 3 ||
        value == 0 || value == '/') {
      return std::nullopt;
    }
    out.push_back(static_cast<char>(value));
    i += 2;
  }
  return out;
}

std::string FindHeader(const FaultHeaders& headers, std::string_view name) {
  for (const auto& [key, value] : headers) {
    if (key == name) {
      return value;
    }
  }
  return {};
}

std::optional<uint64_t> ParseNumber(std::string_view text) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    return std::nullopt;
  }
  return value;
}

// One `bytes=` range against a body of `size` bytes.
struct RangeAnswer {
  enum class Kind { kIgnore, kUnsatisfiable, kPartial };
  Kind kind = Kind::kIgnore;
  uint64_t first = 0;
  uint64_t last = 0;  // inclusive
};

RangeAnswer ParseRange(std::string_view header, uint64_t size) {
  constexpr std::string_view kPrefix = "bytes=";
  if (!header.starts_with(kPrefix) || header.find(',') != std::string_view::npos) {
    return {};  // another unit, or several ranges: answered with the whole body
  }
  std::string_view spec = header.substr(kPrefix.size());
  size_t dash = spec.find('-');
  if (dash == std::string_view::npos) {
    return {};
  }
  std::string_view first_text = spec.substr(0, dash);
  std::string_view last_text = spec.substr(dash + 1);
  RangeAnswer answer;
  if (first_text.empty()) {  // bytes=-N: the last N bytes
    std::optional<uint64_t> suffix = ParseNumber(last_text);
    if (!suffix) {
      return {};
    }
    if (*suffix == 0 || size == 0) {
      answer.kind = RangeAnswer::Kind::kUnsatisfiable;
      return answer;
    }
    answer.kind = RangeAnswer::Kind::kPartial;
    answer.first = size - std::min(*suffix, size);
    answer.last = size - 1;
    return answer;
  }
  std::optional<uint64_t> first = ParseNumber(first_text);
  std::optional<uint64_t> last = last_text.empty()
                                     ? std::optional<uint64_t>(std::numeric_limits<uint64_t>::max())
                                     : ParseNumber(last_text);
  if (!first || !last || *last < *first) {
    return {};
  }
  if (*first >= size) {
    answer.kind = RangeAnswer::Kind::kUnsatisfiable;
    return answer;
  }
  answer.kind = RangeAnswer::Kind::kPartial;
  answer.first = *first;
  answer.last = std::min(*last, size - 1);
  return answer;
}

// RFC 9110 §13.1.5: an entity tag matches strongly only; a date matches Last-Modified exactly.
bool IfRangeMatches(std::string_view if_range, std::string_view etag,
                    std::string_view last_modified) {
  if (if_range.starts_with('"') || if_range.starts_with("W/")) {
    return !etag.empty() && !etag.starts_with("W/") && if_range == etag;
  }
  return !last_modified.empty() && if_range == last_modified;
}

std::optional<uint64_t> Clamp(std::optional<uint64_t> offset, uint64_t length) {
  if (!offset) {
    return std::nullopt;
  }
  return std::min(*offset, length);
}

}  // namespace

std::string HttpDate(std::chrono::system_clock::time_point time) {
  std::time_t seconds = std::chrono::system_clock::to_time_t(time);
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  char text[64];
  size_t n = std::strftime(text, sizeof(text), "%a, %d %b %Y %H:%M:%S GMT", &parts);
  return std::string(text, n);
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 416:
      return "Range Not Satisfiable";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Status";
  }
}

std::string ResponsePlan::Slice(uint64_t from, uint64_t n) const {
  std::string bytes;
  if (body) {
    bytes = body->substr(offset + from, n);
  }
  for (uint64_t at : fault.corrupt_offsets) {
    if (at >= from && at < from + bytes.size()) {
      size_t i = at - from;
      bytes[i] = static_cast<char>(~static_cast<unsigned char>(bytes[i]));
    }
  }
  return bytes;
}

uint64_t ResponsePlan::NextStop(uint64_t sent) const {
  uint64_t stop = length;
  for (const std::optional<uint64_t>& at : {reset_at, close_at, stall_at, rst_at, goaway_at}) {
    if (at && *at > sent) {
      stop = std::min(stop, *at);
    }
  }
  return stop;
}

void ServerState::SetResource(const std::string& path, Resource resource) {
  auto body = std::make_shared<const std::string>(std::move(resource.body));
  resource.body.clear();
  std::lock_guard lock(mutex_);
  bodies_[path] = std::move(body);
  resources_[path] = std::move(resource);
}

void ServerState::RemoveResource(const std::string& path) {
  std::lock_guard lock(mutex_);
  bodies_.erase(path);
  resources_.erase(path);
}

void ServerState::AddFault(const std::string& path, Fault fault) {
  std::lock_guard lock(mutex_);
  faults_.emplace_back(path, std::move(fault));
}

void ServerState::AddConnectionFault(ConnectionFault fault) {
  std::lock_guard lock(mutex_);
  connection_faults_.push_back(fault);
}

void ServerState::ClearFaults() {
  std::lock_guard lock(mutex_);
  faults_.clear();
  connection_faults_.clear();
}

std::pair<uint64_t, std::optional<ConnectionFault>> ServerState::Accept() {
  std::lock_guard lock(mutex_);
  uint64_t id = ++connections_;
  for (const ConnectionFault& fault : connection_faults_) {
    if (!fault.connection || static_cast<uint64_t>(*fault.connection) == id) {
      return {id, fault};
    }
  }
  return {id, std::nullopt};
}

const Fault* ServerState::MatchFault(const std::string& path, int nth) const {
  for (const char* wildcard : {"", "*"}) {
    for (const auto& [rule_path, fault] : faults_) {
      bool path_matches = *wildcard != '\0' ? rule_path == wildcard : rule_path == path;
      if (path_matches && (!fault.request || *fault.request == nth)) {
        return &fault;
      }
    }
  }
  return nullptr;
}

// Called with mutex_ held.
std::optional<Resource> ServerState::FindResource(const std::string& path) const {
  if (auto it = resources_.find(path); it != resources_.end()) {
    return it->second;
  }
  const std::optional<std::string> decoded = PercentDecoded(path);
  if (options_.root.empty() || !decoded || decoded->find("..") != std::string::npos ||
      !decoded->starts_with('/')) {
    return std::nullopt;
  }
  fs::path file = options_.root / decoded->substr(1);
  struct stat info {};
  if (::stat(file.c_str(), &info) != 0 || !S_ISREG(info.st_mode)) {
    return std::nullopt;
  }
  std::ifstream in(file, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  Resource resource;
  resource.body = bytes.str();
  char etag[64];
  std::snprintf(etag, sizeof(etag), "\"%llx-%llx\"", static_cast<unsigned long long>(info.st_mtime),
                static_cast<unsigned long long>(info.st_size));
  resource.etag = etag;
  resource.last_modified = HttpDate(std::chrono::system_clock::from_time_t(info.st_mtime));
  return resource;
}

ResponsePlan ServerState::Begin(std::string_view protocol, uint64_t connection, int32_t stream,
                                RequestHead head) {
  std::lock_guard lock(mutex_);
  RequestRecord record;
  record.time = std::chrono::system_clock::now();
  record.protocol = std::string(protocol);
  record.connection_id = connection;
  record.stream_id = stream;
  record.method = head.method;
  record.target = head.target;
  record.path = PathOf(head.target);
  record.range = FindHeader(head.headers, "range");
  record.if_range = FindHeader(head.headers, "if-range");
  record.user_agent = FindHeader(head.headers, "user-agent");
  record.headers = std::move(head.headers);
  int nth = ++path_counts_[record.path];

  ResponsePlan plan;
  plan.record = records_.size();
  const Fault* fault = MatchFault(record.path, nth);
  record.fault_applied = fault != nullptr;
  if (fault != nullptr) {
    plan.fault = *fault;
  }
  plan.head_only = record.method == "HEAD";
  plan.send_content_length = !plan.fault.omit_content_length;

  auto text_body = [&plan](int status, std::string text) {
    plan.status = status;
    plan.headers.emplace_back("content-type", "text/plain");
    plan.length = text.size();
    plan.body = std::make_shared<const std::string>(std::move(text));
  };
  if (plan.fault.status) {
    text_body(*plan.fault.status, plan.fault.status_body);
  } else if (record.method != "GET" && record.method != "HEAD") {
    text_body(405, "method not allowed\n");
    plan.headers.emplace_back("allow", "GET, HEAD");
  } else if (std::optional<Resource> resource = FindResource(record.path); !resource) {
    text_body(404, "not found\n");
  } else {
    auto body_it = bodies_.find(record.path);
    plan.body = body_it != bodies_.end()
                    ? body_it->second
                    : std::make_shared<const std::string>(std::move(resource->body));
    const std::string etag = plan.fault.etag.value_or(resource->etag);
    const std::string last_modified = plan.fault.last_modified.value_or(resource->last_modified);
    plan.headers.emplace_back("content-type", resource->content_type);
    plan.headers.emplace_back("accept-ranges", "bytes");
    if (!etag.empty()) {
      plan.headers.emplace_back("etag", etag);
    }
    if (!last_modified.empty()) {
      plan.headers.emplace_back("last-modified", last_modified);
    }
    const uint64_t size = plan.body->size();
    plan.length = size;
    RangeAnswer range;
    if (!record.range.empty() && !plan.fault.ignore_range &&
        (record.if_range.empty() || IfRangeMatches(record.if_range, etag, last_modified))) {
      range = ParseRange(record.range, size);
    }
    if (range.kind == RangeAnswer::Kind::kUnsatisfiable) {
      plan.status = 416;
      plan.length = 0;
      plan.headers.emplace_back("content-range", "bytes */" + std::to_string(size));
    } else if (range.kind == RangeAnswer::Kind::kPartial) {
      plan.status = 206;
      plan.offset = range.first;
      plan.length = range.last - range.first + 1;
      plan.headers.emplace_back("content-range", "bytes " + std::to_string(range.first) + "-" +
                                                     std::to_string(range.last) + "/" +
                                                     std::to_string(size));
    }
  }
  for (const auto& header : plan.fault.headers) {
    plan.headers.push_back(header);
  }

  plan.reset_at = Clamp(plan.fault.reset_after_bytes, plan.length);
  if (!plan.reset_at && plan.fault.reset_at_fraction) {
    double fraction = std::clamp(*plan.fault.reset_at_fraction, 0.0, 1.0);
    plan.reset_at = static_cast<uint64_t>(fraction * static_cast<double>(plan.length));
  }
  plan.close_at = Clamp(plan.fault.close_after_bytes, plan.length);
  plan.stall_at = Clamp(plan.fault.stall_after_bytes, plan.length);
  plan.rst_at = Clamp(plan.fault.rst_stream_after_bytes, plan.length);
  if (plan.fault.goaway) {
    plan.goaway_at = Clamp(plan.fault.goaway->after_bytes, plan.length);
    plan.refuse = !plan.fault.goaway->after_bytes && plan.fault.goaway->last_stream_id &&
                  *plan.fault.goaway->last_stream_id < stream;
  }
  record.content_length = plan.length;
  records_.push_back(std::move(record));
  return plan;
}

void ServerState::HeadSent(size_t record, int status, uint64_t content_length) {
  std::lock_guard lock(mutex_);
  records_[record].status = status;
  records_[record].content_length = content_length;
}

void ServerState::BodySent(size_t record, uint64_t bytes) {
  std::lock_guard lock(mutex_);
  records_[record].body_bytes_sent += bytes;
}

void ServerState::Finish(size_t record, std::string_view outcome) {
  std::lock_guard lock(mutex_);
  if (records_[record].outcome.empty()) {
    records_[record].outcome = std::string(outcome);
    ++finished_;
    finished_changed_.notify_all();
  }
}

std::vector<RequestRecord> ServerState::Requests() const {
  std::lock_guard lock(mutex_);
  return records_;
}

uint64_t ServerState::connections_accepted() const {
  std::lock_guard lock(mutex_);
  return connections_;
}

uint64_t ServerState::requests() const {
  std::lock_guard lock(mutex_);
  return records_.size();
}

bool ServerState::WaitForFinished(size_t count, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return finished_changed_.wait_for(lock, timeout, [&] { return finished_ >= count; });
}

}  // namespace fault_internal
}  // namespace cistern::testing
