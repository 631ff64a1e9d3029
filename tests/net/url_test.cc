#include "net/url.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace cistern::net {
namespace {

struct ParseCase {
  std::string input;
  std::string str;
  std::string host;
  uint16_t port;
  std::string target;
  std::string origin;
};

TEST(UrlTest, ParsesAndNormalisesAbsoluteUrls) {
  const std::vector<ParseCase> cases = {
      {"https://pypi.org/simple/", "https://pypi.org/simple/", "pypi.org", 443, "/simple/",
       "https://pypi.org:443"},
      {"HTTPS://PyPI.ORG/Simple/NumPy/", "https://pypi.org/Simple/NumPy/", "pypi.org", 443,
       "/Simple/NumPy/", "https://pypi.org:443"},
      {"http://example.com", "http://example.com/", "example.com", 80, "/",
       "http://example.com:80"},
      {"http://example.com:80/a", "http://example.com/a", "example.com", 80, "/a",
       "http://example.com:80"},
      {"https://127.0.0.1:8443/x?y=1", "https://127.0.0.1:8443/x?y=1", "127.0.0.1", 8443, "/x?y=1",
       "https://127.0.0.1:8443"},
      {"http://[::1]:8080/p", "http://[::1]:8080/p", "::1", 8080, "/p", "http://[::1]:8080"},
      {"https://[2001:DB8::1]/", "https://[2001:db8::1]/", "2001:db8::1", 443, "/",
       "https://[2001:db8::1]:443"},
      {"https://h/a/./b/../c", "https://h/a/c", "h", 443, "/a/c", "https://h:443"},
      {"https://h/p?", "https://h/p?", "h", 443, "/p?", "https://h:443"},
      {"https://h/%7e%2fx", "https://h/%7E%2Fx", "h", 443, "/%7E%2Fx", "https://h:443"},
      {"https://h:/p", "https://h/p", "h", 443, "/p", "https://h:443"},
      {"https://user:secret@h/p#frag", "https://h/p", "h", 443, "/p", "https://h:443"},
  };
  for (const ParseCase& c : cases) {
    SCOPED_TRACE(c.input);
    auto url = Url::Parse(c.input);
    ASSERT_TRUE(url.has_value()) << url.error().message();
    EXPECT_EQ(url->str(), c.str);
    EXPECT_EQ(url->host(), c.host);
    EXPECT_EQ(url->port(), c.port);
    EXPECT_EQ(url->target(), c.target);
    EXPECT_EQ(url->origin(), c.origin);
  }
}

TEST(UrlTest, KeepsFragmentAndUserinfoOutOfStr) {
  auto url = Url::Parse("https://user:secret@files.example/f.whl#sha256=abc");
  ASSERT_TRUE(url.has_value());
  EXPECT_EQ(url->fragment(), "sha256=abc");
  EXPECT_TRUE(url->has_fragment());
  EXPECT_EQ(url->userinfo(), "user:secret");
  EXPECT_EQ(url->str().find("secret"), std::string::npos);
  EXPECT_EQ(url->origin().find("secret"), std::string::npos);
}

TEST(UrlTest, RejectsInvalidUrlsWithTheirCode) {
  const std::vector<std::pair<std::string, Errc>> cases = {
      {"ftp://example.com/", Errc::kUnsupportedScheme},
      {"file:///etc/passwd", Errc::kUnsupportedScheme},
      {"example.com/simple/", Errc::kInvalidUrl},
      {"/simple/", Errc::kInvalidUrl},
      {"https:/simple/", Errc::kInvalidUrl},
      {"https:///simple/", Errc::kInvalidUrl},
      {"https://exa mple.com/", Errc::kInvalidUrl},
      {"https://example.com/a b", Errc::kInvalidUrl},
      {"https://example.com/\x01", Errc::kInvalidUrl},
      {"https://example.com/caf\xc3\xa9", Errc::kInvalidUrl},
      {"https://example.com:0/", Errc::kInvalidUrl},
      {"https://example.com:65536/", Errc::kInvalidUrl},
      {"https://example.com:12a/", Errc::kInvalidUrl},
      {"https://[::1/", Errc::kInvalidUrl},
      {"https://[zz::1]/", Errc::kInvalidUrl},
      {"https://example.com/%zz", Errc::kInvalidUrl},
      {"https://example.com/%4", Errc::kInvalidUrl},
      {" https://example.com/", Errc::kInvalidUrl},
  };
  for (const auto& [input, code] : cases) {
    SCOPED_TRACE(input);
    auto url = Url::Parse(input);
    ASSERT_FALSE(url.has_value()) << url->str();
    EXPECT_EQ(url.error().code, make_error_code(code)) << url.error().message();
  }
}

// RFC 3986 §5.4.1 and §5.4.2 against the base "http://a/b/c/d;p?q". Fragments are kept in
// fragment(), not str(); an empty path becomes "/".
TEST(UrlTest, ResolvesTheRfc3986Examples) {
  auto base = Url::Parse("http://a/b/c/d;p?q");
  ASSERT_TRUE(base.has_value());
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"g", "http://a/b/c/g"},
      {"./g", "http://a/b/c/g"},
      {"g/", "http://a/b/c/g/"},
      {"/g", "http://a/g"},
      {"//g", "http://g/"},
      {"?y", "http://a/b/c/d;p?y"},
      {"g?y", "http://a/b/c/g?y"},
      {"#s", "http://a/b/c/d;p?q"},
      {"g#s", "http://a/b/c/g"},
      {"g?y#s", "http://a/b/c/g?y"},
      {";x", "http://a/b/c/;x"},
      {"g;x", "http://a/b/c/g;x"},
      {"g;x?y#s", "http://a/b/c/g;x?y"},
      {"", "http://a/b/c/d;p?q"},
      {".", "http://a/b/c/"},
      {"./", "http://a/b/c/"},
      {"..", "http://a/b/"},
      {"../", "http://a/b/"},
      {"../g", "http://a/b/g"},
      {"../..", "http://a/"},
      {"../../", "http://a/"},
      {"../../g", "http://a/g"},
      // §5.4.2 abnormal examples
      {"../../../g", "http://a/g"},
      {"../../../../g", "http://a/g"},
      {"/./g", "http://a/g"},
      {"/../g", "http://a/g"},
      {"g.", "http://a/b/c/g."},
      {".g", "http://a/b/c/.g"},
      {"g..", "http://a/b/c/g.."},
      {"..g", "http://a/b/c/..g"},
      {"./../g", "http://a/b/g"},
      {"./g/.", "http://a/b/c/g/"},
      {"g/./h", "http://a/b/c/g/h"},
      {"g/../h", "http://a/b/c/h"},
      {"g;x=1/./y", "http://a/b/c/g;x=1/y"},
      {"g;x=1/../y", "http://a/b/c/y"},
      {"g?y/./x", "http://a/b/c/g?y/./x"},
      {"g?y/../x", "http://a/b/c/g?y/../x"},
      {"g#s/./x", "http://a/b/c/g"},
      {"g#s/../x", "http://a/b/c/g"},
      // absolute references
      {"https://other.example/x", "https://other.example/x"},
      {"HTTP://A/B/../C", "http://a/C"},
  };
  for (const auto& [reference, expected] : cases) {
    SCOPED_TRACE(reference);
    auto resolved = base->Resolve(reference);
    ASSERT_TRUE(resolved.has_value()) << resolved.error().message();
    EXPECT_EQ(resolved->str(), expected);
  }
}

