#pragma once

// cistern.toml: the only parser of the configuration file. Every key is declared once in a table
// (name, type, unit, default, range, help); the sample `config/cistern.toml` documents the same
// keys and a test keeps the two identical. Unknown keys and out-of-range values are errors that
// name the file, line and column.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cistern::cli {

// Every setting the file can hold, with its default.
struct Config {
  // [mirror]
  std::string mirror;                     // mirror directory; empty: must be given
  std::string upstream = "https://pypi.org";
  std::string upstream_format = "json";   // json | auto | html
  bool allow_http = false;                // permit a plain http:// upstream
  bool fsync = true;
  bool direct_io = true;                  // package files written with O_DIRECT where possible
  // [sync]
  int64_t jobs = 8;
  int64_t downloads_per_project = 4;
  int64_t page_attempts = 3;
  int64_t page_backoff_ms = 1000;
  int64_t file_attempts = 3;
  int64_t file_backoff_ms = 500;
  int64_t max_backoff_ms = 30'000;
  int64_t max_retry_after_s = 300;
  int64_t retry_budget = 1000;
  int64_t resume_min_bytes = int64_t{1} << 20;
  int64_t partial_max_age_hours = 168;
  bool exclude_yanked = false;
  int64_t max_delete_count = 1000;
  int64_t max_delete_percent = 5;
  // [network]
  std::vector<std::string> ca_files;      // extra trust anchors (PEM); system store stays on
  int64_t max_connections_per_origin = 4;
  bool http2 = true;
  int64_t max_streams_per_connection = 100;
  int64_t connect_timeout_ms = 10'000;
  int64_t tls_handshake_timeout_ms = 10'000;
  int64_t idle_timeout_ms = 30'000;
  int64_t request_timeout_ms = 600'000;
  std::string user_agent;                 // empty: "cistern/<version>"
  std::string proxy;                      // "": the environment; "none": never; else a URL
  std::vector<std::string> no_proxy;      // hosts reached directly; empty: NO_PROXY
  int64_t max_rate = 0;                   // bytes/s read over all connections; 0: unlimited
  // [log]
  std::string log_format = "text";        // text | json
  std::string log_level = "info";         // error | warn | info | debug | trace
};

// One key of the table, for `--help`-style listings and the sample/table consistency test.
struct ConfigKey {
  std::string_view name;           // "section.key"
  std::string_view type;           // "string", "integer", "boolean", "string array"
  std::string_view default_value;  // as written in TOML
  std::string_view help;
};

const std::vector<ConfigKey>& ConfigKeys();

// Parses TOML text `text` read from `source` (a path, for messages) over the defaults.
// Returns the config, or an error message "FILE:LINE:COL: ..." naming the key.
struct ConfigResult {
  std::optional<Config> config;
  std::string error;
};
ConfigResult ParseConfig(std::string_view text, std::string_view source);

// Loads `path`. A missing file is an error naming it.
ConfigResult LoadConfigFile(const std::string& path);

// The file to use when --config is not given: ./cistern.toml, then /etc/cistern/cistern.toml;
// nullopt when neither exists.
std::optional<std::string> DefaultConfigPath();

}  // namespace cistern::cli
