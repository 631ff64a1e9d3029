#include "engine/pypi/simple_html.h"

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "engine/pypi/simple_json.h"
#include "engine/render/project_page.h"
#include "tests/engine/test_util.h"

namespace cistern::engine {
namespace {

using testing::IsError;
using testing::IsOk;
using Hashes = std::map<std::string, std::string>;

constexpr std::string_view kBs4Sha256 =
    "b80878c9f40111313e55da8ba20bdba06d8fa3969fc68304167741bbf9e082ed";
constexpr std::string_view kBs4MetadataSha256 =
    "524392d64a088e56a4232f50d6edb208dc03105394652acb72c6d5fa64c89f3e";
constexpr std::string_view kBs4Url =
    "https://files.pythonhosted.org/packages/b1/fe/"
    "a47579c528bf5086b85268a26a10b3a6c9ebed4c0e469be3d8420ab2d906/"
    "beautifulsoup4-4.12.3-py3-none-any.whl";

// pypi-mirror-protocol.md §1.3: Warehouse's detail template, with the shortened hashes written
// out and the serial comment after `</html>`.
constexpr std::string_view kPypiProject = R"html(<!DOCTYPE html>
<html lang="en">
  <head>
    <meta name="pypi:repository-version" content="1.4">
    <meta name="pypi:project-status" content="active">
    <title>Links for beautifulsoup4</title>
  </head>
  <body>
    <h1>Links for beautifulsoup4</h1>
    <a href="https://files.pythonhosted.org/packages/b1/fe/a47579c528bf5086b85268a26a10b3a6c9ebed4c0e469be3d8420ab2d906/beautifulsoup4-4.12.3-py3-none-any.whl#sha256=b80878c9f40111313e55da8ba20bdba06d8fa3969fc68304167741bbf9e082ed" data-requires-python="&gt;=3.6.0" data-dist-info-metadata="sha256=524392d64a088e56a4232f50d6edb208dc03105394652acb72c6d5fa64c89f3e" data-core-metadata="sha256=524392d64a088e56a4232f50d6edb208dc03105394652acb72c6d5fa64c89f3e">beautifulsoup4-4.12.3-py3-none-any.whl</a><br />
  </body>
</html>
<!--SERIAL 22406780-->
)html";

// A root as bandersnatch writes it: display names, the global serial in a trailing comment.
constexpr std::string_view kRoot = R"html(<!DOCTYPE html>
<html>
  <head>
    <meta name="pypi:repository-version" content="1.1">
    <title>Simple Index</title>
  </head>
  <body>
    <a href="/simple/0/">0</a><br/>
    <a href="/simple/0-0/">0-._.-._.-._.-._.-._.-._.-0</a><br/>
    <a href="/simple/friendly-bard/">Friendly.Bard</a><br/>
  </body>
</html>
<!--SERIAL 24888689-->
)html";

Result<ProjectPage> ParseProject(std::string_view body) {
  return SimpleHtmlParser().ParseProject(body);
}

Result<RootIndex> ParseRoot(std::string_view body) { return SimpleHtmlParser().ParseRoot(body); }

// Parses a page whose body holds `anchors` (and nothing else but a version meta), expecting it to
// succeed.
std::vector<UpstreamFile> ParseFiles(std::string_view anchors) {
  auto page = ParseProject(
      fmt::format("<html><head><meta name=\"pypi:repository-version\" content=\"1.0\"></head>"
                  "<body>\n{}\n</body></html>",
                  anchors));
  EXPECT_TRUE(IsOk(page));
  return page ? page->files : std::vector<UpstreamFile>{};
}

// The one file of a page made of `anchor`.
UpstreamFile ParseOneFile(std::string_view anchor) {
  std::vector<UpstreamFile> files = ParseFiles(anchor);
  if (files.size() != 1) {
    ADD_FAILURE() << "expected exactly one file, got " << files.size() << " from " << anchor;
    return {};
  }
  return files[0];
}

TEST(SimpleHtmlTest, ParsesThePypiProjectTemplate) {
  auto page = ParseProject(kPypiProject);
  ASSERT_TRUE(IsOk(page));
  EXPECT_EQ(page->api_version, "1.4");
  EXPECT_EQ(page->last_serial, 22406780);
  EXPECT_EQ(page->name, "beautifulsoup4");
  EXPECT_EQ(page->status, (ProjectStatus{"active", std::nullopt}));
  EXPECT_TRUE(page->versions.empty());
  EXPECT_EQ(page->base_url, std::nullopt);
  ASSERT_EQ(page->files.size(), 1u);
  UpstreamFile expected;
  expected.filename = "beautifulsoup4-4.12.3-py3-none-any.whl";
  expected.url = kBs4Url;
  expected.hashes = {{"sha256", std::string(kBs4Sha256)}};
  expected.requires_python = ">=3.6.0";
  expected.core_metadata = CoreMetadata{true, {{"sha256", std::string(kBs4MetadataSha256)}}};
  EXPECT_EQ(page->files[0], expected);
}

