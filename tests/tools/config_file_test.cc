#include "tools/cistern/config_file.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/nginx_upstream.h"

namespace cistern::cli {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string SamplePath() { return testing::SourceDir() + "/config/cistern.toml"; }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string Trim(std::string_view text) {
  const size_t begin = text.find_first_not_of(" \t\r");
  if (begin == std::string_view::npos) {
    return {};
  }
  const size_t end = text.find_last_not_of(" \t\r");
  return std::string(text.substr(begin, end - begin + 1));
}

// The sample's settings by a plain line scan, independent of the loader: "section.key" -> the
// value's text as written. Fails the test on a line it does not understand (a multi-line
// value, a key outside a section, a repeated key).
std::map<std::string, std::string> ScanSample(const std::string& text) {
  std::map<std::string, std::string> values;
  std::string section;
  std::istringstream lines(text);
  std::string line;
  int number = 0;
  while (std::getline(lines, line)) {
    ++number;
    const std::string trimmed = Trim(line);
    if (trimmed.empty() || trimmed.starts_with('#')) {
      continue;
    }
    if (trimmed.starts_with('[')) {
      EXPECT_TRUE(trimmed.ends_with(']')) << "line " << number << ": " << line;
      section = trimmed.substr(1, trimmed.size() - 2);
      continue;
    }
    const size_t equals = trimmed.find(" = ");
    if (equals == std::string::npos || section.empty()) {
      ADD_FAILURE() << "line " << number << " is not `key = value` in a section: " << line;
      continue;
    }
    const std::string name = section + "." + trimmed.substr(0, equals);
    const bool inserted = values.emplace(name, trimmed.substr(equals + 3)).second;
    EXPECT_TRUE(inserted) << "line " << number << " repeats " << name;
  }
  return values;
}

std::string ParseError(std::string_view text) {
  ConfigResult result = ParseConfig(text, "test.toml");
  EXPECT_FALSE(result.config.has_value()) << "accepted:\n" << text;
  return result.error;
}

TEST(ConfigFileTest, SampleLoadsWithTheRealLoaderAndEqualsTheDefaults) {
  ConfigResult loaded = LoadConfigFile(SamplePath());
  ASSERT_TRUE(loaded.config.has_value()) << loaded.error;
  EXPECT_EQ(loaded.error, "");
  const Config& sample = *loaded.config;
  const Config defaults;
  EXPECT_EQ(sample.mirror, defaults.mirror);
  EXPECT_EQ(sample.upstream, defaults.upstream);
  EXPECT_EQ(sample.allow_http, defaults.allow_http);
  EXPECT_EQ(sample.fsync, defaults.fsync);
  EXPECT_EQ(sample.direct_io, defaults.direct_io);
  EXPECT_EQ(sample.jobs, defaults.jobs);
  EXPECT_EQ(sample.downloads_per_project, defaults.downloads_per_project);
  EXPECT_EQ(sample.page_attempts, defaults.page_attempts);
  EXPECT_EQ(sample.page_backoff_ms, defaults.page_backoff_ms);
  EXPECT_EQ(sample.file_attempts, defaults.file_attempts);
  EXPECT_EQ(sample.exclude_yanked, defaults.exclude_yanked);
  EXPECT_EQ(sample.ca_files, defaults.ca_files);
  EXPECT_EQ(sample.max_connections_per_origin, defaults.max_connections_per_origin);
  EXPECT_EQ(sample.connect_timeout_ms, defaults.connect_timeout_ms);
  EXPECT_EQ(sample.tls_handshake_timeout_ms, defaults.tls_handshake_timeout_ms);
  EXPECT_EQ(sample.idle_timeout_ms, defaults.idle_timeout_ms);
  EXPECT_EQ(sample.request_timeout_ms, defaults.request_timeout_ms);
  EXPECT_EQ(sample.user_agent, defaults.user_agent);
  EXPECT_EQ(sample.proxy, defaults.proxy);
  EXPECT_EQ(sample.no_proxy, defaults.no_proxy);
  EXPECT_EQ(sample.max_rate, defaults.max_rate);
  EXPECT_EQ(sample.log_format, defaults.log_format);
  EXPECT_EQ(sample.log_level, defaults.log_level);
}

TEST(ConfigFileTest, SampleListsExactlyTheKeysOfTheTable) {
  const std::map<std::string, std::string> sample = ScanSample(ReadFile(SamplePath()));
  ASSERT_FALSE(sample.empty()) << "cannot read " << SamplePath();
  std::set<std::string> table;
  for (const ConfigKey& key : ConfigKeys()) {
    EXPECT_TRUE(table.emplace(key.name).second) << "the table repeats " << key.name;
  }
  for (const auto& [name, value] : sample) {
    EXPECT_TRUE(table.contains(name)) << "config/cistern.toml sets " << name
                                      << ", which tools/cistern/config_file.cc does not know";
  }
  for (const std::string& name : table) {
    EXPECT_TRUE(sample.contains(name))
        << "config/cistern.toml does not document " << name << " (set it to its default)";
  }
}

TEST(ConfigFileTest, SampleValuesAreWrittenAsTheTableDefaults) {
  const std::map<std::string, std::string> sample = ScanSample(ReadFile(SamplePath()));
  for (const ConfigKey& key : ConfigKeys()) {
    auto it = sample.find(std::string(key.name));
    if (it == sample.end()) {
      continue;  // reported by SampleListsExactlyTheKeysOfTheTable
    }
    EXPECT_EQ(it->second, key.default_value) << key.name;
  }
}

TEST(ConfigFileTest, TableDefaultsParseToConfigDefaults) {
  // Writing every table default back as TOML must load: the default texts are valid values.
  std::map<std::string, std::vector<std::string>> sections;
  for (const ConfigKey& key : ConfigKeys()) {
    const size_t dot = key.name.find('.');
    ASSERT_NE(dot, std::string_view::npos) << key.name;
    sections[std::string(key.name.substr(0, dot))].push_back(
        std::string(key.name.substr(dot + 1)) + " = " + std::string(key.default_value));
  }
  std::string text;
  for (const auto& [section, lines] : sections) {
    text += "[" + section + "]\n";
    for (const std::string& line : lines) {
      text += line + "\n";
    }
  }
  ConfigResult result = ParseConfig(text, "defaults.toml");
  ASSERT_TRUE(result.config.has_value()) << result.error << "\n" << text;
  EXPECT_EQ(result.config->jobs, Config{}.jobs);
  EXPECT_EQ(result.config->upstream, Config{}.upstream);
}

TEST(ConfigFileTest, EmptyTextGivesTheDefaults) {
  ConfigResult result = ParseConfig("", "empty.toml");
  ASSERT_TRUE(result.config.has_value()) << result.error;
  EXPECT_EQ(result.config->mirror, "");
  EXPECT_EQ(result.config->jobs, 8);
  EXPECT_EQ(result.config->log_level, "info");
}

TEST(ConfigFileTest, ValuesInTheFileOverrideTheDefaults) {
  ConfigResult result = ParseConfig(
      "[mirror]\npath = \"/srv/pypi\"\nallow_http = true\n"
      "[sync]\njobs = 16\n"
      "[network]\nca_files = [\"/a.pem\", \"/b.pem\"]\nidle_timeout_ms = 5_000\n"
      "[log]\nformat = \"json\"\nlevel = \"debug\"\n",
      "set.toml");
  ASSERT_TRUE(result.config.has_value()) << result.error;
  EXPECT_EQ(result.config->mirror, "/srv/pypi");
  EXPECT_TRUE(result.config->allow_http);
  EXPECT_EQ(result.config->jobs, 16);
  EXPECT_EQ(result.config->ca_files, (std::vector<std::string>{"/a.pem", "/b.pem"}));
  EXPECT_EQ(result.config->idle_timeout_ms, 5000);
  EXPECT_EQ(result.config->log_format, "json");
  EXPECT_EQ(result.config->log_level, "debug");
  EXPECT_EQ(result.config->fsync, true);  // untouched keys keep their defaults
}

TEST(ConfigFileTest, UnknownKeyIsAnErrorNamingFileLineColumnAndKey) {
  EXPECT_EQ(ParseError("[sync]\njobs = 4\n  jobz = 3\n"),
            "test.toml:3:3: unknown key \"sync.jobz\" (see config/cistern.toml for every key)");
}

TEST(ConfigFileTest, UnknownSectionIsAnErrorEvenWhenEmpty) {
  EXPECT_THAT(ParseError("[mirror]\n[mirorr]\n"),
              AllOf(StartsWith("test.toml:2:"), HasSubstr("unknown section [mirorr]")));
}

TEST(ConfigFileTest, KeyOfOneSectionInAnotherIsUnknown) {
  EXPECT_THAT(ParseError("[network]\njobs = 4\n"),
              AllOf(StartsWith("test.toml:2:1: "), HasSubstr("\"network.jobs\"")));
}

TEST(ConfigFileTest, TopLevelKeyOutsideASectionIsAnError) {
  EXPECT_THAT(ParseError("jobs = 4\n[sync]\n"),
              AllOf(StartsWith("test.toml:1:1: "), HasSubstr("unknown key \"jobs\""),
                    HasSubstr("sections")));
}

TEST(ConfigFileTest, StringWhereAnIntegerBelongsIsAnErrorNamingTheKey) {
  EXPECT_EQ(ParseError("[sync]\njobs = \"8\"\n"), "test.toml:2:8: sync.jobs must be an integer");
}

TEST(ConfigFileTest, FloatWhereAnIntegerBelongsIsAnError) {
  EXPECT_EQ(ParseError("[network]\nidle_timeout_ms = 1.5\n"),
            "test.toml:2:19: network.idle_timeout_ms must be an integer");
}

TEST(ConfigFileTest, WrongTypesForBooleansStringsAndArraysAreErrors) {
  EXPECT_EQ(ParseError("[mirror]\nfsync = \"yes\"\n"),
            "test.toml:2:9: mirror.fsync must be true or false");
  EXPECT_EQ(ParseError("[mirror]\npath = 1\n"), "test.toml:2:8: mirror.path must be a string");
  EXPECT_EQ(ParseError("[network]\nca_files = \"/a.pem\"\n"),
            "test.toml:2:12: network.ca_files must be an array of strings");
  EXPECT_EQ(ParseError("[network]\nca_files = [\"/a.pem\", 2]\n"),
            "test.toml:2:12: network.ca_files must be an array of strings");
}

TEST(ConfigFileTest, IntegerBelowItsRangeIsAnErrorNamingTheRange) {
  EXPECT_EQ(ParseError("[sync]\njobs = 0\n"),
            "test.toml:2:8: sync.jobs = 0 is out of range (1-256)");
}

TEST(ConfigFileTest, IntegerAboveItsRangeIsAnErrorNamingTheRange) {
  EXPECT_EQ(ParseError("[sync]\njobs = 1000\n"),
            "test.toml:2:8: sync.jobs = 1000 is out of range (1-256)");
}

TEST(ConfigFileTest, RangeBoundsAreAccepted) {
  for (const char* text :
       {"[sync]\njobs = 1\n", "[sync]\njobs = 256\n", "[sync]\npage_backoff_ms = 0\n"}) {
    ConfigResult result = ParseConfig(text, "test.toml");
    EXPECT_TRUE(result.config.has_value()) << text << ": " << result.error;
  }
}

TEST(ConfigFileTest, UnknownLogFormatIsAnErrorNamingTheChoices) {
  EXPECT_EQ(ParseError("[log]\nformat = \"xml\"\n"),
            "test.toml:2:10: log.format = \"xml\" must be \"text\" or \"json\"");
}

TEST(ConfigFileTest, UpstreamFormatIsReadAndAnUnknownOneNamesTheChoices) {
  EXPECT_EQ(ParseError("[mirror]\nupstream_format = \"xml\"\n"),
            "test.toml:2:19: mirror.upstream_format = \"xml\" must be \"json\", \"auto\" or "
            "\"html\"");
  for (const char* format : {"json", "auto", "html"}) {
    ConfigResult result =
        ParseConfig(std::string("[mirror]\nupstream_format = \"") + format + "\"\n", "test.toml");
    ASSERT_TRUE(result.config.has_value()) << format;
    EXPECT_EQ(result.config->upstream_format, format);
  }
}

TEST(ConfigFileTest, UnknownLogLevelIsAnErrorNamingTheChoices) {
  EXPECT_EQ(ParseError("[log]\nlevel = \"loud\"\n"),
            "test.toml:2:9: log.level = \"loud\" must be one of error, warn, info, debug, trace");
}

TEST(ConfigFileTest, ProxySettingsAndMaxRateAreRead) {
  ConfigResult result = ParseConfig(
      "[network]\nproxy = \"http://user:pw@proxy.example:3128\"\n"
      "no_proxy = [\"localhost\", \".internal\"]\nmax_rate = 10_485_760\n",
      "set.toml");
  ASSERT_TRUE(result.config.has_value()) << result.error;
  EXPECT_EQ(result.config->proxy, "http://user:pw@proxy.example:3128");
  EXPECT_EQ(result.config->no_proxy, (std::vector<std::string>{"localhost", ".internal"}));
  EXPECT_EQ(result.config->max_rate, 10'485'760);
  for (const char* text : {"[network]\nproxy = \"none\"\n", "[network]\nproxy = \"\"\n",
                           "[network]\nproxy = \"10.0.0.1:8080\"\n"}) {
    EXPECT_TRUE(ParseConfig(text, "test.toml").config.has_value()) << text;
  }
}

TEST(ConfigFileTest, AnUnusableProxyUrlIsAnErrorThatHidesThePassword) {
  const std::string error =
      ParseError("[network]\nproxy = \"https://user:s3cret@proxy.example:3128\"\n");
  EXPECT_THAT(error, AllOf(StartsWith("test.toml:2:9: network.proxy: proxy https://***@"),
                           HasSubstr("only http:// proxies are supported")));
  EXPECT_THAT(error, ::testing::Not(HasSubstr("s3cret")));
  EXPECT_THAT(ParseError("[network]\nproxy = \"http://proxy.example:99999\"\n"),
              HasSubstr("invalid port"));
}

TEST(ConfigFileTest, NegativeMaxRateIsOutOfRange) {
  EXPECT_EQ(ParseError("[network]\nmax_rate = -1\n"),
            "test.toml:2:12: network.max_rate = -1 is out of range (0-1000000000000)");
}

TEST(ConfigFileTest, MalformedTomlIsAnErrorWithLineAndColumn) {
  EXPECT_THAT(ParseError("[sync]\njobs = 4\n[network\n"), StartsWith("test.toml:3:9: "));
  EXPECT_THAT(ParseError("[sync]\njobs = = 4\n"), StartsWith("test.toml:2:8: "));
}

TEST(ConfigFileTest, RepeatedKeyIsAnError) {
  EXPECT_THAT(ParseError("[sync]\njobs = 4\njobs = 5\n"), StartsWith("test.toml:3:"));
}

TEST(ConfigFileTest, MissingFileIsAnErrorNamingIt) {
  testing::TempDir dir;
  const std::string path = (dir.path() / "absent.toml").string();
  ConfigResult result = LoadConfigFile(path);
  EXPECT_FALSE(result.config.has_value());
  EXPECT_EQ(result.error, "cannot read config file " + path);
}

TEST(ConfigFileTest, LoadedFileErrorsNameThePath) {
  testing::TempDir dir;
  const std::string path = (dir.path() / "bad.toml").string();
  std::ofstream(path) << "[sync]\njobs = 0\n";
  ConfigResult result = LoadConfigFile(path);
  EXPECT_FALSE(result.config.has_value());
  EXPECT_EQ(result.error, path + ":2:8: sync.jobs = 0 is out of range (1-256)");
}

TEST(ConfigFileTest, EveryKeyHasATypeAndHelp) {
  for (const ConfigKey& key : ConfigKeys()) {
    EXPECT_THAT(std::vector<std::string_view>({"string", "integer", "boolean", "string array"}),
                ::testing::Contains(key.type))
        << key.name;
    EXPECT_FALSE(key.help.empty()) << key.name;
  }
}

}  // namespace
}  // namespace cistern::cli