TEST(UrlTest, ResolveKeepsTheReferenceFragment) {
  auto base = Url::Parse("http://a/b/c/d;p?q#base");
  ASSERT_TRUE(base.has_value());
  auto resolved = base->Resolve("g#s/../x");
  ASSERT_TRUE(resolved.has_value());
  EXPECT_EQ(resolved->fragment(), "s/../x");
  auto same = base->Resolve("");
  ASSERT_TRUE(same.has_value());
  EXPECT_FALSE(same->has_fragment());
}

TEST(UrlTest, ResolveRejectsReferencesThatAreNotHttpUrls) {
  auto base = Url::Parse("http://a/b/c/d;p?q");
  ASSERT_TRUE(base.has_value());
  auto other_scheme = base->Resolve("g:h");
  ASSERT_FALSE(other_scheme.has_value());
  EXPECT_EQ(other_scheme.error().code, make_error_code(Errc::kUnsupportedScheme));
  // Strict RFC 3986 parsers read "http:g" as scheme "http" with no authority.
  auto no_authority = base->Resolve("http:g");
  ASSERT_FALSE(no_authority.has_value());
  EXPECT_EQ(no_authority.error().code, make_error_code(Errc::kInvalidUrl));
  auto with_space = base->Resolve("a b");
  ASSERT_FALSE(with_space.has_value());
  EXPECT_EQ(with_space.error().code, make_error_code(Errc::kInvalidUrl));
}

