#include "net/proxy_connect.h"

#include <algorithm>
#include <optional>
#include <string>

#include "net/internal/field_syntax.h"

namespace cistern::net {

std::string SerializeConnectRequest(std::string_view authority, std::string_view user_agent,
                                    std::string_view authorization) {
  std::string out;
  out.reserve(128 + authority.size() * 2 + user_agent.size() + authorization.size());
  out.append("CONNECT ").append(authority).append(" HTTP/1.1\r\n");
  out.append("Host: ").append(authority).append("\r\n");
  if (!user_agent.empty()) {
    out.append("User-Agent: ").append(user_agent).append("\r\n");
  }
  if (!authorization.empty()) {
    out.append("Proxy-Authorization: ").append(authorization).append("\r\n");
  }
  out.append("\r\n");
  return out;
}

Result<size_t> ConnectResponseReader::Feed(std::span<const uint8_t> bytes) {
  constexpr std::string_view kEnd = "\r\n\r\n";
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (head_.size() >= kMaxHeadSize) {
      return Fail(Errc::kProtocol,
                  "proxy response head larger than " + std::to_string(kMaxHeadSize) + " bytes");
    }
    char c = static_cast<char>(bytes[i]);
    if (c == '\n' && !head_.ends_with('\r')) {
      return Fail(Errc::kProtocol, "proxy answered CONNECT with a bare LF (lines end in CRLF)");
    }
    head_.push_back(c);
    if (head_.ends_with(kEnd)) {
      auto parsed = ParseHead();
      if (!parsed) {
        return tl::unexpected(parsed.error());
      }
      done_ = true;
      return i + 1;
    }
  }
  return bytes.size();
}

Result<void> ConnectResponseReader::ParseHead() {
  // head_ ends with "\r\n\r\n"; split it into CRLF-terminated lines.
  std::string_view rest(head_);
  rest.remove_suffix(2);
  auto next_line = [&rest]() -> std::optional<std::string_view> {
    size_t end = rest.find("\r\n");
    if (end == std::string_view::npos) {
      return std::nullopt;
    }
    std::string_view line = rest.substr(0, end);
    rest.remove_prefix(end + 2);
    return line;
  };
  auto bad = [](std::string_view what) {
    return Fail(Errc::kProtocol, "proxy answered CONNECT with " + std::string(what));
  };

  std::optional<std::string_view> status_line = next_line();
  if (!status_line) {
    return bad("no status line");
  }
  std::string_view line = *status_line;
  if (line.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos) {
    return bad("a bare CR or NUL in its status line");
  }
  // "HTTP/1.1 200 Connection established": version, status, optional reason.
  if (line.size() < 12 || !line.starts_with("HTTP/1.") || line[7] < '0' || line[7] > '9' ||
      line[8] != ' ' ||
      !std::all_of(line.begin() + 9, line.begin() + 12,
                   [](char c) { return c >= '0' && c <= '9'; }) ||
      (line.size() > 12 && line[12] != ' ')) {
    return bad("a malformed status line \"" + std::string(line.substr(0, 64)) + "\"");
  }
  status_ = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
  if (status_ < 100) {
    return bad("status " + std::string(line.substr(9, 3)));
  }
  reason_ = line.size() > 13 ? std::string(line.substr(13)) : std::string();
  for (char c : reason_) {
    if (c == '\r' || (static_cast<unsigned char>(c) < 0x20 && c != '\t')) {
      return bad("a control character in its reason phrase");
    }
  }

  while (!rest.empty()) {
    std::optional<std::string_view> field = next_line();
    if (!field) {
      return bad("a field line without CRLF");
    }
    line = *field;
    if (line.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos) {
      return bad("a bare CR, LF or NUL in a field line");
    }
    if (!line.empty() && (line.front() == ' ' || line.front() == '\t')) {
      return bad("a folded field line (obs-fold)");
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || !internal::IsToken(line.substr(0, colon))) {
      return bad("a malformed field line \"" + std::string(line.substr(0, 64)) + "\"");
    }
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
      value.remove_prefix(1);
    }
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
      value.remove_suffix(1);
    }
    headers_.Add(std::string(line.substr(0, colon)), std::string(value));
  }
  return {};
}

}  // namespace cistern::net
