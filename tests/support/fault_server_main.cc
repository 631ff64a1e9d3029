// fault_server: a FaultServer as a process, for scripts and manual runs.
//
//   fault_server [--root DIR] [--port N] [--tls-cert PEM --tls-key PEM | --make-certs DIR]
//                [--alpn h2,http/1.1|h2|http/1.1] [--max-concurrent-streams N]
//                [--script FAULTS.json] [--log REQUESTS.jsonl]
//
// Prints one JSON line ({"port":..,"url":"..","ca_file":".."}) once it listens, serves until
// SIGINT or SIGTERM, then writes every request record to --log (one JSON object a line) and
// exits 0. Exit 2 on bad arguments or a bad script, 1 if the server cannot start.
//
// The script (every key optional; unknown keys are errors):
//   {"resources": {"/p": {"body": "..." | "file": "path", "etag": "\"v1\"",
//                         "last_modified": "...", "content_type": "..."}},
//    "faults": [{"path": "/p" | "*", "request": 2, "status": 429, "status_body": "...",
//                "headers": {"retry-after": "2"}, "delay_headers_ms": 0,
//                "reset_before_response": false, "ignore_range": false, "etag": "\"v2\"",
//                "last_modified": "...", "omit_content_length": false,
//                "reset_after_bytes": 1000, "reset_at_fraction": 0.5, "close_after_bytes": 1000,
//                "stall_after_bytes": 1000, "stall_for_ms": 0, "rst_stream_after_bytes": 0,
//                "rst_stream_code": 7, "corrupt_offsets": [0, 10], "bytes_per_second": 65536,
//                "goaway": {"last_stream_id": 0, "error_code": 0, "after_bytes": 10,
//                           "terminate": false}}],
//    "connection_faults": [{"connection": 1, "stall_handshake": true, "stall_for_ms": 0,
//                           "reset_on_accept": false}]}
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <signal.h>
#include <string>
#include <string_view>

#include <simdjson.h>

#include "tests/support/fault_server.h"
#include "tests/support/nginx_upstream.h"
#include "tests/support/test_certificates.h"

