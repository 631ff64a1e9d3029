// End to end: the real `cistern` binary mirrors the generated upstream over HTTPS, the shipped
// nginx site (config/nginx/) serves the tree, and real pip installs from it with nothing else to
// fall back on (--isolated: no PIP_FIND_LINKS, no config; --no-cache-dir).

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <gtest/gtest.h>
#include <simdjson.h>

#include "tests/support/nginx_upstream.h"

namespace cistern {
namespace {

namespace fs = std::filesystem;
using testing::CisternBinary;
using testing::CommandResult;
using testing::NginxUpstream;
using testing::NginxUpstreamOptions;
using testing::RunCommand;
using testing::TempDir;

// pip's --report: installed project name (normalized by us) -> (version, download URL).
std::map<std::string, std::pair<std::string, std::string>> ReadPipReport(const fs::path& path) {
  std::map<std::string, std::pair<std::string, std::string>> installed;
  simdjson::dom::parser parser;
  simdjson::dom::element report;
  if (auto error = parser.load(path.string()).get(report)) {
    ADD_FAILURE() << "cannot read pip report " << path << ": " << simdjson::error_message(error);
    return installed;
  }
  simdjson::dom::array items;
  if (report["install"].get_array().get(items) != simdjson::SUCCESS) {
    ADD_FAILURE() << "pip report has no install list";
    return installed;
  }
  for (simdjson::dom::element item : items) {
    std::string_view name;
    std::string_view version;
    std::string_view url;
    if (item["metadata"]["name"].get_string().get(name) != simdjson::SUCCESS ||
        item["metadata"]["version"].get_string().get(version) != simdjson::SUCCESS ||
        item["download_info"]["url"].get_string().get(url) != simdjson::SUCCESS) {
      ADD_FAILURE() << "unexpected pip report entry";
      continue;
    }
    std::string normalized;
    for (char c : name) {
      const bool separator = c == '-' || c == '_' || c == '.';
      if (separator) {
        if (normalized.empty() || normalized.back() != '-') {
          normalized.push_back('-');
        }
      } else {
        normalized.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
      }
    }
    installed[normalized] = {std::string(version), std::string(url)};
  }
  return installed;
}

TEST(PipInstallTest, PipInstallsProjectsAndTheirDependenciesFromTheMirror) {
  TempDir temp;
  auto upstream = NginxUpstream::Start();
  ASSERT_NE(upstream, nullptr);
  const fs::path mirror = temp.path() / "mirror";

  const CommandResult synced =
      RunCommand({CisternBinary(), "sync", "--mirror", mirror.string(), "--upstream",
                  upstream->https_url(), "--ca-file", upstream->ca_file()});
  ASSERT_EQ(synced.exit_code, 0) << synced.out << synced.err;
  EXPECT_NE(synced.out.find("sync complete"), std::string::npos) << synced.out;

  NginxUpstreamOptions serve;
  serve.mirror_web = (mirror / "web").string();
  auto server = NginxUpstream::Start(serve);
  ASSERT_NE(server, nullptr);

  const fs::path target = temp.path() / "site";
  const fs::path report = temp.path() / "report.json";
  // Display names, not the normalized ones: pip normalizes them itself (PEP 503).
  const CommandResult pip = RunCommand(
      {"python3", "-m", "pip", "--isolated", "install", "--no-cache-dir",
       "--disable-pip-version-check", "--index-url", server->https_url() + "/simple/", "--cert",
       server->ca_file(), "--target", target.string(), "--report", report.string(), "Chain-A",
       "Foo_Bar", "zope.shim", "UPPER-Case", "a__b..c", "Yanky", "prerel", "req-python",
       "Big_Blobs"},
      {{"REQUESTS_CA_BUNDLE", server->ca_file()}, {"PIP_FIND_LINKS", ""}, {"PIP_INDEX_URL", ""}});
  ASSERT_EQ(pip.exit_code, 0) << pip.out << pip.err;

  const auto installed = ReadPipReport(report);
  const std::map<std::string, std::string> expected = {
      {"chain-a", "1.0"},     {"chain-b", "1.0"},  {"chain-c", "2.0"},
      {"foo-bar", "1.0.post1"}, {"zope-shim", "5.0"}, {"upper-case", "1.0"},
      {"a-b-c", "0.1"},
      {"yanky", "1.0"},       // 1.1 (yanked with a reason) and 1.2 (yanked) are skipped
      {"prerel", "1.0.post1"},  // pre-releases are not chosen
      {"req-python", "1.2"},  // 2.0 requires Python >= 3.99
      {"big-blobs", "2.0"}};
  ASSERT_EQ(installed.size(), expected.size()) << pip.out;
  for (const auto& [name, version] : expected) {
    auto it = installed.find(name);
    ASSERT_NE(it, installed.end()) << name << " not installed";
    EXPECT_EQ(it->second.first, version) << name;
    EXPECT_TRUE(it->second.second.starts_with(server->https_url() + "/packages/"))
        << name << " came from " << it->second.second;
  }
  EXPECT_TRUE(fs::exists(target / "chain_a" / "__init__.py"));

  // pip asked for the JSON API (PEP 691) and used the PEP 658 metadata files.
  size_t json_page_requests = 0;
  size_t metadata_requests = 0;
  for (const std::string& line : server->AccessLogLines()) {
    if (line.find("GET /simple/chain-a/ ") != std::string::npos &&
        line.find("application/vnd.pypi.simple.v1+json") != std::string::npos &&
        line.find("\" 200 ") != std::string::npos) {
      ++json_page_requests;
    }
    if (line.find(".whl.metadata HTTP") != std::string::npos &&
        line.find("\" 200 ") != std::string::npos) {
      ++metadata_requests;
    }
  }
  EXPECT_EQ(json_page_requests, 1u);
  EXPECT_GE(metadata_requests, expected.size());
}

TEST(PipInstallTest, ServedPagesNegotiateJsonAndHtml) {
  TempDir temp;
  auto upstream = NginxUpstream::Start();
  ASSERT_NE(upstream, nullptr);
  const fs::path mirror = temp.path() / "mirror";
  const CommandResult synced =
      RunCommand({CisternBinary(), "-q", "sync", "--mirror", mirror.string(), "--upstream",
                  upstream->https_url(), "--ca-file", upstream->ca_file(), "foo-bar"});
  ASSERT_EQ(synced.exit_code, 0) << synced.err;
  EXPECT_EQ(synced.out, "") << "--quiet prints nothing on success";

  NginxUpstreamOptions serve;
  serve.mirror_web = (mirror / "web").string();
  auto server = NginxUpstream::Start(serve);
  ASSERT_NE(server, nullptr);
  auto content_type = [&](const std::string& accept, const std::string& path) {
    const CommandResult curl =
        RunCommand({"curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{content_type}",
                    "--cacert", server->ca_file(), "-H", "Accept: " + accept,
                    server->https_url() + path});
    return curl.out;
  };
  EXPECT_EQ(content_type("application/vnd.pypi.simple.v1+json", "/simple/foo-bar/"),
            "200 application/vnd.pypi.simple.v1+json");
  EXPECT_EQ(content_type("text/html", "/simple/foo-bar/"), "200 text/html; charset=utf-8");
  EXPECT_EQ(content_type("application/vnd.pypi.simple.v1+json", "/simple/"),
            "200 application/vnd.pypi.simple.v1+json");
  EXPECT_EQ(content_type("*/*", "/simple/no-such-project/"), "404 text/html; charset=utf-8");
}

// A PEP 503 tree on disk (index.html files only, no serials: as simple static indexes are) is
// mirrored with --upstream file://... --upstream-format auto, and pip installs from the mirror
// read as a file:// index too, with no server anywhere.
TEST(PipInstallTest, PipInstallsFromAMirrorOfAnHtmlOnlyLocalIndex) {
  TempDir temp;
  const CommandResult generated =
      RunCommand({"python3", testing::SourceDir() + "/tools/test_upstream/generate.py", "--out",
                  (temp.path() / "upstream").string(), "--profile", "small", "--seed", "1"});
  ASSERT_EQ(generated.exit_code, 0) << generated.err;
  const fs::path tree = temp.path() / "upstream/tree";
  size_t html_pages = 0;
  for (const auto& entry : fs::recursive_directory_iterator(tree / "simple")) {
    const std::string name = entry.path().filename().string();
    if (name == "index.v1_json" || name == "index.v1_html") {
      fs::remove(entry.path());
    } else if (name == "index.html") {
      std::ifstream in(entry.path());
      std::stringstream text;
      text << in.rdbuf();
      std::string body = text.str();
      body = body.substr(0, body.find("<!--SERIAL"));
      std::ofstream(entry.path(), std::ios::trunc) << body;
      ++html_pages;
    }
  }
  ASSERT_GT(html_pages, 20u);

  const fs::path mirror = temp.path() / "mirror";
  const std::vector<std::string> sync = {CisternBinary(),        "sync",
                                         "--mirror",             mirror.string(),
                                         "--upstream",           "file://" + tree.string() + "/simple/",
                                         "--upstream-format",    "auto"};
  const CommandResult first = RunCommand(sync);
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  // Nothing changed: every page is read again (no serials), no file is fetched, nothing written.
  const CommandResult second = RunCommand(sync);
  ASSERT_EQ(second.exit_code, 0) << second.out << second.err;
  EXPECT_NE(second.out.find(" deferred, 0 files ("), std::string::npos) << second.out;

  const fs::path target = temp.path() / "site";
  const fs::path report = temp.path() / "report.json";
  const std::string index = "file://" + (mirror / "web/simple").string() + "/";
  const CommandResult pip = RunCommand(
      {"python3", "-m", "pip", "--isolated", "install", "--no-cache-dir",
       "--disable-pip-version-check", "--index-url", index, "--target", target.string(),
       "--report", report.string(), "Chain-A", "Yanky", "prerel", "req-python", "a__b..c"},
      {{"PIP_FIND_LINKS", ""}, {"PIP_INDEX_URL", ""}});
  ASSERT_EQ(pip.exit_code, 0) << pip.out << pip.err;
  const auto installed = ReadPipReport(report);
  const std::map<std::string, std::string> expected = {
      {"chain-a", "1.0"}, {"chain-b", "1.0"},       {"chain-c", "2.0"}, {"yanky", "1.0"},
      {"prerel", "1.0.post1"}, {"req-python", "1.2"}, {"a-b-c", "0.1"}};
  ASSERT_EQ(installed.size(), expected.size()) << pip.out;
  for (const auto& [name, version] : expected) {
    auto it = installed.find(name);
    ASSERT_NE(it, installed.end()) << name << " not installed";
    EXPECT_EQ(it->second.first, version) << name;
    EXPECT_TRUE(it->second.second.starts_with("file://" + (mirror / "web/packages").string()))
        << name << " came from " << it->second.second;
  }
}

TEST(SyncExitTest, DeferredProjectsExitOneNameEachAndTheRestIsServed) {
  TempDir temp;
  NginxUpstreamOptions options;
  options.faults = true;
  auto upstream = NginxUpstream::Start(options);
  ASSERT_NE(upstream, nullptr);
  const fs::path mirror = temp.path() / "mirror";
  const std::vector<std::string> sync = {CisternBinary(), "sync", "--mirror", mirror.string(),
                                         "--upstream", upstream->https_url(), "--ca-file",
                                         upstream->ca_file()};
  const CommandResult first = RunCommand(sync);
  EXPECT_EQ(first.exit_code, 1) << first.out << first.err;
  EXPECT_NE(first.out.find("sync incomplete"), std::string::npos) << first.out;
  for (const char* project :
       {"fault-missing-file", "fault-bad-hash", "fault-bad-page", "fault-bad-metadata"}) {
    EXPECT_NE(first.err.find(std::string("deferred: ") + project + ": "), std::string::npos)
        << project << " not named in:\n" << first.err;
  }
  EXPECT_NE(first.err.find("skipped: fault-traversal: ../../evil.whl: rejected file name"),
            std::string::npos)
      << first.err;
  EXPECT_TRUE(fs::exists(mirror / "web/simple/chain-a/index.v1_json"));

  // The next run retries the deferred projects only, and they are still deferred.
  const CommandResult second = RunCommand(sync);
  EXPECT_EQ(second.exit_code, 1) << second.err;
  EXPECT_NE(second.out.find("4 deferred"), std::string::npos) << second.out;

  // `cistern status --json` reports them for monitoring.
  const CommandResult status =
      RunCommand({CisternBinary(), "status", "--mirror", mirror.string(), "--json"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  simdjson::dom::parser parser;
  simdjson::dom::element json;
  ASSERT_EQ(parser.parse(status.out).get(json), simdjson::SUCCESS) << status.out;
  EXPECT_EQ(json["generation"].get_uint64().value_unsafe(), 2u);
  EXPECT_TRUE(json["serial"].is_null()) << "not complete for any upstream serial: " << status.out;
  EXPECT_EQ(json["projects"].get_uint64().value_unsafe(), 32u);
  EXPECT_GT(json["files"].get_uint64().value_unsafe(), 500u);
  EXPECT_GT(json["bytes"].get_uint64().value_unsafe(), 10u << 20);
  std::vector<std::string> deferred;
  simdjson::dom::array names;
  ASSERT_EQ(json["deferred"].get_array().get(names), simdjson::SUCCESS);
  for (simdjson::dom::element name : names) {
    deferred.emplace_back(name.get_string().value_unsafe());
  }
  EXPECT_EQ(deferred, (std::vector<std::string>{"fault-bad-hash", "fault-bad-metadata",
                                                "fault-bad-page", "fault-missing-file"}));
  EXPECT_EQ(json["last_run"]["deferred"].get_uint64().value_unsafe(), 4u);
}

TEST(StatusTest, StatusOfADirectoryWithoutAMirrorIsAUsageError) {
  TempDir temp;
  const CommandResult status =
      RunCommand({CisternBinary(), "status", "--mirror", (temp.path() / "none").string()});
  EXPECT_EQ(status.exit_code, 2);
  EXPECT_NE(status.err.find("no cistern mirror at"), std::string::npos) << status.err;
  EXPECT_FALSE(fs::exists(temp.path() / "none"));
}

}  // namespace
}  // namespace cistern
