// FaultServer over HTTP/1.1: llhttp parses requests (pipelined ones are answered in order), and
// each response's body is written in pieces that stop wherever a fault strikes.
#include <algorithm>
#include <cctype>
#include <deque>

#include <llhttp.h>

#include "tests/support/fault_server_internal.h"

namespace cistern::testing::fault_internal {
namespace {

struct ParsedRequest {
  RequestHead head;
  bool keep_alive = true;
};

// What the llhttp callbacks build.
struct ParserState {
  RequestHead current;
  std::string field;
  std::string value;
  std::deque<ParsedRequest> complete;
};

ParserState& StateOf(llhttp_t* parser) { return *static_cast<ParserState*>(parser->data); }

int OnMessageBegin(llhttp_t* parser) {
  StateOf(parser).current = RequestHead();
  return HPE_OK;
}

int OnUrl(llhttp_t* parser, const char* at, size_t length) {
  StateOf(parser).current.target.append(at, length);
  return HPE_OK;
}

int OnHeaderField(llhttp_t* parser, const char* at, size_t length) {
  StateOf(parser).field.append(at, length);
  return HPE_OK;
}

int OnHeaderValue(llhttp_t* parser, const char* at, size_t length) {
  StateOf(parser).value.append(at, length);
  return HPE_OK;
}

int OnHeaderValueComplete(llhttp_t* parser) {
  ParserState& state = StateOf(parser);
  std::string name = std::move(state.field);
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  state.current.headers.emplace_back(std::move(name), std::move(state.value));
  state.field.clear();
  state.value.clear();
  return HPE_OK;
}

int OnHeadersComplete(llhttp_t* parser) {
  StateOf(parser).current.method =
      llhttp_method_name(static_cast<llhttp_method_t>(llhttp_get_method(parser)));
  return HPE_OK;
}

int OnMessageComplete(llhttp_t* parser) {
  ParserState& state = StateOf(parser);
  state.complete.push_back({std::move(state.current), llhttp_should_keep_alive(parser) != 0});
  state.current = RequestHead();
  return HPE_OK;
}

const llhttp_settings_t& Settings() {
  static const llhttp_settings_t settings = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_message_begin = OnMessageBegin;
    s.on_url = OnUrl;
    s.on_header_field = OnHeaderField;
    s.on_header_value = OnHeaderValue;
    s.on_header_value_complete = OnHeaderValueComplete;
    s.on_headers_complete = OnHeadersComplete;
    s.on_message_complete = OnMessageComplete;
    return s;
  }();
  return settings;
}

std::string ResponseHead(const ResponsePlan& plan, bool keep_alive) {
  std::string head = "HTTP/1.1 " + std::to_string(plan.status) + " " +
                     std::string(ReasonPhrase(plan.status)) + "\r\n";
  head += "server: cistern-fault-server\r\n";
  head += "date: " + HttpDate(std::chrono::system_clock::now()) + "\r\n";
  for (const auto& [name, value] : plan.headers) {
    head += name + ": " + value + "\r\n";
  }
  if (plan.send_content_length) {
    head += "content-length: " + std::to_string(plan.length) + "\r\n";
  }
  if (!keep_alive) {
    head += "connection: close\r\n";
  }
  head += "\r\n";
  return head;
}

// Answers one request. Returns whether the connection stays open for the next one.
Task<bool> Respond(ServerState& state, Connection& connection, ParsedRequest request) {
  Transport& transport = *connection.transport;
  ResponsePlan plan = state.Begin("http/1.1", connection.id, 0, std::move(request.head));
  const Fault& fault = plan.fault;
  if (fault.reset_before_response) {
    co_await transport.Reset();
    state.Finish(plan.record, "reset");
    co_return false;
  }
  if (fault.delay_headers.count() > 0 && !co_await Pause(connection, fault.delay_headers)) {
    state.Finish(plan.record, "stopped");
    co_return false;
  }
  bool keep_alive =
      request.keep_alive && !fault.goaway && (plan.send_content_length || plan.head_only);
  std::string head = ResponseHead(plan, keep_alive);
  if (std::error_code ec = co_await transport.Write(asio::buffer(head)); ec) {
    state.Finish(plan.record, "peer_closed");
    co_return false;
  }
  state.HeadSent(plan.record, plan.status, plan.length);
  const uint64_t length = plan.head_only ? 0 : plan.length;
  const auto started = std::chrono::steady_clock::now();
  bool stalled = false;
  for (uint64_t sent = 0;;) {
    if (plan.head_only) {
      break;
    }
    if (plan.stall_at == sent && !stalled) {
      stalled = true;
      if (!co_await Pause(connection, fault.stall_for)) {
        state.Finish(plan.record, "stopped");
        co_return false;
      }
    }
    if (plan.reset_at == sent || plan.rst_at == sent) {
      co_await transport.Reset();
      state.Finish(plan.record, "reset");
      co_return false;
    }
    if (plan.close_at == sent) {
      co_await transport.CloseCleanly();
      state.Finish(plan.record, "closed");
      co_return false;
    }
    if (sent == length) {
      break;
    }
    uint64_t n = std::min<uint64_t>(plan.NextStop(sent) - sent, kChunk);
    if (fault.bytes_per_second) {
      n = std::min<uint64_t>(n, std::max<uint64_t>(1, *fault.bytes_per_second / 20));
    }
    std::string piece = plan.Slice(sent, n);
    if (std::error_code ec = co_await transport.Write(asio::buffer(piece)); ec) {
      state.Finish(plan.record, "peer_closed");
      co_return false;
    }
    sent += n;
    state.BodySent(plan.record, n);
    if (fault.bytes_per_second) {
      auto due = started + std::chrono::microseconds(sent * 1'000'000 / *fault.bytes_per_second);
      auto now = std::chrono::steady_clock::now();
      if (due > now &&
          !co_await Pause(connection, std::chrono::ceil<std::chrono::milliseconds>(due - now))) {
        state.Finish(plan.record, "stopped");
        co_return false;
      }
    }
  }
  state.Finish(plan.record, "complete");
  if (!keep_alive) {
    co_await transport.CloseCleanly();
  }
  co_return keep_alive;
}

}  // namespace

Task<void> ServeHttp1(ServerState& state, Connection& connection, std::string initial) {
  ParserState parsed;
  llhttp_t parser;
  llhttp_init(&parser, HTTP_REQUEST, &Settings());
  parser.data = &parsed;
  std::string input = std::move(initial);
  char buffer[16 * 1024];
  for (;;) {
    if (!input.empty()) {
      llhttp_errno_t error = llhttp_execute(&parser, input.data(), input.size());
      input.clear();
      if (error != HPE_OK) {
        static constexpr std::string_view kBadRequest =
            "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
        std::ignore = co_await connection.transport->Write(asio::buffer(kBadRequest));
        co_await connection.transport->CloseCleanly();
        co_return;
      }
    }
    while (!parsed.complete.empty()) {
      ParsedRequest request = std::move(parsed.complete.front());
      parsed.complete.pop_front();
      if (!co_await Respond(state, connection, std::move(request))) {
        co_return;
      }
    }
    auto [ec, n] = co_await connection.transport->ReadSome(asio::buffer(buffer));
    if (ec || connection.stopping) {
      co_return;
    }
    input.assign(buffer, n);
  }
}

}  // namespace cistern::testing::fault_internal