TEST(SimpleHtmlTest, ReadsTheSameFilesAsTheJsonFormOfThePage) {
  // The mirror's own pages (engine/render) in both forms: a downstream cistern reading the HTML
  // must see what one reading the JSON sees, apart from what only JSON carries.
  MirrorProject project;
  project.name = "example-pkg";
  project.serial = 77;
  project.versions = {"0.9", "1.0"};
  project.status = ProjectStatus{"archived", "use example-ng & <friends>"};
  project.files.push_back(MirrorFile{
      .filename = "example_pkg-0.9.tar.gz",
      .href = "../../packages/ef/01/eeee/example_pkg-0.9.tar.gz",
      .sha256 = *store::Sha256Digest::FromHex(std::string(64, 'a')),
      .size = 5760,
      .requires_python = "<4,>=3.9,!=3.9.1 & \"x\" 'y'",
      .upload_time = std::nullopt,
      .yanked = Yanked{true, "broken <build> & \"more\""},
      .core_metadata = std::nullopt,
  });
  project.files.push_back(MirrorFile{
      .filename = "example_pkg-1.0+local-py3-none-any.whl",
      .href = "../../packages/ab/cd/bbbb/example_pkg-1.0%2Blocal-py3-none-any.whl",
      .sha256 = *store::Sha256Digest::FromHex(std::string(64, 'b')),
      .size = 4661,
      .requires_python = std::nullopt,
      .upload_time = std::nullopt,
      .yanked = Yanked{true, ""},
      .core_metadata = *store::Sha256Digest::FromHex(std::string(64, 'c')),
  });
  auto from_html = ParseProject(RenderProjectHtml(project));
  ASSERT_TRUE(IsOk(from_html));
  std::string json = RenderProjectJson(project);
  auto from_json = SimpleJsonParser().ParseProject(json);
  ASSERT_TRUE(IsOk(from_json));
  EXPECT_EQ(from_html->api_version, from_json->api_version);
  EXPECT_EQ(from_html->name, from_json->name);
  EXPECT_EQ(from_html->status, from_json->status);
  EXPECT_EQ(from_html->last_serial, 77);
  ASSERT_EQ(from_html->files.size(), 2u);
  ASSERT_EQ(from_json->files.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    SCOPED_TRACE(i);
    UpstreamFile json_file = from_json->files[i];
    json_file.size.reset();  // the HTML form has no size
    EXPECT_EQ(from_html->files[i], json_file);
  }
}

TEST(SimpleHtmlTest, ParsesARootWithDisplayNamesAndSerial) {
  auto root = ParseRoot(kRoot);
  ASSERT_TRUE(IsOk(root));
  EXPECT_EQ(root->api_version, "1.1");
  EXPECT_EQ(root->last_serial, 24888689);
  ASSERT_EQ(root->projects.size(), 3u);
  EXPECT_EQ(root->projects[0].name, "0");
  EXPECT_EQ(root->projects[1].name, "0-._.-._.-._.-._.-._.-._.-0");
  EXPECT_EQ(root->projects[2].name, "Friendly.Bard");
  for (const IndexEntry& entry : root->projects) {
    EXPECT_EQ(entry.last_serial, std::nullopt);
  }
}

TEST(SimpleHtmlTest, RootEntryWithoutTextIsNamedByTheLastSegmentOfItsHref) {
  auto root = ParseRoot(
      "<a href=\"/simple/Foo%2EBar/\"></a>\n"
      "<a href='baz'> \n </a>\n"
      "<a href=\"https://example.org/simple/qux/?x=1#top\"><img src=\"i.png\"></a>\n"
      "<a href=\"/simple/named/\">  &#32;Named&#x9;  </a>");
  ASSERT_TRUE(IsOk(root));
  ASSERT_EQ(root->projects.size(), 4u);
  EXPECT_EQ(root->projects[0].name, "Foo.Bar");
  EXPECT_EQ(root->projects[1].name, "baz");
  EXPECT_EQ(root->projects[2].name, "qux");
  EXPECT_EQ(root->projects[3].name, "Named");
}

