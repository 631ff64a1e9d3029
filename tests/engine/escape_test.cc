#include "engine/render/escape.h"

#include <string>

#include <gtest/gtest.h>

namespace cistern::engine {
namespace {

using namespace std::string_literals;

std::string Json(std::string_view text) {
  std::string out = "prefix:";
  AppendJsonString(out, text);
  return out;
}

std::string Html(std::string_view text) {
  std::string out = "prefix:";
  AppendHtmlEscaped(out, text);
  return out;
}

TEST(EscapeTest, JsonStringIsQuotedAndAppended) {
  EXPECT_EQ(Json(""), R"(prefix:"")");
  EXPECT_EQ(Json("numpy"), R"(prefix:"numpy")");
}

TEST(EscapeTest, JsonEscapesQuoteBackslashAndControls) {
  EXPECT_EQ(Json("a\"b\\c"), R"(prefix:"a\"b\\c")");
  EXPECT_EQ(Json("\n\r\t"), R"(prefix:"\n\r\t")");
  EXPECT_EQ(Json("\0\x01\x1f"s), R"(prefix:"\u0000\u0001\u001f")");
  EXPECT_EQ(Json("\b\f"), R"(prefix:"\u0008\u000c")");
}

TEST(EscapeTest, JsonPassesHtmlSpecialsDelAndUtf8Through) {
  EXPECT_EQ(Json("<4,>=3.8&\x7f/"), "prefix:\"<4,>=3.8&\x7f/\"");
  EXPECT_EQ(Json("na\xc3\xafve \xf0\x9f\x90\x8d"), "prefix:\"na\xc3\xafve \xf0\x9f\x90\x8d\"");
}

TEST(EscapeTest, HtmlEscapesTheFiveSpecials) {
  EXPECT_EQ(Html(R"(<>&"')"), "prefix:&lt;&gt;&amp;&quot;&#x27;");
  EXPECT_EQ(Html(">=3.8, <4"), "prefix:&gt;=3.8, &lt;4");
}

TEST(EscapeTest, HtmlKeepsOtherBytes) {
  EXPECT_EQ(Html(""), "prefix:");
  EXPECT_EQ(Html("torch-2.0+cpu na\xc3\xafve %20#?"), "prefix:torch-2.0+cpu na\xc3\xafve %20#?");
}

TEST(EscapeTest, HtmlEscapesAnAlreadyEscapedEntityAgain) {
  EXPECT_EQ(Html("&lt;"), "prefix:&amp;lt;");
}

}  // namespace
}  // namespace cistern::engine