namespace cistern::testing {
namespace {

using simdjson::dom::element;
using simdjson::dom::object;

// Reads a script value into a field; returns false (after printing why) on a type error.
template <class T>
bool Read(element value, std::string_view key, T& out) {
  if (value.get(out) != simdjson::SUCCESS) {
    std::cerr << "fault_server: script: \"" << key << "\" has the wrong type\n";
    return false;
  }
  return true;
}

bool ReadUint(element value, std::string_view key, std::optional<uint64_t>& out) {
  uint64_t number = 0;
  if (!Read(value, key, number)) {
    return false;
  }
  out = number;
  return true;
}

bool ReadMs(element value, std::string_view key, std::chrono::milliseconds& out) {
  uint64_t number = 0;
  if (!Read(value, key, number)) {
    return false;
  }
  out = std::chrono::milliseconds(number);
  return true;
}

bool ReadInt(element value, std::string_view key, std::optional<int>& out) {
  int64_t number = 0;
  if (!Read(value, key, number)) {
    return false;
  }
  out = static_cast<int>(number);
  return true;
}

bool ReadBool(element value, std::string_view key, bool& out) { return Read(value, key, out); }

bool ReadString(element value, std::string_view key, std::string& out) {
  std::string_view text;
  if (!Read(value, key, text)) {
    return false;
  }
  out = std::string(text);
  return true;
}

using Setter = std::function<bool(element, std::string_view)>;

// Applies `setters` to every key of `object`; unknown keys are errors.
bool ReadObject(element value, std::string_view what,
                const std::map<std::string, Setter>& setters) {
  object fields;
  if (value.get(fields) != simdjson::SUCCESS) {
    std::cerr << "fault_server: script: " << what << " is not an object\n";
    return false;
  }
  for (auto [key, field] : fields) {
    auto it = setters.find(std::string(key));
    if (it == setters.end()) {
      std::cerr << "fault_server: script: unknown key \"" << key << "\" in " << what << "\n";
      return false;
    }
    if (!it->second(field, key)) {
      return false;
    }
  }
  return true;
}

bool ReadGoAway(element value, GoAway& goaway) {
  return ReadObject(
      value, "goaway",
      {{"last_stream_id",
        [&](element v, std::string_view k) {
          int64_t id = 0;
          bool ok = Read(v, k, id);
          goaway.last_stream_id = static_cast<int32_t>(id);
          return ok;
        }},
       {"error_code",
        [&](element v, std::string_view k) {
          uint64_t code = 0;
          bool ok = Read(v, k, code);
          goaway.error_code = static_cast<H2Error>(code);
          return ok;
        }},
       {"after_bytes",
        [&](element v, std::string_view k) { return ReadUint(v, k, goaway.after_bytes); }},
       {"terminate",
        [&](element v, std::string_view k) { return ReadBool(v, k, goaway.terminate); }}});
}

bool ReadFault(element value, FaultServer& server) {
  Fault fault;
  std::string path;
  bool ok = ReadObject(
      value, "a fault",
      {{"path", [&](element v, std::string_view k) { return ReadString(v, k, path); }},
       {"request", [&](element v, std::string_view k) { return ReadInt(v, k, fault.request); }},
       {"status", [&](element v, std::string_view k) { return ReadInt(v, k, fault.status); }},
       {"status_body",
        [&](element v, std::string_view k) { return ReadString(v, k, fault.status_body); }},
       {"headers",
        [&](element v, std::string_view k) {
          object headers;
          if (!Read(v, k, headers)) {
            return false;
          }
          for (auto [name, header_value] : headers) {
            std::string text;
            if (!ReadString(header_value, name, text)) {
              return false;
            }
            fault.headers.emplace_back(std::string(name), text);
          }
          return true;
        }},
       {"delay_headers_ms",
        [&](element v, std::string_view k) { return ReadMs(v, k, fault.delay_headers); }},
       {"reset_before_response",
        [&](element v, std::string_view k) { return ReadBool(v, k, fault.reset_before_response); }},
       {"ignore_range",
        [&](element v, std::string_view k) { return ReadBool(v, k, fault.ignore_range); }},
       {"etag",
        [&](element v, std::string_view k) {
          std::string text;
          bool read = ReadString(v, k, text);
          fault.etag = text;
          return read;
        }},
       {"last_modified",
        [&](element v, std::string_view k) {
          std::string text;
          bool read = ReadString(v, k, text);
          fault.last_modified = text;
          return read;
        }},
       {"omit_content_length",
        [&](element v, std::string_view k) { return ReadBool(v, k, fault.omit_content_length); }},
       {"reset_after_bytes",
        [&](element v, std::string_view k) { return ReadUint(v, k, fault.reset_after_bytes); }},
       {"reset_at_fraction",
        [&](element v, std::string_view k) {
          double fraction = 0;
          bool read = Read(v, k, fraction);
          fault.reset_at_fraction = fraction;
          return read;
        }},
       {"close_after_bytes",
        [&](element v, std::string_view k) { return ReadUint(v, k, fault.close_after_bytes); }},
       {"stall_after_bytes",
        [&](element v, std::string_view k) { return ReadUint(v, k, fault.stall_after_bytes); }},
       {"stall_for_ms",
        [&](element v, std::string_view k) { return ReadMs(v, k, fault.stall_for); }},
       {"rst_stream_after_bytes",
        [&](element v, std::string_view k) {
          return ReadUint(v, k, fault.rst_stream_after_bytes);
        }},
       {"rst_stream_code",
        [&](element v, std::string_view k) {
          uint64_t code = 0;
          bool read = Read(v, k, code);
          fault.rst_stream_code = static_cast<H2Error>(code);
          return read;
        }},
       {"corrupt_offsets",
        [&](element v, std::string_view k) {
          simdjson::dom::array offsets;
          if (!Read(v, k, offsets)) {
            return false;
          }
          for (element offset : offsets) {
            uint64_t at = 0;
            if (!Read(offset, k, at)) {
              return false;
            }
            fault.corrupt_offsets.push_back(at);
          }
          return true;
        }},
       {"bytes_per_second",
        [&](element v, std::string_view k) { return ReadUint(v, k, fault.bytes_per_second); }},
       {"goaway", [&](element v, std::string_view) {
          fault.goaway.emplace();
          return ReadGoAway(v, *fault.goaway);
        }}});
  if (ok && path.empty()) {
    std::cerr << "fault_server: script: a fault without \"path\"\n";
    return false;
  }
  if (ok) {
    server.AddFault(path, std::move(fault));
  }
  return ok;
}

bool ReadConnectionFault(element value, FaultServer& server) {
  ConnectionFault fault;
  bool ok = ReadObject(
      value, "a connection fault",
      {{"connection",
        [&](element v, std::string_view k) { return ReadInt(v, k, fault.connection); }},
       {"stall_handshake",
        [&](element v, std::string_view k) { return ReadBool(v, k, fault.stall_handshake); }},
       {"stall_for_ms",
        [&](element v, std::string_view k) { return ReadMs(v, k, fault.stall_for); }},
       {"reset_on_accept",
        [&](element v, std::string_view k) { return ReadBool(v, k, fault.reset_on_accept); }}});
  if (ok) {
    server.AddConnectionFault(fault);
  }
  return ok;
}

bool ReadResource(std::string_view path, element value, FaultServer& server) {
  Resource resource;
  std::string file;
  bool ok = ReadObject(
      value, "a resource",
      {{"body", [&](element v, std::string_view k) { return ReadString(v, k, resource.body); }},
       {"file", [&](element v, std::string_view k) { return ReadString(v, k, file); }},
       {"etag", [&](element v, std::string_view k) { return ReadString(v, k, resource.etag); }},
       {"last_modified",
        [&](element v, std::string_view k) { return ReadString(v, k, resource.last_modified); }},
       {"content_type",
        [&](element v, std::string_view k) { return ReadString(v, k, resource.content_type); }}});
  if (ok && !file.empty()) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      std::cerr << "fault_server: script: cannot read " << file << "\n";
      return false;
    }
    resource.body = ReadFile(file);
  }
  if (ok) {
    server.SetResource(std::string(path), std::move(resource));
  }
  return ok;
}