TEST(SimpleHtmlTest, PageWithoutMetaOrSerialIsVersionOnePointZero) {
  // A PEP 503 static tree as `pip download` + `dir2pi` or a plain web server leaves it.
  auto root = ParseRoot("<html><body><a href=\"frob/\">frob</a></body></html>");
  ASSERT_TRUE(IsOk(root));
  EXPECT_EQ(root->api_version, "1.0");
  EXPECT_EQ(root->last_serial, std::nullopt);
  ASSERT_EQ(root->projects.size(), 1u);
  EXPECT_EQ(root->projects[0].name, "frob");
  auto page = ParseProject("<a href=\"frob-1.0.tar.gz\">frob-1.0.tar.gz</a>");
  ASSERT_TRUE(IsOk(page));
  EXPECT_EQ(page->api_version, "1.0");
  EXPECT_EQ(page->last_serial, std::nullopt);
  EXPECT_EQ(page->name, "");
  EXPECT_EQ(page->status, ProjectStatus{});
  ASSERT_EQ(page->files.size(), 1u);
  EXPECT_EQ(page->files[0].url, "frob-1.0.tar.gz");
  EXPECT_TRUE(page->files[0].hashes.empty());
}

TEST(SimpleHtmlTest, PageWithoutAnchorsIsAnEmptyProjectOrRoot) {
  for (std::string_view body :
       {std::string_view(""), std::string_view("\n"),
        std::string_view("<!DOCTYPE html><html><body><h1>Links for x</h1></body></html>"),
        std::string_view("{\"meta\":{\"api-version\":\"1.0\"},\"files\":[]}")}) {
    SCOPED_TRACE(body);
    auto page = ParseProject(body);
    ASSERT_TRUE(IsOk(page));
    EXPECT_TRUE(page->files.empty());
    auto root = ParseRoot(body);
    ASSERT_TRUE(IsOk(root));
    EXPECT_TRUE(root->projects.empty());
  }
}

TEST(SimpleHtmlTest, ReadsQuotedUnquotedAndUpperCaseMarkupAcrossLines) {
  const std::vector<UpstreamFile> files = ParseFiles(
      "<A HREF='a-1.0.tar.gz#SHA256=AB' DATA-REQUIRES-PYTHON='>=3.8'>a-1.0.tar.gz</A>\n"
      "<a href=b-1.0.tar.gz#sha256=cd data-yanked=old>b-1.0.tar.gz</a>\n"
      "<a\n  href\n  =\n  \"c-1.0.tar.gz\"\n\tData-Core-Metadata = true\n>\n  "
      "c-1.0.tar.gz\n</a\n>\n"
      "<a/href=\"d-1.0.tar.gz\"/data-size=\"12\"/>d-1.0.tar.gz</a>");
  ASSERT_EQ(files.size(), 4u);
  EXPECT_EQ(files[0].url, "a-1.0.tar.gz");
  EXPECT_EQ(files[0].filename, "a-1.0.tar.gz");
  EXPECT_EQ(files[0].hashes, (Hashes{{"sha256", "ab"}}));
  EXPECT_EQ(files[0].requires_python, ">=3.8");  // '>' inside quotes, as many servers send it
  EXPECT_EQ(files[1].url, "b-1.0.tar.gz");
  EXPECT_EQ(files[1].hashes, (Hashes{{"sha256", "cd"}}));
  EXPECT_EQ(files[1].yanked, (Yanked{true, "old"}));
  EXPECT_EQ(files[2].url, "c-1.0.tar.gz");
  EXPECT_EQ(files[2].filename, "c-1.0.tar.gz");
  EXPECT_EQ(files[2].core_metadata, (CoreMetadata{true, {}}));
  EXPECT_EQ(files[3].url, "d-1.0.tar.gz");
  EXPECT_EQ(files[3].size, 12u);
}

TEST(SimpleHtmlTest, DecodesCharacterReferencesInValuesAndText) {
  const UpstreamFile file = ParseOneFile(
      "<a href=\"x-1.0.tar.gz?a=1&amp;b=2\" "
      "data-requires-python=\"&lt;4,&gt;=3.9,!=3.9.1 &amp; &quot;x&quot; &apos;y&#39;\" "
      "data-yanked=\"&#233;t&#xE9; &#X1F600; &#x41;&#65;&#0065;\">"
      "x&#45;1.0&period;tar&#x2e;gz &amp x &#; &#x; &#0; &#xD800; &#x110000; &#99999999999; "
      "&unknown; &AMP; &lt</a>");
  EXPECT_EQ(file.url, "x-1.0.tar.gz?a=1&b=2");
  EXPECT_EQ(file.requires_python, "<4,>=3.9,!=3.9.1 & \"x\" 'y'");
  EXPECT_EQ(file.yanked, (Yanked{true, "\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80 AAA"}));
  // Unknown names, missing `;`, empty, NUL, surrogate and out-of-range numbers stay verbatim.
  EXPECT_EQ(file.filename,
            "x-1.0&period;tar.gz &amp x &#; &#x; &#0; &#xD800; &#x110000; &#99999999999; "
            "&unknown; & &lt");
}

