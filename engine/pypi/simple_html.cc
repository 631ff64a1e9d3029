#include "engine/pypi/simple_html.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "engine/pypi/html_tokenizer.h"
#include "engine/pypi/simple_json.h"

namespace cistern::engine {
namespace {

constexpr size_t kNpos = std::string_view::npos;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool IsHexDigit(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

int HexValue(char c) { return IsDigit(c) ? c - '0' : (c | 0x20) - 'a' + 10; }

// Anchor text, headings and meta values: decoded, surrounding whitespace trimmed.
std::string DecodedTrimmed(std::string_view raw) {
  std::string text = DecodeHtmlReferences(TrimHtmlSpace(raw));
  if (const std::string_view trimmed = TrimHtmlSpace(text); trimmed.size() != text.size()) {
    text = std::string(trimmed);  // a reference decoded to whitespace: "&#32;x"
  }
  return text;
}

// An `href` as a URL parser reads it (WHATWG URL, which browsers and Python's urllib, hence pip,
// follow): decoded, without leading and trailing C0 controls and spaces, tabs and newlines
// removed.
std::string CleanUrl(std::string_view raw) {
  std::string url = DecodeHtmlReferences(raw);
  const auto is_c0_or_space = [](char c) { return static_cast<unsigned char>(c) <= 0x20; };
  const auto is_tab_or_newline = [](char c) { return c == '\t' || c == '\n' || c == '\r'; };
  if (!url.empty() && (is_c0_or_space(url.front()) || is_c0_or_space(url.back()))) {
    const auto first = std::find_if_not(url.begin(), url.end(), is_c0_or_space);
    const auto last = std::find_if_not(url.rbegin(), url.rend(), is_c0_or_space).base();
    url = first < last ? std::string(first, last) : std::string();
  }
  const auto contains = [&url](char c) {
    return std::memchr(url.data(), c, url.size()) != nullptr;
  };
  if (contains('\t') || contains('\n') || contains('\r')) {
    std::erase_if(url, is_tab_or_newline);
  }
  return url;
}

// Decodes %XX escapes; a '%' not followed by two hex digits stays as it is (as urllib's unquote).
std::string PercentDecoded(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && IsHexDigit(text[i + 1]) &&
        IsHexDigit(text[i + 2])) {
      out += static_cast<char>(HexValue(text[i + 1]) * 16 + HexValue(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

// The path of `url`: without its query and fragment.
std::string_view UrlPath(std::string_view url) { return url.substr(0, url.find_first_of("?#")); }

// The text after the last '/' (the whole path when it has none; empty when it ends in '/').
std::string_view LastSegment(std::string_view path) { return path.substr(path.rfind('/') + 1); }

std::string_view LastNonEmptySegment(std::string_view path) {
  while (!path.empty() && path.back() == '/') {
    path.remove_suffix(1);
  }
  return LastSegment(path);
}

// For each byte: itself lowercased when it may appear in a hash name (as in Python's hashlib:
// letters, digits, '_' and '-') or a hex digest, else 0.
constexpr std::array<char, 256> LowerTable(bool hex) {
  std::array<char, 256> table{};
  for (char c = '0'; c <= '9'; ++c) {
    table[static_cast<unsigned char>(c)] = c;
  }
  for (char c = 'a'; c <= (hex ? 'f' : 'z'); ++c) {
    table[static_cast<unsigned char>(c)] = c;
    table[static_cast<unsigned char>(c - 'a' + 'A')] = c;
  }
  if (!hex) {
    table['_'] = '_';
    table['-'] = '-';
  }
  return table;
}
constexpr std::array<char, 256> kHashNameLower = LowerTable(false);
constexpr std::array<char, 256> kHexDigitLower = LowerTable(true);

// Lowercases `text` through `table`; false when a byte has no entry. Branch-free per byte: hex
// digests mix digits and letters at random.
bool LowercaseThrough(const std::array<char, 256>& table, std::string& text) {
  bool valid = true;
  char* const bytes = text.data();
  const char* const lower = table.data();
  for (size_t i = 0; i < text.size(); ++i) {
    bytes[i] = lower[static_cast<unsigned char>(bytes[i])];
    valid &= bytes[i] != 0;
  }
  return valid;
}

// `<hashname>=<hex>` (PEP 503 fragments, PEP 658 values) -> lowercase name and hex; nullopt for
// anything else.
std::optional<std::pair<std::string, std::string>> ParseHash(std::string_view text) {
  const size_t equals = text.find('=');
  if (equals == 0 || equals == kNpos || equals + 1 == text.size()) {
    return std::nullopt;
  }
  std::pair<std::string, std::string> hash(text.substr(0, equals), text.substr(equals + 1));
  if (!LowercaseThrough(kHashNameLower, hash.first) ||
      !LowercaseThrough(kHexDigitLower, hash.second)) {
    return std::nullopt;
  }
  return hash;
}

// Decimal digits only (no sign, no space), fitting `T`; nullopt otherwise.
template <class T>
std::optional<T> ParseDecimal(std::string_view digits) {
  T value = 0;
  const char* end = digits.data() + digits.size();
  const auto [stop, error] = std::from_chars(digits.data(), end, value);
  if (digits.empty() || !IsDigit(digits.front()) || error != std::errc() || stop != end) {
    return std::nullopt;
  }
  return value;
}

// For each of `names` (lowercase), the value of the first attribute of that name in any case:
// HTML5 drops later duplicates.
template <size_t N>
std::array<std::optional<std::string_view>, N> Pick(std::span<const HtmlAttribute> attributes,
                                                    const std::array<std::string_view, N>& names) {
  std::array<std::optional<std::string_view>, N> values;
  for (const HtmlAttribute& attribute : attributes) {
    for (size_t i = 0; i < N; ++i) {
      if (EqualsIgnoringAsciiCase(attribute.name, names[i])) {
        if (!values[i]) {
          values[i] = attribute.value;
        }
        break;
      }
    }
  }
  return values;
}

// What the pages of both kinds say outside their anchors.
struct PageFacts {
  std::optional<std::string> api_version;  // `pypi:repository-version`, decoded and trimmed
  std::optional<int64_t> last_serial;
  std::string name;
  ProjectStatus status;
  std::optional<std::string> base_url;
};

// The attributes of an `<a href>` that cistern reads, views into the body, not decoded yet.
struct Anchor {
  std::string_view href;
  std::optional<std::string_view> requires_python;
  std::optional<std::string_view> yanked;
  std::optional<std::string_view> core_metadata;
  std::optional<std::string_view> dist_info_metadata;
  std::optional<std::string_view> size;
  std::optional<std::string_view> upload_time;
};

constexpr std::array<std::string_view, 7> kAnchorAttributes = {"href",
                                                               "data-requires-python",
                                                               "data-yanked",
                                                               "data-core-metadata",
                                                               "data-dist-info-metadata",
                                                               "data-size",
                                                               "data-upload-time"};

// Follows a page token by token: meta tags, `<base>`, serial comments and headings go into
// PageFacts, and each anchor with an `href` is handed, with its raw text, to
// `on_anchor(const Anchor&, std::string_view)` once it ends. An anchor ends at `</a>`, at the next
// `<a>` (HTML5 closes the open one) or at the end of the body; its text is all the text inside
// it, inner tags left out. No state but a few flags: nesting cannot make it recurse or loop.
template <class OnAnchor>
class PageReader {
 public:
  explicit PageReader(OnAnchor on_anchor) : on_anchor_(std::move(on_anchor)) {}

  void Take(const HtmlToken& token) {
    switch (token.kind) {
      case HtmlToken::Kind::kStartTag:
        OnStartTag(token.tag, token.attributes);
        break;
      case HtmlToken::Kind::kEndTag:
        OnEndTag(token.tag);
        break;
      case HtmlToken::Kind::kText:
        OnText(token.text);
        break;
      case HtmlToken::Kind::kComment:
        OnComment(token.text);
        break;
    }
  }

  // Ends what the body left open and returns what the page said besides its anchors.
  PageFacts Finish() && {
    CloseAnchor();
    CloseHeading();
    return std::move(facts_);
  }

 private:
  void OnStartTag(HtmlTag tag, std::span<const HtmlAttribute> attributes) {
    switch (tag) {
      case HtmlTag::kA:
        CloseAnchor();
        OpenAnchor(attributes);
        break;
      case HtmlTag::kMeta:
        Meta(attributes);
        break;
      case HtmlTag::kBase:
        // HTML5: the first `<base>` with an `href` is the document's base URL.
        if (const auto [href] = Pick(attributes, std::array<std::string_view, 1>{"href"});
            href && !facts_.base_url) {
          facts_.base_url = CleanUrl(*href);
        }
        break;
      case HtmlTag::kTitle:
      case HtmlTag::kH1:
        CloseHeading();
        if (facts_.name.empty()) {
          heading_ = tag;
          heading_text_.clear();
        }
        break;
      default:
        break;
    }
  }

  void OnEndTag(HtmlTag tag) {
    if (tag == HtmlTag::kA) {
      CloseAnchor();
    } else if (tag == heading_) {
      CloseHeading();
    }
  }

  void OnText(std::string_view raw) {
    if (in_anchor_) {
      anchor_text_.append(raw);
    }
    if (heading_ != HtmlTag::kOther) {
      heading_text_.append(raw);
    }
  }

  void OnComment(std::string_view content) {
    // PyPI and bandersnatch write `<!--SERIAL n-->`, after `</html>`. The last such comment
    // counts; one whose number does not read leaves the serial unknown.
    const std::string_view text = TrimHtmlSpace(content);
    if (!text.starts_with("SERIAL")) {
      return;
    }
    const std::string_view rest = text.substr(6);
    if (!rest.empty() && !IsHtmlSpace(rest.front())) {
      return;  // "SERIALIZED ...": some other comment
    }
    facts_.last_serial = ParseDecimal<int64_t>(TrimHtmlSpace(rest));
  }

  void OpenAnchor(std::span<const HtmlAttribute> attributes) {
    const auto values = Pick(attributes, kAnchorAttributes);
    // `<a name=...>` and the like link nothing; nor, for pip, does an empty `href`.
    if (!values[0] || TrimHtmlSpace(*values[0]).empty()) {
      return;
    }
    anchor_ = Anchor{*values[0], values[1], values[2], values[3], values[4], values[5], values[6]};
    anchor_text_.clear();
    in_anchor_ = true;
  }

  void CloseAnchor() {
    if (in_anchor_) {
      in_anchor_ = false;
      on_anchor_(anchor_, std::string_view(anchor_text_));
    }
  }

  // Warehouse and bandersnatch title a project page "Links for NAME", in `<title>` and `<h1>`.
  void CloseHeading() {
    if (heading_ == HtmlTag::kOther) {
      return;
    }
    heading_ = HtmlTag::kOther;
    const std::string text = DecodedTrimmed(heading_text_);
    constexpr std::string_view kPrefix = "Links for";
    const std::string_view rest =
        std::string_view(text).substr(std::min(text.size(), kPrefix.size()));
    if (text.starts_with(kPrefix) && !rest.empty() && IsHtmlSpace(rest.front())) {
      facts_.name = std::string(TrimHtmlSpace(rest));
    }
  }

  // PEP 629 `pypi:repository-version`, PEP 792 `pypi:project-status` and
  // `pypi:project-status-reason`; the first of each counts. HTML compares metadata names ignoring
  // ASCII case (HTML5 §4.2.5.2).
  void Meta(std::span<const HtmlAttribute> attributes) {
    const auto [name, content] =
        Pick(attributes, std::array<std::string_view, 2>{"name", "content"});
    if (!name || !content) {
      return;
    }
    if (EqualsIgnoringAsciiCase(*name, "pypi:repository-version")) {
      if (!facts_.api_version) {
        facts_.api_version = DecodedTrimmed(*content);
      }
    } else if (EqualsIgnoringAsciiCase(*name, "pypi:project-status")) {
      if (!status_seen_) {
        status_seen_ = true;
        facts_.status.status = DecodeHtmlReferences(*content);
      }
    } else if (EqualsIgnoringAsciiCase(*name, "pypi:project-status-reason")) {
      if (!facts_.status.reason) {
        facts_.status.reason = DecodeHtmlReferences(*content);
      }
    }
  }

  OnAnchor on_anchor_;
  PageFacts facts_;
  bool status_seen_ = false;
  bool in_anchor_ = false;
  Anchor anchor_;
  std::string anchor_text_;            // raw text of the open anchor; reused across anchors
  HtmlTag heading_ = HtmlTag::kOther;  // the open `<title>` or `<h1>` that may name the project
  std::string heading_text_;
};

// Reads `body` to its end, handing each anchor to `on_anchor`.
template <class OnAnchor>
PageFacts ReadPage(std::string_view body, OnAnchor on_anchor) {
  PageReader reader(std::move(on_anchor));
  HtmlTokenizer tokenizer(body);
  HtmlToken token;
  while (tokenizer.Next(token)) {
    reader.Take(token);
  }
  return std::move(reader).Finish();
}

// PEP 629: absent means 1.0; another major version is an error (the message names the meta tag).
std::optional<std::string> ApiVersionFailure(const std::optional<std::string>& version) {
  if (!version || IsSupportedApiVersion(*version)) {
    return std::nullopt;
  }
  return fmt::format("unsupported pypi:repository-version \"{}\" (cistern reads major version 1)",
                     *version);
}

// PEP 658: "true" or `<hashname>=<hashvalue>`. Anything else is read as no metadata file rather
// than pip's "a file without a hash": cistern would otherwise fetch a file the server never
// promised.
CoreMetadata ParseCoreMetadata(std::string_view value) {
  CoreMetadata metadata;
  if (EqualsIgnoringAsciiCase(value, "true")) {
    metadata.available = true;
  } else if (auto hash = ParseHash(value)) {
    metadata.available = true;
    metadata.hashes.insert(std::move(*hash));
  }
  return metadata;
}

IndexEntry EntryFromAnchor(const Anchor& anchor, std::string_view raw_text) {
  IndexEntry entry;
  // PEP 503: "the text of the anchor tag MUST be the name of the project".
  entry.name = DecodedTrimmed(raw_text);
  if (entry.name.empty()) {
    entry.name = PercentDecoded(LastNonEmptySegment(UrlPath(CleanUrl(anchor.href))));
  }
  return entry;
}

UpstreamFile FileFromAnchor(const Anchor& anchor, std::string_view raw_text) {
  UpstreamFile file;
  file.url = CleanUrl(anchor.href);
  // PEP 503: the URL SHOULD carry `#<hashname>=<hashvalue>`. Another fragment (setuptools'
  // `#egg=`) is no hash; both are cut from the URL, which is fetched without them.
  if (const size_t hash = file.url.find('#'); hash != kNpos) {
    if (auto parsed = ParseHash(std::string_view(file.url).substr(hash + 1))) {
      file.hashes.insert(std::move(*parsed));
    }
    file.url.resize(hash);
  }
  // PEP 503: the text MUST be the filename; a page that leaves it out still names the file in
  // its URL, which is what pip reads.
  file.filename = DecodedTrimmed(raw_text);
  if (file.filename.empty()) {
    file.filename = PercentDecoded(LastSegment(UrlPath(file.url)));
  }
  // PEP 503 escapes `<` and `>` in the specifier; many servers do not, which quoting allows.
  if (anchor.requires_python) {
    file.requires_python = DecodeHtmlReferences(*anchor.requires_python);
  }
  // PEP 592: present means yanked, and the value, possibly empty, is the reason. A bare attribute
  // has the empty value (HTML5); pip, through Python's HTMLParser, reads it as not yanked, but a
  // mirror should not drop a yank its upstream meant.
  if (anchor.yanked) {
    file.yanked = Yanked{true, DecodeHtmlReferences(*anchor.yanked)};
  }
  // PEP 714: `data-core-metadata` first; the PEP 658 name only when it is absent.
  if (const auto& metadata =
          anchor.core_metadata ? anchor.core_metadata : anchor.dist_info_metadata) {
    file.core_metadata = ParseCoreMetadata(DecodeHtmlReferences(*metadata));
  }
  if (anchor.size) {
    file.size = ParseDecimal<uint64_t>(DecodeHtmlReferences(*anchor.size));
  }
  if (anchor.upload_time) {
    if (std::string time = DecodeHtmlReferences(*anchor.upload_time); !time.empty()) {
      file.upload_time = std::move(time);
    }
  }
  return file;
}

}  // namespace

Result<RootIndex> SimpleHtmlParser::ParseRoot(std::string_view body) const {
  RootIndex root;
  PageFacts facts = ReadPage(body, [&root](const Anchor& anchor, std::string_view text) {
    root.projects.push_back(EntryFromAnchor(anchor, text));
  });
  if (auto failure = ApiVersionFailure(facts.api_version)) {
    return tl::make_unexpected(MakeError(Errc::kUpstreamIndex, std::move(*failure)));
  }
  root.api_version = facts.api_version.value_or("1.0");
  root.last_serial = facts.last_serial;
  return root;
}

Result<ProjectPage> SimpleHtmlParser::ParseProject(std::string_view body) const {
  ProjectPage page;
  PageFacts facts = ReadPage(body, [&page](const Anchor& anchor, std::string_view text) {
    page.files.push_back(FileFromAnchor(anchor, text));
  });
  if (auto failure = ApiVersionFailure(facts.api_version)) {
    return tl::make_unexpected(MakeError(Errc::kProjectPage, std::move(*failure)));
  }
  page.api_version = facts.api_version.value_or("1.0");
  page.last_serial = facts.last_serial;
  page.name = std::move(facts.name);
  page.status = std::move(facts.status);
  page.base_url = std::move(facts.base_url);
  return page;
}

}  // namespace cistern::engine