bool LoadScript(const std::string& path, FaultServer& server) {
  simdjson::dom::parser parser;
  element doc;
  if (auto error = parser.load(path).get(doc); error != simdjson::SUCCESS) {
    std::cerr << "fault_server: " << path << ": " << simdjson::error_message(error) << "\n";
    return false;
  }
  return ReadObject(doc, "the script",
                    {{"resources",
                      [&](element v, std::string_view k) {
                        object resources;
                        if (!Read(v, k, resources)) {
                          return false;
                        }
                        for (auto [resource_path, resource] : resources) {
                          if (!ReadResource(resource_path, resource, server)) {
                            return false;
                          }
                        }
                        return true;
                      }},
                     {"faults",
                      [&](element v, std::string_view k) {
                        simdjson::dom::array faults;
                        if (!Read(v, k, faults)) {
                          return false;
                        }
                        for (element fault : faults) {
                          if (!ReadFault(fault, server)) {
                            return false;
                          }
                        }
                        return true;
                      }},
                     {"connection_faults", [&](element v, std::string_view k) {
                        simdjson::dom::array faults;
                        if (!Read(v, k, faults)) {
                          return false;
                        }
                        for (element fault : faults) {
                          if (!ReadConnectionFault(fault, server)) {
                            return false;
                          }
                        }
                        return true;
                      }}});
}

std::string Json(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof(escaped), "\\u%04x", byte);
      out += escaped;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string RecordJson(const RequestRecord& record) {
  auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(record.time.time_since_epoch());
  std::string headers = "{";
  for (const auto& [name, value] : record.headers) {
    headers += (headers.size() > 1 ? "," : "") + Json(name) + ":" + Json(value);
  }
  headers += "}";
  return "{\"time_ms\":" + std::to_string(millis.count()) +
         ",\"protocol\":" + Json(record.protocol) +
         ",\"connection\":" + std::to_string(record.connection_id) +
         ",\"stream\":" + std::to_string(record.stream_id) + ",\"method\":" + Json(record.method) +
         ",\"target\":" + Json(record.target) + ",\"headers\":" + headers +
         ",\"fault\":" + (record.fault_applied ? "true" : "false") +
         ",\"status\":" + std::to_string(record.status) +
         ",\"content_length\":" + std::to_string(record.content_length) +
         ",\"body_bytes_sent\":" + std::to_string(record.body_bytes_sent) +
         ",\"outcome\":" + Json(record.outcome) + "}";
}

