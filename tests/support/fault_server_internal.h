// Internals of FaultServer shared by fault_server*.cc; nothing else includes this.
//
// Threading: ServerState is locked and used from the server thread and the test's thread.
// Everything else (Transport, Connection, the protocol loops) lives on the server thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/steady_timer.hpp>

#include "tests/support/fault_server.h"

namespace cistern::testing::fault_internal {

// Coroutines. Asio is used header-only here (no net/asio.h, no cistern_net): errors come back
// through asio::redirect_error, never as exceptions.
template <class T>
using Task = asio::awaitable<T>;

// Starts `task` on `ex`; `on_done` runs on `ex` when it ends. An exception escaping `task` is a
// bug and terminates the test binary.
void Spawn(const asio::any_io_executor& ex, Task<void> task, std::function<void()> on_done = {});

// Waits `d` (an uncancellable pause; used only for short, bounded waits).
Task<void> SleepFor(std::chrono::steady_clock::duration d);

struct RequestHead {
  std::string method;
  std::string target;
  FaultHeaders headers;  // lower-case names
};

// The response decided for one request, and where its faults strike.
struct ResponsePlan {
  size_t record = 0;  // index into ServerState's records
  int status = 200;
  FaultHeaders headers;  // everything but content-length
  std::shared_ptr<const std::string> body;
  uint64_t offset = 0;  // first byte of `body` sent
  uint64_t length = 0;  // body bytes the response announces
  bool head_only = false;
  bool send_content_length = true;
  bool refuse = false;  // GOAWAY on headers with a last stream id below this stream: no answer
  Fault fault;          // the matching rule, or a default Fault
  // Body offsets (0..length) at which something happens; nullopt: never.
  std::optional<uint64_t> reset_at;
  std::optional<uint64_t> close_at;
  std::optional<uint64_t> stall_at;
  std::optional<uint64_t> rst_at;
  std::optional<uint64_t> goaway_at;  // only with fault.goaway->after_bytes

  // The body bytes [from, from + n) as sent: corrupt_offsets flipped.
  std::string Slice(uint64_t from, uint64_t n) const;
  // The next offset after `sent` where an event above (or the end) lies.
  uint64_t NextStop(uint64_t sent) const;
};

// Everything tests change and read, behind one mutex.
class ServerState {
 public:
  explicit ServerState(FaultServerOptions options) : options_(std::move(options)) {}

  const FaultServerOptions& options() const { return options_; }

  void SetResource(const std::string& path, Resource resource);
  void RemoveResource(const std::string& path);
  void AddFault(const std::string& path, Fault fault);
  void AddConnectionFault(ConnectionFault fault);
  void ClearFaults();

  // A new connection: its id and the connection rule that applies, if any.
  std::pair<uint64_t, std::optional<ConnectionFault>> Accept();
  // Records the request and decides the answer.
  ResponsePlan Begin(std::string_view protocol, uint64_t connection, int32_t stream,
                     RequestHead head);
  void HeadSent(size_t record, int status, uint64_t content_length);
  void BodySent(size_t record, uint64_t bytes);
  // Sets the outcome unless one is set already.
  void Finish(size_t record, std::string_view outcome);

  std::vector<RequestRecord> Requests() const;
  uint64_t connections_accepted() const;
  uint64_t requests() const;
  bool WaitForFinished(size_t count, std::chrono::milliseconds timeout) const;

 private:
  const Fault* MatchFault(const std::string& path, int nth) const;
  std::optional<Resource> FindResource(const std::string& path) const;

  const FaultServerOptions options_;
  mutable std::mutex mutex_;
  mutable std::condition_variable finished_changed_;
  std::map<std::string, std::shared_ptr<const std::string>> bodies_;
  std::map<std::string, Resource> resources_;  // bodies live in bodies_
  std::vector<std::pair<std::string, Fault>> faults_;
  std::vector<ConnectionFault> connection_faults_;
  std::map<std::string, int> path_counts_;
  std::vector<RequestRecord> records_;
  size_t finished_ = 0;
  uint64_t connections_ = 0;
};

// A TCP or TLS byte stream. Errors are values.
class Transport {
 public:
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  explicit Transport(asio::ip::tcp::socket socket);
  Transport(asio::ip::tcp::socket socket, asio::ssl::context& tls);

  bool is_tls() const { return tls_.has_value(); }
  asio::ip::tcp::socket& tcp();
  // The ALPN protocol the handshake selected, "" if none.
  std::string alpn();

  Task<std::error_code> Handshake();
  Task<std::tuple<std::error_code, size_t>> ReadSome(asio::mutable_buffer buffer);
  Task<std::error_code> Write(asio::const_buffer buffer);
  // Waits (up to 2 s) until the kernel's send queue is empty, so what was written reached the
  // peer, then closes with SO_LINGER 0: the peer sees a TCP RST.
  Task<void> Reset();
  // TLS close_notify (bounded), then FIN and close.
  Task<void> CloseCleanly();
  // Closes now (from Stop()); pending operations end with operation_aborted.
  void Abort();
  bool is_open() { return tcp().is_open(); }

 private:
  std::optional<asio::ip::tcp::socket> plain_;
  std::optional<asio::ssl::stream<asio::ip::tcp::socket>> tls_;
};

// One accepted connection: its id, its transport, and a timer for waits that Stop() ends.
struct Connection {
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  Connection(uint64_t id_in, std::unique_ptr<Transport> transport_in, asio::any_io_executor ex)
      : id(id_in), transport(std::move(transport_in)), timer(ex) {}

  uint64_t id;
  std::unique_ptr<Transport> transport;
  asio::steady_timer timer;
  bool stopping = false;
  std::function<void()> on_stop;  // set by a protocol loop that has more to cancel
};

// Waits `d` on the connection's timer (zero: until Stop()). Returns false if stopped.
Task<bool> Pause(Connection& connection, std::chrono::milliseconds d);

// The protocol loops. `initial` holds bytes already read from the transport.
Task<void> ServeHttp1(ServerState& state, Connection& connection, std::string initial);
Task<void> ServeH2(ServerState& state, Connection& connection, std::string initial);

// "Sun, 06 Nov 1994 08:49:37 GMT".
std::string HttpDate(std::chrono::system_clock::time_point time);
std::string_view ReasonPhrase(int status);

inline constexpr size_t kChunk = 16 * 1024;

}  // namespace cistern::testing::fault_internal