TEST(SimpleHtmlTest, YankedWithAReasonWithoutOneOrNot) {
  // PEP 592: the attribute's presence yanks; its value, which may be empty, is the reason. A bare
  // attribute has the empty value in HTML5.
  EXPECT_EQ(ParseOneFile("<a href=\"x\" data-yanked=\"broken build\">x</a>").yanked,
            (Yanked{true, "broken build"}));
  EXPECT_EQ(ParseOneFile("<a href=\"x\" data-yanked=\"\">x</a>").yanked, (Yanked{true, ""}));
  EXPECT_EQ(ParseOneFile("<a href=\"x\" data-yanked>x</a>").yanked, (Yanked{true, ""}));
  EXPECT_EQ(ParseOneFile("<a data-yanked href=\"x\">x</a>").yanked, (Yanked{true, ""}));
  EXPECT_EQ(ParseOneFile("<a href=\"x\">x</a>").yanked, (Yanked{false, ""}));
}

TEST(SimpleHtmlTest, CoreMetadataIsTrueAHashOrAbsent) {
  EXPECT_EQ(ParseOneFile("<a href=\"x\" data-core-metadata=\"true\">x</a>").core_metadata,
            (CoreMetadata{true, {}}));
  EXPECT_EQ(ParseOneFile("<a href=\"x\" data-core-metadata=\"TRUE\">x</a>").core_metadata,
            (CoreMetadata{true, {}}));
  EXPECT_EQ(ParseOneFile("<a href=\"x\" data-core-metadata=\"SHA256=ABcd01\">x</a>").core_metadata,
            (CoreMetadata{true, {{"sha256", "abcd01"}}}));
  EXPECT_EQ(ParseOneFile("<a href=\"x\">x</a>").core_metadata, (CoreMetadata{false, {}}));
}

TEST(SimpleHtmlTest, DistInfoMetadataIsTheFallback) {
  EXPECT_EQ(ParseOneFile("<a href=\"x\" data-dist-info-metadata=\"sha256=aa\">x</a>").core_metadata,
            (CoreMetadata{true, {{"sha256", "aa"}}}));
  EXPECT_EQ(ParseOneFile("<a href=\"x\" data-dist-info-metadata=\"true\">x</a>").core_metadata,
            (CoreMetadata{true, {}}));
}

TEST(SimpleHtmlTest, CoreMetadataWinsOverDistInfoMetadataInEitherOrder) {
  EXPECT_EQ(ParseOneFile("<a href=\"x\" data-dist-info-metadata=\"sha256=aa\" "
                         "data-core-metadata=\"sha256=bb\">x</a>")
                .core_metadata,
            (CoreMetadata{true, {{"sha256", "bb"}}}));
  EXPECT_EQ(ParseOneFile("<a href=\"x\" data-core-metadata=\"true\" "
                         "data-dist-info-metadata=\"sha256=aa\">x</a>")
                .core_metadata,
            (CoreMetadata{true, {}}));
  // Present but unreadable still wins: the fallback is for servers that do not know PEP 714.
  EXPECT_EQ(ParseOneFile("<a href=\"x\" data-core-metadata=\"yes\" "
                         "data-dist-info-metadata=\"sha256=aa\">x</a>")
                .core_metadata,
            (CoreMetadata{false, {}}));
}

TEST(SimpleHtmlTest, CoreMetadataOfAnotherFormIsNotAvailable) {
  // PEP 658 allows only "true" or `<hashname>=<hashvalue>`.
  for (std::string_view value : {"yes", "false", "", "sha256=", "=aa", "sha256=xyz", " true",
                                 "sha256=aa bb", "sha 256=aa", "1"}) {
    SCOPED_TRACE(value);
    EXPECT_EQ(ParseOneFile(fmt::format("<a href=\"x\" data-core-metadata=\"{}\">x</a>", value))
                  .core_metadata,
              (CoreMetadata{false, {}}));
  }
  EXPECT_EQ(ParseOneFile("<a href=\"x\" data-core-metadata>x</a>").core_metadata,
            (CoreMetadata{false, {}}));
}

TEST(SimpleHtmlTest, FragmentGivesOneLowercasedHashAndIsCutFromTheUrl) {
  struct Case {
    std::string_view href;
    std::string_view url;
    Hashes hashes;
  };
  const std::vector<Case> cases = {
      {"x.whl#sha256=ABCDEF0123", "x.whl", {{"sha256", "abcdef0123"}}},
      {"x.whl#md5=d41d8cd98f00b204e9800998ecf8427e",
       "x.whl",
       {{"md5", "d41d8cd98f00b204e9800998ecf8427e"}}},
      {"x.whl#SHA3_256=aa", "x.whl", {{"sha3_256", "aa"}}},
      {"x.whl#egg=foo", "x.whl", {}},
      {"x.whl#sha256=not-hex", "x.whl", {}},
      {"x.whl#sha256=", "x.whl", {}},
      {"x.whl#", "x.whl", {}},
      {"x.whl#sha256=aa#sha256=bb", "x.whl", {}},
      {"x.whl", "x.whl", {}},
      {"https://h/p/x.whl?q=1#sha256=aa", "https://h/p/x.whl?q=1", {{"sha256", "aa"}}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.href);
    const UpstreamFile file = ParseOneFile(fmt::format("<a href=\"{}\">x.whl</a>", c.href));
    EXPECT_EQ(file.url, c.url);
    EXPECT_EQ(file.hashes, c.hashes);
  }
}

