#pragma once

// A small HTML tokenizer for the simple index's HTML form (`simple_html.h`): start and end tags
// with their attributes, text and comments, read the way HTML5's tokenizer reads them, reduced to
// what a PEP 503 page needs. It never fails: any byte string is some sequence of tokens.
//
// Follows HTML5 (WHATWG "Parsing HTML documents", §13.2.5) where a page could otherwise be read
// two ways: tag and attribute names in any case; attribute values double-quoted, single-quoted or
// unquoted; `<script>`, `<style>` and the other raw-text elements hold no tags; `<title>` and
// `<textarea>` hold only text; doctypes, processing instructions and CDATA are skipped; a tag cut
// off by the end of the body is dropped. It does not build a tree, and it decodes nothing: text
// and values are views into the body (`DecodeHtmlReferences` decodes them).
//
// Cost: linear in the body; each byte is looked at a bounded number of times, and tags do not
// allocate once the attribute buffer has grown to the widest tag.
// Thread safety: one tokenizer per thread.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cistern::engine {

// The elements a simple index page uses, and those whose content the tokenizer reads specially.
enum class HtmlTag : uint8_t {
  kOther,
  kA,
  kBase,
  kMeta,
  kTitle,  // text only (HTML5 "RCDATA")
  kH1,
  kTextarea,   // text only
  kRawText,    // script, style, xmp, iframe, noembed, noframes: neither tags nor text
  kPlaintext,  // the rest of the body is text
};

// One attribute of a start tag. Both are views into the body; the value is not decoded, and is
// empty for an attribute written without one.
struct HtmlAttribute {
  std::string_view name;
  std::string_view value;
};

// One token: a start tag with its attributes, an end tag, a run of text or a comment.
struct HtmlToken {
  enum class Kind : uint8_t { kStartTag, kEndTag, kText, kComment };
  Kind kind = Kind::kText;
  HtmlTag tag = HtmlTag::kOther;              // start and end tags
  std::string_view text;                      // text (not decoded) or a comment's content
  std::span<const HtmlAttribute> attributes;  // start tags, in document order, duplicates kept
};

class HtmlTokenizer {
 public:
  // Lifetime: `body` must outlive the tokenizer and every token it returns.
  explicit HtmlTokenizer(std::string_view body) : body_(body) {}

  // Reads the next token into `token`; false at the end of the body. Text may come in several
  // tokens. Lifetime: `token.attributes` is valid until the next call.
  bool Next(HtmlToken& token);

 private:
  bool ReadMarkup(size_t lt, HtmlToken& token);
  bool ReadStartTag(size_t name_start, HtmlToken& token);
  size_t ReadTag(size_t name_start, std::string_view& name);
  bool ReadComment(size_t start, HtmlToken& token);
  size_t FindPast(char c, size_t from) const;
  size_t FindEndTag(std::string_view name, size_t from) const;

  std::string_view body_;
  size_t position_ = 0;
  size_t text_end_ = 0;  // after a `<title>` or `<textarea>` tag: where its text ends
  std::vector<HtmlAttribute> attributes_;  // of the last start tag; reused
};

// `raw` with its character references decoded to UTF-8: `&amp;`, `&lt;`, `&gt;`, `&quot;`,
// `&apos;` (and the upper-case forms HTML5 knows), `&#NNN;` and `&#xHH;`. The `;` is required;
// other names, NUL, surrogates and numbers beyond U+10FFFF are left as they are.
std::string DecodeHtmlReferences(std::string_view raw);

// HTML's ASCII whitespace: tab, LF, FF, CR and space.
inline bool IsHtmlSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

// `text` without leading and trailing HTML whitespace.
std::string_view TrimHtmlSpace(std::string_view text);

// True when `a` and `b` are equal ignoring ASCII case.
bool EqualsIgnoringAsciiCase(std::string_view a, std::string_view b);

}  // namespace cistern::engine