std::optional<uint64_t> ParseUint(std::string_view text) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    return std::nullopt;
  }
  return value;
}

int Usage(std::string_view problem) {
  std::cerr << "fault_server: " << problem
            << "\nusage: fault_server [--root DIR] [--port N] [--tls-cert PEM --tls-key PEM | "
               "--make-certs DIR] [--alpn h2,http/1.1|h2|http/1.1] [--max-concurrent-streams N] "
               "[--script FAULTS.json] [--log REQUESTS.jsonl]\n";
  return 2;
}

int Main(int argc, char** argv) {
  FaultServerOptions options;
  std::string script;
  std::string log;
  std::string make_certs;
  for (int i = 1; i < argc; ++i) {
    std::string_view flag = argv[i];
    if (i + 1 >= argc) {
      return Usage(std::string("missing value for ") + std::string(flag));
    }
    std::string value = argv[++i];
    if (flag == "--root") {
      options.root = value;
    } else if (flag == "--port") {
      std::optional<uint64_t> port = ParseUint(value);
      if (!port || *port > 65535) {
        return Usage("--port takes a number up to 65535");
      }
      options.port = static_cast<uint16_t>(*port);
    } else if (flag == "--tls-cert") {
      options.tls_cert_file = value;
    } else if (flag == "--tls-key") {
      options.tls_key_file = value;
    } else if (flag == "--make-certs") {
      make_certs = value;
    } else if (flag == "--alpn") {
      if (value == "h2") {
        options.alpn = FaultServerOptions::Alpn::kH2Only;
      } else if (value == "http/1.1") {
        options.alpn = FaultServerOptions::Alpn::kHttp11Only;
      } else if (value != "h2,http/1.1") {
        return Usage("--alpn takes h2,http/1.1 or h2 or http/1.1");
      }
    } else if (flag == "--max-concurrent-streams") {
      std::optional<uint64_t> streams = ParseUint(value);
      if (!streams || *streams > UINT32_MAX) {
        return Usage("--max-concurrent-streams takes a number");
      }
      options.max_concurrent_streams = static_cast<uint32_t>(*streams);
    } else if (flag == "--script") {
      script = value;
    } else if (flag == "--log") {
      log = value;
    } else {
      return Usage("unknown option " + std::string(flag));
    }
  }
  std::string ca_file;
  if (!make_certs.empty()) {
    auto certificates = MakeTestCertificates(make_certs);
    if (!certificates) {
      std::cerr << "fault_server: " << certificates.error() << "\n";
      return 1;
    }
    options.tls_cert_file = certificates->cert_file;
    options.tls_key_file = certificates->key_file;
    ca_file = certificates->ca_file;
  }

  // Signals are taken with sigwait: block them before the server thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto server = FaultServer::Start(options);
  if (!server) {
    std::cerr << "fault_server: " << server.error() << "\n";
    return 1;
  }
  if (!script.empty() && !LoadScript(script, **server)) {
    return 2;
  }
  std::cout << "{\"port\":" << (*server)->port() << ",\"url\":" << Json((*server)->url(""))
            << ",\"ca_file\":" << Json(ca_file) << "}" << std::endl;

  int received = 0;
  sigwait(&signals, &received);
  (*server)->Stop();
  if (!log.empty()) {
    std::ofstream out(log);
    for (const RequestRecord& record : (*server)->Requests()) {
      out << RecordJson(record) << "\n";
    }
  }
  return 0;
}

}  // namespace
}  // namespace cistern::testing

int main(int argc, char** argv) { return cistern::testing::Main(argc, argv); }