TEST(SimpleHtmlTest, EmptyTextTakesTheFilenameFromTheUrl) {
  const std::vector<UpstreamFile> files = ParseFiles(
      "<a href=\"../../packages/ab/cd/ef/pkg-1.0%2Blocal-py3-none-any.whl#sha256=aa\"></a>\n"
      "<a href=\"https://h/files/caf%C3%A9-1.0.tar.gz?download=1\">  </a>\n"
      "<a href=\"bad%zz%4-1.0.tar.gz\"><b></b></a>\n"
      "<a href=\"dir/\"></a>");
  ASSERT_EQ(files.size(), 4u);
  EXPECT_EQ(files[0].filename, "pkg-1.0+local-py3-none-any.whl");
  EXPECT_EQ(files[0].url, "../../packages/ab/cd/ef/pkg-1.0%2Blocal-py3-none-any.whl");
  EXPECT_EQ(files[1].filename, "caf\xc3\xa9-1.0.tar.gz");
  EXPECT_EQ(files[2].filename, "bad%zz%4-1.0.tar.gz");
  EXPECT_EQ(files[3].filename, "");
}

TEST(SimpleHtmlTest, AnchorTextIsDecodedTrimmedAndWithoutInnerTags) {
  EXPECT_EQ(
      ParseOneFile("<a href=\"x\">\n  <span class=\"n\">pkg</span>-1.0<!-- c -->.tar.gz\n</a>")
          .filename,
      "pkg-1.0.tar.gz");
  EXPECT_EQ(ParseOneFile("<a href=\"x\">a&amp;b&lt;c&gt;.zip</a>").filename, "a&b<c>.zip");
}

TEST(SimpleHtmlTest, RequiresPythonIsDecodedAndAbsentIsUnset) {
  EXPECT_EQ(ParseOneFile("<a href=\"x\" data-requires-python=\"&gt;=3.8\">x</a>").requires_python,
            ">=3.8");
  EXPECT_EQ(ParseOneFile("<a href=\"x\" data-requires-python=\"\">x</a>").requires_python, "");
  EXPECT_EQ(ParseOneFile("<a href=\"x\">x</a>").requires_python, std::nullopt);
}

TEST(SimpleHtmlTest, SizeAndUploadTimeAreReadWhenWellFormed) {
  const UpstreamFile file = ParseOneFile(
      "<a href=\"x\" data-size=\"5000000000\" data-upload-time=\"2024-01-17T16:53:12Z\">x</a>");
  EXPECT_EQ(file.size, UINT64_C(5000000000));
  EXPECT_EQ(file.upload_time, "2024-01-17T16:53:12Z");
  EXPECT_EQ(ParseOneFile("<a href=\"x\" data-size=\"18446744073709551615\">x</a>").size,
            UINT64_C(18446744073709551615));
  for (std::string_view size :
       {"", "-1", "+1", " 12", "12 ", "1.5", "0x10", "12a", "18446744073709551616"}) {
    SCOPED_TRACE(size);
    EXPECT_EQ(ParseOneFile(fmt::format("<a href=\"x\" data-size=\"{}\">x</a>", size)).size,
              std::nullopt);
  }
  EXPECT_EQ(ParseOneFile("<a href=\"x\" data-upload-time=\"\">x</a>").upload_time, std::nullopt);
  EXPECT_EQ(ParseOneFile("<a href=\"x\">x</a>").upload_time, std::nullopt);
}

TEST(SimpleHtmlTest, BaseHrefIsKeptUnresolved) {
  auto page = ParseProject(
      "<html><head><base href=\" https://mirror.example/simple/x/&amp;\n \">"
      "<base href=\"https://second.example/\"></head>"
      "<body><a href=\"../../packages/x-1.0.tar.gz\">x-1.0.tar.gz</a></body></html>");
  ASSERT_TRUE(IsOk(page));
  EXPECT_EQ(page->base_url, "https://mirror.example/simple/x/&");
  ASSERT_EQ(page->files.size(), 1u);
  EXPECT_EQ(page->files[0].url, "../../packages/x-1.0.tar.gz");
  auto without_href = ParseProject("<base target=\"_top\"><base href=\"/b/\">");
  ASSERT_TRUE(IsOk(without_href));
  EXPECT_EQ(without_href->base_url, "/b/");
}

