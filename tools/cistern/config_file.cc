#include "tools/cistern/config_file.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <variant>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "engine/index_reader.h"
#include "net/proxy.h"

namespace cistern::cli {
namespace {

struct IntRange {
  int64_t min;
  int64_t max;
};

using Target =
    std::variant<std::string Config::*, bool Config::*, std::pair<int64_t Config::*, IntRange>,
                 std::vector<std::string> Config::*>;

struct KeyDef {
  ConfigKey key;
  Target target;
};

// The one table of keys. Keep config/cistern.toml in step (a test compares them).
const std::vector<KeyDef>& KeyDefs() {
  static const std::vector<KeyDef> defs = {
      {{"mirror.path", "string", "\"\"",
        "The mirror directory: web/ is served, state/ and incoming/ are not."},
       &Config::mirror},
      {{"mirror.upstream", "string", "\"https://pypi.org\"",
        "The upstream index; a bare origin gets /simple/ appended."},
       &Config::upstream},
      {{"mirror.upstream_format", "string", "\"json\"",
        "What the upstream may answer: \"json\" (PEP 691 only), \"auto\" (PEP 691, else PEP 503 "
        "HTML), \"html\" (ask for HTML)."},
       &Config::upstream_format},
      {{"mirror.allow_http", "boolean", "false",
        "Allow a plain http:// upstream (no TLS: only on trusted networks)."},
       &Config::allow_http},
      {{"mirror.fsync", "boolean", "true",
        "fsync files and directories as they are published (crash and power-loss safety)."},
       &Config::fsync},
      {{"mirror.direct_io", "boolean", "true",
        "Write package files with O_DIRECT where the filesystem allows it (less CPU; the page "
        "cache keeps what the web server reads)."},
       &Config::direct_io},
      {{"sync.jobs", "integer", "8", "Projects synced at once (1-256)."},
       std::pair{&Config::jobs, IntRange{1, 256}}},
      {{"sync.downloads_per_project", "integer", "4",
        "Files of one project fetched at once (1-64)."},
       std::pair{&Config::downloads_per_project, IntRange{1, 64}}},
      {{"sync.page_attempts", "integer", "3",
        "Attempts for a stale or failing project page (or the index) before giving up (1-10)."},
       std::pair{&Config::page_attempts, IntRange{1, 10}}},
      {{"sync.page_backoff_ms", "integer", "1000",
        "Base of the exponential backoff with full jitter between page attempts (0-60000 ms)."},
       std::pair{&Config::page_backoff_ms, IntRange{0, 60'000}}},
      {{"sync.file_attempts", "integer", "3",
        "Attempts per file for resets, timeouts, 408, 429, 500, 502, 503, 504 (1-10)."},
       std::pair{&Config::file_attempts, IntRange{1, 10}}},
      {{"sync.file_backoff_ms", "integer", "500",
        "Base of the exponential backoff with full jitter between file attempts (0-60000 ms)."},
       std::pair{&Config::file_backoff_ms, IntRange{0, 60'000}}},
      {{"sync.max_backoff_ms", "integer", "30000",
        "Longest backoff between file attempts (0-600000 ms)."},
       std::pair{&Config::max_backoff_ms, IntRange{0, 600'000}}},
      {{"sync.max_retry_after_s", "integer", "300",
        "Longest Retry-After (429, 503) waited out; a longer one defers the project (0-3600 s)."},
       std::pair{&Config::max_retry_after_s, IntRange{0, 3600}}},
      {{"sync.retry_budget", "integer", "1000",
        "Retries of transient failures per run, over all files and pages (0-1000000)."},
       std::pair{&Config::retry_budget, IntRange{0, 1'000'000}}},
      {{"sync.resume_min_bytes", "integer", "1048576",
        "Files at least this large download into resumable partials (0-1099511627776)."},
       std::pair{&Config::resume_min_bytes, IntRange{0, int64_t{1} << 40}}},
      {{"sync.partial_max_age_hours", "integer", "168",
        "Resumable partials untouched this long are deleted at the start of a run (1-87600 h)."},
       std::pair{&Config::partial_max_age_hours, IntRange{1, 87'600}}},
      {{"sync.exclude_yanked", "boolean", "false",
        "Leave yanked files out instead of serving them with the PEP 592 marker."},
       &Config::exclude_yanked},
      {{"sync.max_delete_count", "integer", "1000",
        "Most projects one run may delete before it refuses (0-10000000)."},
       std::pair{&Config::max_delete_count, IntRange{0, 10'000'000}}},
      {{"sync.max_delete_percent", "integer", "5",
        "Most projects one run may delete, in percent of the mirror, beyond 10 (0-100)."},
       std::pair{&Config::max_delete_percent, IntRange{0, 100}}},
      {{"network.ca_files", "string array", "[]",
        "Extra trust anchors (PEM files); the system trust store stays on."},
       &Config::ca_files},
      {{"network.max_connections_per_origin", "integer", "4", "Connections per host (1-64)."},
       std::pair{&Config::max_connections_per_origin, IntRange{1, 64}}},
      {{"network.http2", "boolean", "true",
        "Offer HTTP/2 to https:// upstreams (many requests over one connection)."},
       &Config::http2},
      {{"network.max_streams_per_connection", "integer", "100",
        "Requests in flight at once on one HTTP/2 connection (1-1000)."},
       std::pair{&Config::max_streams_per_connection, IntRange{1, 1000}}},
      {{"network.connect_timeout_ms", "integer", "10000", "TCP connect limit (100-600000 ms)."},
       std::pair{&Config::connect_timeout_ms, IntRange{100, 600'000}}},
      {{"network.tls_handshake_timeout_ms", "integer", "10000",
        "TLS handshake limit (100-600000 ms)."},
       std::pair{&Config::tls_handshake_timeout_ms, IntRange{100, 600'000}}},
      {{"network.idle_timeout_ms", "integer", "30000",
        "A connection that moves no byte for this long is closed (100-3600000 ms)."},
       std::pair{&Config::idle_timeout_ms, IntRange{100, 3'600'000}}},
      {{"network.request_timeout_ms", "integer", "600000",
        "Limit for one whole request, body included (1000-86400000 ms)."},
       std::pair{&Config::request_timeout_ms, IntRange{1000, 86'400'000}}},
      {{"network.user_agent", "string", "\"\"",
        "User-Agent sent upstream; empty means \"cistern/<version>\"."},
       &Config::user_agent},
      {{"network.proxy", "string", "\"\"",
        "HTTP proxy for every upstream connection (CONNECT tunnels): \"http://[user:password@]"
        "host:port\"; \"\" follows https_proxy/http_proxy; \"none\" never uses one."},
       &Config::proxy},
      {{"network.no_proxy", "string array", "[]",
        "Hosts reached without the proxy (names with their subdomains, addresses, blocks, "
        "\"*\", \":port\"); [] follows no_proxy/NO_PROXY."},
       &Config::no_proxy},
      {{"network.max_rate", "integer", "0",
        "Bandwidth cap in bytes per second over all connections; 0 is unlimited "
        "(0-1000000000000)."},
       std::pair{&Config::max_rate, IntRange{0, 1'000'000'000'000}}},
      {{"log.format", "string", "\"text\"", "Log line format: text or json."}, &Config::log_format},
      {{"log.level", "string", "\"info\"", "error, warn, info, debug or trace."},
       &Config::log_level},
  };
  return defs;
}

std::string Where(std::string_view source, const toml::source_region& region) {
  return fmt::format("{}:{}:{}", source, region.begin.line, region.begin.column);
}

// Applies `node` to `config` through `target`; returns an error message or "".
std::string Apply(const toml::node& node, const Target& target, Config& config,
                  std::string_view name) {
  if (auto member = std::get_if<std::string Config::*>(&target)) {
    auto value = node.value<std::string>();
    if (!value || !node.is_string()) {
      return fmt::format("{} must be a string", name);
    }
    config.** member = *value;
  } else if (auto flag = std::get_if<bool Config::*>(&target)) {
    if (!node.is_boolean()) {
      return fmt::format("{} must be true or false", name);
    }
    config.** flag = *node.value<bool>();
  } else if (auto ranged = std::get_if<std::pair<int64_t Config::*, IntRange>>(&target)) {
    if (!node.is_integer()) {
      return fmt::format("{} must be an integer", name);
    }
    const int64_t value = *node.value<int64_t>();
    if (value < ranged->second.min || value > ranged->second.max) {
      return fmt::format("{} = {} is out of range ({}-{})", name, value, ranged->second.min,
                         ranged->second.max);
    }
    config.*(ranged->first) = value;
  } else if (auto list = std::get_if<std::vector<std::string> Config::*>(&target)) {
    const toml::array* array = node.as_array();
    if (array == nullptr) {
      return fmt::format("{} must be an array of strings", name);
    }
    std::vector<std::string> values;
    for (const toml::node& element : *array) {
      if (!element.is_string()) {
        return fmt::format("{} must be an array of strings", name);
      }
      values.push_back(*element.value<std::string>());
    }
    config.** list = std::move(values);
  }
  return {};
}

// Checks the keys whose strings come from a fixed set, after `name` was applied; returns an error
// message or "".
std::string CheckValue(std::string_view name, const Config& config) {
  if (name == "log.format" && config.log_format != "text" && config.log_format != "json") {
    return fmt::format("log.format = \"{}\" must be \"text\" or \"json\"", config.log_format);
  }
  if (name == "mirror.upstream_format") {
    if (auto format = engine::ParseUpstreamFormat(config.upstream_format); !format) {
      return fmt::format("mirror.upstream_format = \"{}\" must be \"json\", \"auto\" or \"html\"",
                         config.upstream_format);
    }
  }
  if (name == "network.proxy" && !config.proxy.empty() && config.proxy != "none") {
    auto proxy = net::ProxyEndpoint::Parse(config.proxy);
    if (!proxy) {
      // The message never shows the password.
      return fmt::format("network.proxy: {}", proxy.error().message());
    }
  }
  if (name == "log.level") {
    static constexpr std::string_view kLevels[] = {"error", "warn", "info", "debug", "trace"};
    if (std::find(std::begin(kLevels), std::end(kLevels), config.log_level) == std::end(kLevels)) {
      return fmt::format("log.level = \"{}\" must be one of error, warn, info, debug, trace",
                         config.log_level);
    }
  }
  return {};
}

bool IsSection(std::string_view section) {
  const auto& defs = KeyDefs();
  return std::any_of(defs.begin(), defs.end(), [section](const KeyDef& d) {
    return d.key.name.size() > section.size() && d.key.name.starts_with(section) &&
           d.key.name[section.size()] == '.';
  });
}

}  // namespace

const std::vector<ConfigKey>& ConfigKeys() {
  static const std::vector<ConfigKey> keys = [] {
    std::vector<ConfigKey> out;
    for (const KeyDef& def : KeyDefs()) {
      out.push_back(def.key);
    }
    return out;
  }();
  return keys;
}

ConfigResult ParseConfig(std::string_view text, std::string_view source) {
  toml::parse_result parsed = toml::parse(text, source);
  if (!parsed) {
    const toml::parse_error& error = parsed.error();
    return {std::nullopt,
            fmt::format("{}: {}", Where(source, error.source()), error.description())};
  }
  Config config;
  for (auto&& [section, section_node] : parsed.table()) {
    const toml::table* table = section_node.as_table();
    if (table == nullptr) {
      return {std::nullopt,
              fmt::format("{}: unknown key \"{}\" (settings live in sections such as [mirror])",
                          Where(source, section.source()), section.str())};
    }
    if (!IsSection(section.str())) {
      return {std::nullopt,
              fmt::format("{}: unknown section [{}] (the sections are [mirror], [sync], [network] "
                          "and [log])",
                          Where(source, section.source()), section.str())};
    }
    for (auto&& [key, node] : *table) {
      const std::string name = fmt::format("{}.{}", section.str(), key.str());
      const auto& defs = KeyDefs();
      auto def = std::find_if(defs.begin(), defs.end(),
                              [&name](const KeyDef& d) { return d.key.name == name; });
      if (def == defs.end()) {
        return {std::nullopt, fmt::format("{}: unknown key \"{}\" (see config/cistern.toml for "
                                          "every key)",
                                          Where(source, key.source()), name)};
      }
      if (std::string error = Apply(node, def->target, config, name); !error.empty()) {
        return {std::nullopt, fmt::format("{}: {}", Where(source, node.source()), error)};
      }
      if (std::string error = CheckValue(name, config); !error.empty()) {
        return {std::nullopt, fmt::format("{}: {}", Where(source, node.source()), error)};
      }
    }
  }
  return {std::move(config), {}};
}

ConfigResult LoadConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return {std::nullopt, fmt::format("cannot read config file {}", path)};
  }
  std::ostringstream text;
  text << in.rdbuf();
  return ParseConfig(text.str(), path);
}

std::optional<std::string> DefaultConfigPath() {
  for (const char* candidate : {"cistern.toml", "/etc/cistern/cistern.toml"}) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(candidate, ec)) {
      return std::string(candidate);
    }
  }
  return std::nullopt;
}

}  // namespace cistern::cli
