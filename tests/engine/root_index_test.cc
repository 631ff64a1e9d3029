#include "engine/render/root_index.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/pypi/simple_json.h"
#include "tests/engine/test_util.h"

namespace cistern::engine {
namespace {

using testing::IsOk;

std::vector<RootEntry> Entries() {
  return {
      RootEntry{.name = "0", .display_name = "0", .serial = 3075854},
      RootEntry{.name = "0-0", .display_name = "0-._.-._.-._.-._.-._.-._.-0", .serial = 1448421},
      RootEntry{.name = "friendly-bard", .display_name = "Friendly.Bard", .serial = 5},
  };
}

TEST(RootIndexTest, RendersHtmlExactly) {
  EXPECT_EQ(RenderRootHtml(Entries()), R"html(<!DOCTYPE html>
<html>
  <head>
    <meta name="pypi:repository-version" content="1.4">
    <title>Simple index</title>
  </head>
  <body>
    <a href="0/">0</a><br/>
    <a href="0-0/">0-._.-._.-._.-._.-._.-._.-0</a><br/>
    <a href="friendly-bard/">Friendly.Bard</a><br/>
  </body>
</html>
)html");
}

TEST(RootIndexTest, RendersJsonExactly) {
  EXPECT_EQ(
      RenderRootJson(Entries(), 24888689),
      R"json({"meta":{"api-version":"1.4","_last-serial":24888689},"projects":[{"name":"0","_last-serial":3075854},{"name":"0-._.-._.-._.-._.-._.-._.-0","_last-serial":1448421},{"name":"Friendly.Bard","_last-serial":5}]}
)json");
}

TEST(RootIndexTest, RendersAnEmptyIndexWithoutSerial) {
  EXPECT_EQ(RenderRootHtml({}), R"html(<!DOCTYPE html>
<html>
  <head>
    <meta name="pypi:repository-version" content="1.4">
    <title>Simple index</title>
  </head>
  <body>
  </body>
</html>
)html");
  EXPECT_EQ(RenderRootJson({}, std::nullopt), R"json({"meta":{"api-version":"1.4"},"projects":[]}
)json");
}

TEST(RootIndexTest, EscapesDisplayNames) {
  const std::vector<RootEntry> entries = {
      RootEntry{.name = "a-b", .display_name = "A<&>\"B", .serial = 1}};
  const std::string html = RenderRootHtml(entries);
  EXPECT_NE(html.find("    <a href=\"a-b/\">A&lt;&amp;&gt;&quot;B</a><br/>\n"), std::string::npos)
      << html;
  EXPECT_EQ(
      RenderRootJson(entries, 2),
      R"json({"meta":{"api-version":"1.4","_last-serial":2},"projects":[{"name":"A<&>\"B","_last-serial":1}]}
)json");
}

TEST(RootIndexTest, AnEntryWithoutASerialHasNoLastSerial) {
  const std::vector<RootEntry> entries = {RootEntry{.name = "a", .display_name = "A"},
                                          RootEntry{.name = "b", .display_name = "B", .serial = 7}};
  EXPECT_EQ(
      RenderRootJson(entries, std::nullopt),
      R"json({"meta":{"api-version":"1.4"},"projects":[{"name":"A"},{"name":"B","_last-serial":7}]}
)json");
}

TEST(RootIndexTest, JsonParsesBackToTheSameValues) {
  std::string json = RenderRootJson(Entries(), 24888689);
  EXPECT_EQ(json.find("null"), std::string::npos);
  SimpleJsonParser parser;
  auto root = parser.ParseRoot(json);
  ASSERT_TRUE(IsOk(root));
  EXPECT_EQ(root->api_version, "1.4");
  EXPECT_EQ(root->last_serial, 24888689);
  const std::vector<RootEntry> entries = Entries();
  ASSERT_EQ(root->projects.size(), entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ(root->projects[i].name, entries[i].display_name);
    EXPECT_EQ(root->projects[i].last_serial, entries[i].serial);
  }
}

}  // namespace
}  // namespace cistern::engine