TEST(SimpleHtmlTest, HrefLosesSurroundingSpaceAndInnerNewlines) {
  // As pip (through urllib) and browsers read a URL.
  EXPECT_EQ(ParseOneFile("<a href=\"  x-1.0\n.tar\t.gz#sha256=aa\r\n \">x</a>").url,
            "x-1.0.tar.gz");
  EXPECT_EQ(ParseOneFile("<a href=\"  x-1.0\n.tar\t.gz#sha256=aa\r\n \">x</a>").hashes,
            (Hashes{{"sha256", "aa"}}));
}

TEST(SimpleHtmlTest, FirstOfDuplicateAttributesCounts) {
  // HTML5 drops a repeated attribute.
  const UpstreamFile file =
      ParseOneFile("<a href=\"one\" HREF=\"two\" data-yanked=\"a\" data-yanked=\"b\">x</a>");
  EXPECT_EQ(file.url, "one");
  EXPECT_EQ(file.yanked, (Yanked{true, "a"}));
}

TEST(SimpleHtmlTest, AnchorWithoutHrefIsNotAFile) {
  // pip skips an empty `href` as it skips a missing one.
  const std::vector<UpstreamFile> files = ParseFiles(
      "<a name=\"top\">top</a><a>nothing</a><a href=\"\">e</a><a href>b</a>"
      "<a href=\" \n\">s</a><a href=\"x\">x</a><abbr href=\"y\">y</abbr>");
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].url, "x");
}

TEST(SimpleHtmlTest, CommentsScriptsAndStylesHoldNoAnchors) {
  // CDATA and processing instructions are HTML5 "bogus comments" up to the first '>', which here
  // is that of the anchor inside them.
  const std::vector<UpstreamFile> files = ParseFiles(
      "<!-- <a href=\"c1\">c1</a> -->\n"
      "<!--><a href=\"after-abrupt-comment\">1</a>\n"
      "<!-- x --!><a href=\"after-bang-comment\">2</a>\n"
      "<script>document.write('<a href=\"s\">s</a>'); if (a<b) {}</script >\n"
      "<SCRIPT type=\"text/javascript\">x = \"</scripts><a href='s2'>\";</SCRIPT>\n"
      "<style>a[href=\"<a href='st'>\"] {}</style>\n"
      "<title><a href=\"t\">t</a></title>\n"
      "<textarea><a href=\"ta\">ta</a></textarea>\n"
      "<![CDATA[ <a href=\"cdata\"> ]]>\n"
      "<?php echo '<a href=\"pi\">'; ?>\n"
      "<a href=\"real\">real</a>");
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(files[0].url, "after-abrupt-comment");
  EXPECT_EQ(files[1].url, "after-bang-comment");
  EXPECT_EQ(files[2].url, "real");
}

TEST(SimpleHtmlTest, UnclosedOrNestedAnchorsEndAtTheNextAnchorOrTheEnd) {
  const std::vector<UpstreamFile> files =
      ParseFiles("<a href=\"one\">one<a href=\"two\">two</a> tail <a href=\"three\">three<b>bold");
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(files[0].filename, "one");
  EXPECT_EQ(files[1].filename, "two");
  EXPECT_EQ(files[2].filename, "threebold");  // the helper's `</body></html>` adds no text
  auto page = ParseProject("<a href=\"x-1.0.tar.gz\">");
  ASSERT_TRUE(IsOk(page));
  ASSERT_EQ(page->files.size(), 1u);
  EXPECT_EQ(page->files[0].filename, "x-1.0.tar.gz");
}

TEST(SimpleHtmlTest, TagCutOffByTheEndOfTheBodyIsDropped) {
  for (std::string_view body :
       {"<a href=\"x\">x</a><a href=\"y",
        "<a href=\"x\">x</a><a href=", "<a href=\"x\">x</a><a href", "<a href=\"x\">x</a><a",
        "<a href=\"x\">x</a><", "<a href=\"x\">x</a></", "<a href=\"x\">x</a><!",
        "<a href=\"x\">x</a><!--", "<a href=\"x\">x</a><a href='y' data-yanked=\"z"}) {
    SCOPED_TRACE(body);
    auto page = ParseProject(body);
    ASSERT_TRUE(IsOk(page));
    ASSERT_EQ(page->files.size(), 1u);
    EXPECT_EQ(page->files[0].url, "x");
    EXPECT_EQ(page->files[0].filename, "x");
  }
  for (std::string_view body : {"<", "</", "<!", "<!-", "<!--", "<?", "< a href=x>", "<<<>>>", "&",
                                "&#", "&#x", "<a href=\"", "<script>", "<title>", "<plaintext>"}) {
    SCOPED_TRACE(body);
    auto page = ParseProject(body);
    ASSERT_TRUE(IsOk(page));
    EXPECT_TRUE(page->files.empty());
  }
}