TEST(UrlTest, FileUrlsParseOnlyWhenAskedFor) {
  auto plain = Url::Parse("file:///srv/pypi/simple/");
  ASSERT_FALSE(plain.has_value());
  EXPECT_EQ(plain.error().code, make_error_code(Errc::kUnsupportedScheme));

  for (const char* text : {"file:///srv/pypi/simple/", "FILE://localhost/srv/pypi/simple/",
                           "file:/srv/pypi/simple/", "file:///srv/pypi/x/../simple/"}) {
    SCOPED_TRACE(text);
    auto url = Url::Parse(text, Schemes::kHttpOrFile);
    ASSERT_TRUE(url.has_value()) << url.error().message();
    EXPECT_TRUE(url->is_file());
    EXPECT_EQ(url->scheme(), "file");
    EXPECT_EQ(url->host(), "");
    EXPECT_EQ(url->path(), "/srv/pypi/simple/");
    EXPECT_EQ(url->str(), "file:///srv/pypi/simple/");
    EXPECT_EQ(url->origin(), "file://");
  }
  for (const char* text : {"file://fileserver/srv/pypi/", "file:srv/pypi/", "file://"}) {
    SCOPED_TRACE(text);
    auto url = Url::Parse(text, Schemes::kHttpOrFile);
    ASSERT_FALSE(url.has_value()) << url->str();
    EXPECT_EQ(url.error().code, make_error_code(Errc::kInvalidUrl)) << url.error().message();
  }
  auto ftp = Url::Parse("ftp://example.com/", Schemes::kHttpOrFile);
  ASSERT_FALSE(ftp.has_value());
  EXPECT_EQ(ftp.error().code, make_error_code(Errc::kUnsupportedScheme));
}

TEST(UrlTest, FileResultsOnlyResolveAgainstAFileBase) {
  auto page = Url::Parse("file:///srv/pypi/simple/foo/", Schemes::kHttpOrFile);
  ASSERT_TRUE(page.has_value());
  auto file = page->Resolve("../../packages/ab/cd/foo-1.0.tar.gz#sha256=00");
  ASSERT_TRUE(file.has_value()) << file.error().message();
  EXPECT_EQ(file->str(), "file:///srv/pypi/packages/ab/cd/foo-1.0.tar.gz");
  EXPECT_EQ(file->fragment(), "sha256=00");
  auto rooted = page->Resolve("/elsewhere/foo.whl");
  ASSERT_TRUE(rooted.has_value());
  EXPECT_EQ(rooted->str(), "file:///elsewhere/foo.whl");
  // A local index may point at files on another origin.
  auto remote = page->Resolve("https://files.example/p/foo.whl");
  ASSERT_TRUE(remote.has_value()) << remote.error().message();
  EXPECT_EQ(remote->str(), "https://files.example/p/foo.whl");

  // A page fetched over the network can never name a local file.
  auto web = Url::Parse("https://pypi.example/simple/foo/");
  ASSERT_TRUE(web.has_value());
  for (const char* reference : {"file:///etc/passwd", "file://localhost/etc/passwd"}) {
    auto local = web->Resolve(reference);
    ASSERT_FALSE(local.has_value()) << local->str();
    EXPECT_EQ(local.error().code, make_error_code(Errc::kUnsupportedScheme));
  }
}

TEST(UrlTest, PercentEncodesEverythingButUnreserved) {
  EXPECT_EQ(PercentEncodePathSegment("Abc-1.0_x~y"), "Abc-1.0_x~y");
  EXPECT_EQ(PercentEncodePathSegment("a+b"), "a%2Bb");
  EXPECT_EQ(PercentEncodePathSegment("100%"), "100%25");
  EXPECT_EQ(PercentEncodePathSegment("a b/c?d#e"), "a%20b%2Fc%3Fd%23e");
  EXPECT_EQ(PercentEncodePathSegment("caf\xc3\xa9"), "caf%C3%A9");
  EXPECT_EQ(PercentEncodePathSegment(std::string("\x00\xff", 2)), "%00%FF");
  EXPECT_EQ(PercentEncodePathSegment(""), "");
}

TEST(UrlTest, PercentDecodeInvertsEncodeAndKeepsPlus) {
  for (std::string text : {"a+b", "100%", "caf\xc3\xa9", "a b/c?d#e", "~._-"}) {
    SCOPED_TRACE(text);
    auto decoded = PercentDecode(PercentEncodePathSegment(text));
    ASSERT_TRUE(decoded.has_value());
    EXPECT_EQ(*decoded, text);
  }
  auto plus = PercentDecode("a+b%2b%2B");
  ASSERT_TRUE(plus.has_value());
  EXPECT_EQ(*plus, "a+b++");
}

TEST(UrlTest, PercentDecodeRejectsBadEscapes) {
  for (std::string text : {"%", "%4", "%zz", "a%g0", "ab%"}) {
    SCOPED_TRACE(text);
    auto decoded = PercentDecode(text);
    ASSERT_FALSE(decoded.has_value());
    EXPECT_EQ(decoded.error().code, make_error_code(Errc::kInvalidUrl));
  }
}

TEST(UrlTest, EncodedSegmentParsesAsPartOfAUrl) {
  auto url = Url::Parse("https://files.example/packages/" +
                        PercentEncodePathSegment("caf\xc3\xa9 1+1.whl"));
  ASSERT_TRUE(url.has_value()) << url.error().message();
  EXPECT_EQ(url->path(), "/packages/caf%C3%A9%201%2B1.whl");
}

}  // namespace
}  // namespace cistern::net