TEST(SimpleHtmlTest, EveryPrefixOfAPageParsesAndNeverLosesAFile) {
  // A body cut anywhere (a truncated download) reads as the files whose start tags are complete.
  const std::string whole = std::string(kPypiProject) +
                            "<a href='y-1.0.tar.gz#md5=aa' data-yanked>y-1.0.tar.gz</a>"
                            "<script>'<a href=z>'</script><!-- <a href=c> -->"
                            "<A HREF=w-1.0.zip DATA-SIZE=9>w&#45;1.0.zip</A>";
  const SimpleHtmlParser parser;
  size_t previous = 0;
  for (size_t cut = 0; cut <= whole.size(); ++cut) {
    SCOPED_TRACE(cut);
    auto page = parser.ParseProject(std::string_view(whole).substr(0, cut));
    ASSERT_TRUE(IsOk(page));
    ASSERT_GE(page->files.size(), previous);
    ASSERT_LE(page->files.size(), 3u);
    previous = page->files.size();
    auto root = parser.ParseRoot(std::string_view(whole).substr(0, cut));
    ASSERT_TRUE(IsOk(root));
    ASSERT_EQ(root->projects.size(), page->files.size());
  }
  auto page = parser.ParseProject(whole);
  ASSERT_TRUE(IsOk(page));
  ASSERT_EQ(page->files.size(), 3u);
  EXPECT_EQ(page->files[1].filename, "y-1.0.tar.gz");
  EXPECT_EQ(page->files[1].yanked, (Yanked{true, ""}));
  EXPECT_EQ(page->files[2].filename, "w-1.0.zip");
  EXPECT_EQ(page->files[2].size, 9u);
}

TEST(SimpleHtmlTest, SerialCommentIsReadWhereverItIs) {
  struct Case {
    std::string_view body;
    std::optional<int64_t> serial;
  };
  const std::vector<Case> cases = {
      {"<!--SERIAL 5-->", 5},
      {"<html><!--  SERIAL\n 42 \t--></html>", 42},
      {"<!--SERIAL 1--><a href=x>x</a><!--SERIAL 2-->", 2},  // the last one counts
      {"<!--SERIAL 9--><!--SERIALIZED form-->", 9},          // not a serial comment
      {"<!--SERIAL-->", std::nullopt},
      {"<!--SERIAL x-->", std::nullopt},
      {"<!--SERIAL -5-->", std::nullopt},
      {"<!--SERIAL 5 6-->", std::nullopt},
      {"<!--SERIAL 99999999999999999999-->", std::nullopt},
      {"<!--serial 5-->", std::nullopt},
      {"<!SERIAL 5>", std::nullopt},
      {"<!--SERIAL 5", 5},  // unclosed: the comment runs to the end
      {"SERIAL 5", std::nullopt},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body);
    auto page = ParseProject(c.body);
    ASSERT_TRUE(IsOk(page));
    EXPECT_EQ(page->last_serial, c.serial);
    auto root = ParseRoot(c.body);
    ASSERT_TRUE(IsOk(root));
    EXPECT_EQ(root->last_serial, c.serial);
  }
}

TEST(SimpleHtmlTest, ProjectStatusAndReasonComeFromMetaTags) {
  auto page = ParseProject(
      "<meta name=\"pypi:project-status\" content=\"archived\">"
      "<meta name=\"pypi:project-status-reason\" content=\"moved to &lt;y&gt;\">"
      "<meta name=\"pypi:project-status\" content=\"quarantined\">");
  ASSERT_TRUE(IsOk(page));
  EXPECT_EQ(page->status, (ProjectStatus{"archived", "moved to <y>"}));
  auto without_content = ParseProject("<meta name=\"pypi:project-status\">");
  ASSERT_TRUE(IsOk(without_content));
  EXPECT_EQ(without_content->status, ProjectStatus{});
}

TEST(SimpleHtmlTest, NameComesFromLinksForInTitleOrHeading) {
  struct Case {
    std::string_view body;
    std::string_view name;
  };
  const std::vector<Case> cases = {
      {"<title>Links for Foo.Bar</title>", "Foo.Bar"},
      {"<title>Simple index</title><h1>Links for <i>foo</i>&#45;bar </h1>", "foo-bar"},
      {"<TITLE>\n  Links for\n  a&amp;b\n</TITLE><h1>Links for other</h1>", "a&b"},
      {"<h1>Links for first</h1><h1>Links for second</h1>", "first"},
      {"<title>Links for</title>", ""},
      {"<title>Links forx</title>", ""},
      {"<h1>Links for unclosed", "unclosed"},
      {"<h2>Links for h2</h2>", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body);
    auto page = ParseProject(c.body);
    ASSERT_TRUE(IsOk(page));
    EXPECT_EQ(page->name, c.name);
  }
}

TEST(SimpleHtmlTest, AnotherMajorVersionIsRejected) {
  constexpr std::string_view kBody =
      "<meta name=\"pypi:repository-version\" content=\"2.0\"><a href=\"x\">x</a>";
  auto page = ParseProject(kBody);
  ASSERT_TRUE(IsError(page, Errc::kProjectPage));
  EXPECT_EQ(page.error().detail,
            "unsupported pypi:repository-version \"2.0\" (cistern reads major version 1)");
  auto root = ParseRoot(kBody);
  ASSERT_TRUE(IsError(root, Errc::kUpstreamIndex));
  EXPECT_EQ(root.error().detail,
            "unsupported pypi:repository-version \"2.0\" (cistern reads major version 1)");
  for (std::string_view version : {"", "v1", "0.9", "11.0", "one"}) {
    SCOPED_TRACE(version);
    EXPECT_TRUE(
        IsError(ParseProject(fmt::format(
                    "<META NAME='PYPI:REPOSITORY-VERSION' CONTENT='{}'><a href=x>x</a>", version)),
                Errc::kProjectPage));
  }
}

TEST(SimpleHtmlTest, NewerMinorVersionIsAcceptedAndTheFirstMetaCounts) {
  auto page = ParseProject(
      "<meta content=\" 1.99 \" name=\"pypi:repository-version\">"
      "<meta name=\"pypi:repository-version\" content=\"2.0\">");
  ASSERT_TRUE(IsOk(page));
  EXPECT_EQ(page->api_version, "1.99");
  auto without_content = ParseProject("<meta name=\"pypi:repository-version\">");
  ASSERT_TRUE(IsOk(without_content));
  EXPECT_EQ(without_content->api_version, "1.0");
}

// A PEP 503 page of `count` plain anchors (PyPI-layout URL, sha256 fragment), as a static tree
// serves a project with tens of thousands of files.
std::string ManyAnchors(size_t count) {
  std::string body =
      "<!DOCTYPE html><html><head><meta name=\"pypi:repository-version\" content=\"1.0\">"
      "<title>Links for big</title></head><body><h1>Links for big</h1>\n";
  body.reserve(count * 200);
  for (size_t i = 0; i < count; ++i) {
    body += fmt::format(
        "<a href=\"../../packages/{:02x}/{:02x}/{:060x}/big-{}.0.tar.gz#sha256={:064x}\">"
        "big-{}.0.tar.gz</a><br/>\n",
        i % 256, i / 256 % 256, i, i, i, i);
  }
  return body + "</body></html>\n<!--SERIAL 123-->\n";
}

TEST(SimpleHtmlTest, ParsesAPageOfFiftyThousandAnchors) {
  const std::string body = ManyAnchors(50'000);
  auto page = ParseProject(body);
  ASSERT_TRUE(IsOk(page));
  ASSERT_EQ(page->files.size(), 50'000u);
  EXPECT_EQ(page->name, "big");
  EXPECT_EQ(page->last_serial, 123);
  const UpstreamFile& last = page->files.back();
  EXPECT_EQ(last.filename, "big-49999.0.tar.gz");
  EXPECT_EQ(last.url, fmt::format("../../packages/4f/c3/{:060x}/big-49999.0.tar.gz", 49999));
  EXPECT_EQ(last.hashes, (Hashes{{"sha256", fmt::format("{:064x}", 49999)}}));
}

TEST(SimpleHtmlTest, HostileBodiesAreReadInOnePass) {
  // Each would take minutes if a construct were rescanned from its start for every byte; read
  // once, each takes milliseconds. The test has no timing assertion: a quadratic scan hangs it.
  constexpr size_t kSize = 512 << 10;
  const std::vector<std::string> bodies = {
      std::string(kSize, '<'),
      [] {
        std::string s = "<a href=x>";
        while (s.size() < kSize) {
          s += "<b>";
        }
        return s;
      }(),
      [] {
        std::string s = "<script>";
        while (s.size() < kSize) {
          s += "</scrip</";
        }
        return s;
      }(),
      [] {
        std::string s = "<!--";
        while (s.size() < kSize) {
          s += "->-!>";
        }
        return s;
      }(),
      [] {
        std::string s = "<a href=\"x\">";
        while (s.size() < kSize) {
          s += "&#0000000000000000000000000000000000000000000000000000000000000000000000000";
          s += "&amp&lt&";
        }
        return s;
      }(),
      "<a " + std::string(kSize, 'x'),
      [] {
        std::string s = "<a href=x ";
        while (s.size() < kSize) {
          s += "data-yanked=1 ";
        }
        return s + ">x</a>";
      }(),
  };
  for (const std::string& body : bodies) {
    SCOPED_TRACE(body.substr(0, 32));
    auto page = ParseProject(body);
    ASSERT_TRUE(IsOk(page));
    EXPECT_LE(page->files.size(), 1u);
  }
}

}  // namespace
}  // namespace cistern::engine
