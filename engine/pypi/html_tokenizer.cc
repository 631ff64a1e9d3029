#include "engine/pypi/html_tokenizer.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

namespace cistern::engine {
namespace {

constexpr size_t kNpos = std::string_view::npos;

bool IsAsciiAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool IsHexDigit(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

uint32_t DigitValue(char c) {
  return static_cast<uint32_t>(IsDigit(c) ? c - '0' : (c | 0x20) - 'a' + 10);
}

char AsciiLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

HtmlTag Classify(std::string_view name) {
  static constexpr std::array<std::pair<std::string_view, HtmlTag>, 13> kTags = {{
      {"a", HtmlTag::kA},
      {"base", HtmlTag::kBase},
      {"meta", HtmlTag::kMeta},
      {"title", HtmlTag::kTitle},
      {"h1", HtmlTag::kH1},
      {"textarea", HtmlTag::kTextarea},
      {"script", HtmlTag::kRawText},
      {"style", HtmlTag::kRawText},
      {"xmp", HtmlTag::kRawText},
      {"iframe", HtmlTag::kRawText},
      {"noembed", HtmlTag::kRawText},
      {"noframes", HtmlTag::kRawText},
      {"plaintext", HtmlTag::kPlaintext},
  }};
  for (const auto& [known, tag] : kTags) {
    if (EqualsIgnoringAsciiCase(name, known)) {
      return tag;
    }
  }
  return HtmlTag::kOther;
}

void AppendUtf8(std::string& out, uint32_t code_point) {
  if (code_point < 0x80) {
    out += static_cast<char>(code_point);
  } else if (code_point < 0x800) {
    out += static_cast<char>(0xC0 | (code_point >> 6));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else if (code_point < 0x10000) {
    out += static_cast<char>(0xE0 | (code_point >> 12));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code_point >> 18));
    out += static_cast<char>(0x80 | ((code_point >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  }
}

// Decodes the reference at the start of `text` (a '&') onto `out` and returns its length, or 0
// when it is not one DecodeHtmlReferences knows. The digits of a numeric reference are read once
// whatever their number, so decoding stays linear.
size_t AppendReference(std::string& out, std::string_view text) {
  if (text.size() > 2 && text[1] == '#') {
    const bool hex = text[2] == 'x' || text[2] == 'X';
    const size_t digits_start = hex ? 3 : 2;
    size_t i = digits_start;
    uint32_t value = 0;
    for (; i < text.size() && (hex ? IsHexDigit(text[i]) : IsDigit(text[i])); ++i) {
      // Saturates above U+10FFFF, so a long run of digits cannot overflow.
      value = std::min<uint32_t>(value * (hex ? 16u : 10u) + DigitValue(text[i]), 0x110000);
    }
    const bool scalar = value != 0 && value <= 0x10FFFF && (value < 0xD800 || value > 0xDFFF);
    if (i == digits_start || i >= text.size() || text[i] != ';' || !scalar) {
      return 0;
    }
    AppendUtf8(out, value);
    return i + 1;
  }
  // HTML5 names are case-sensitive; its table has these upper-case forms too (not `&APOS;`).
  static constexpr std::array<std::pair<std::string_view, char>, 9> kNamed = {{
      {"amp;", '&'},
      {"lt;", '<'},
      {"gt;", '>'},
      {"quot;", '"'},
      {"apos;", '\''},
      {"AMP;", '&'},
      {"LT;", '<'},
      {"GT;", '>'},
      {"QUOT;", '"'},
  }};
  const std::string_view name = text.substr(1);
  for (const auto& [known, c] : kNamed) {
    if (name.starts_with(known)) {
      out += c;
      return 1 + known.size();
    }
  }
  return 0;
}

}  // namespace

std::string DecodeHtmlReferences(std::string_view raw) {
  size_t amp = raw.find('&');
  if (amp == kNpos) {
    return std::string(raw);
  }
  std::string out;
  out.reserve(raw.size());
  size_t done = 0;
  while (amp != kNpos) {
    out.append(raw.substr(done, amp - done));
    const size_t taken = AppendReference(out, raw.substr(amp));
    if (taken == 0) {
      out += '&';
      done = amp + 1;
    } else {
      done = amp + taken;
    }
    amp = raw.find('&', done);
  }
  out.append(raw.substr(done));
  return out;
}

std::string_view TrimHtmlSpace(std::string_view text) {
  while (!text.empty() && IsHtmlSpace(text.front())) {
    text.remove_prefix(1);
  }
  while (!text.empty() && IsHtmlSpace(text.back())) {
    text.remove_suffix(1);
  }
  return text;
}

bool EqualsIgnoringAsciiCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (AsciiLower(a[i]) != AsciiLower(b[i])) {
      return false;
    }
  }
  return true;
}

bool HtmlTokenizer::Next(HtmlToken& token) {
  while (position_ < body_.size()) {
    token = HtmlToken{};
    if (text_end_ > position_) {
      token.text = body_.substr(position_, text_end_ - position_);
      position_ = text_end_;
      return true;
    }
    const size_t lt = body_.find('<', position_);
    if (lt != position_) {
      const size_t end = lt == kNpos ? body_.size() : lt;
      token.text = body_.substr(position_, end - position_);
      position_ = end;
      return true;
    }
    if (ReadMarkup(lt, token)) {
      return true;
    }
  }
  return false;
}

// Reads the markup at `lt` (a '<'), moving past it. Returns whether it made a token: doctypes,
// processing instructions, CDATA and tags cut off by the end of the body make none.
bool HtmlTokenizer::ReadMarkup(size_t lt, HtmlToken& token) {
  const std::string_view rest = body_.substr(lt);
  if (rest.starts_with("<!--")) {
    return ReadComment(lt + 4, token);
  }
  if (rest.starts_with("<!") || rest.starts_with("<?")) {
    position_ = FindPast('>', lt + 2);  // HTML5 "bogus comment"
    return false;
  }
  if (rest.starts_with("</")) {
    if (rest.size() > 2 && IsAsciiAlpha(rest[2])) {
      std::string_view name;
      const size_t end = ReadTag(lt + 2, name);
      position_ = end == kNpos ? body_.size() : end;
      token.kind = HtmlToken::Kind::kEndTag;
      token.tag = Classify(name);
      return end != kNpos;
    }
    if (rest.size() == 2) {
      token.text = rest;  // "</" at the very end is text
      position_ = body_.size();
      return true;
    }
    position_ = FindPast('>', lt + 2);  // "</>" is dropped, "</ x>" is a bogus comment
    return false;
  }
  if (rest.size() > 1 && IsAsciiAlpha(rest[1])) {
    return ReadStartTag(lt + 1, token);
  }
  token.text = rest.substr(0, 1);  // a '<' that starts no markup is text
  position_ = lt + 1;
  return true;
}

bool HtmlTokenizer::ReadStartTag(size_t name_start, HtmlToken& token) {
  std::string_view name;
  const size_t end = ReadTag(name_start, name);
  if (end == kNpos) {
    position_ = body_.size();
    return false;
  }
  token.kind = HtmlToken::Kind::kStartTag;
  token.tag = Classify(name);
  token.attributes = attributes_;
  position_ = end;
  switch (token.tag) {
    case HtmlTag::kTitle:
    case HtmlTag::kTextarea:
      text_end_ = FindEndTag(name, end);
      break;
    case HtmlTag::kRawText:
      position_ = FindEndTag(name, end);
      break;
    case HtmlTag::kPlaintext:
      text_end_ = body_.size();
      break;
    default:
      break;
  }
  return true;
}

// Reads a tag's name and attributes from `name_start` (the byte after "<" or "</") into `name`
// and `attributes_`. Returns the position after the closing '>', or kNpos when the body ends
// inside the tag. Walks plain pointers: this loop sees every byte of every tag, and in the
// sanitizer build each `string_view::operator[]` would be a call.
size_t HtmlTokenizer::ReadTag(size_t name_start, std::string_view& name) {
  attributes_.clear();
  const char* const begin = body_.data();
  const char* const end = begin + body_.size();
  const auto view = [](const char* from, const char* to) {
    return std::string_view(from, static_cast<size_t>(to - from));
  };
  const char* p = begin + name_start;
  while (p < end && !IsHtmlSpace(*p) && *p != '/' && *p != '>') {
    ++p;
  }
  name = view(begin + name_start, p);
  while (true) {
    // A '/' between attributes is ignored, so `<a/href=x>` has an `href` (HTML5 §13.2.5.40).
    while (p < end && (IsHtmlSpace(*p) || *p == '/')) {
      ++p;
    }
    if (p == end) {
      return kNpos;
    }
    if (*p == '>') {
      return static_cast<size_t>(p + 1 - begin);
    }
    // The name's first byte may be '='; after that it ends at space, '/', '>' or '='.
    const char* const attribute_start = p++;
    while (p < end && !IsHtmlSpace(*p) && *p != '/' && *p != '>' && *p != '=') {
      ++p;
    }
    HtmlAttribute attribute{view(attribute_start, p), {}};
    while (p < end && IsHtmlSpace(*p)) {
      ++p;
    }
    if (p == end) {
      return kNpos;
    }
    if (*p != '=') {
      attributes_.push_back(attribute);  // no value
      continue;
    }
    ++p;
    while (p < end && IsHtmlSpace(*p)) {
      ++p;
    }
    if (p == end) {
      return kNpos;
    }
    if (*p == '"' || *p == '\'') {
      const auto* close =
          static_cast<const char*>(std::memchr(p + 1, *p, static_cast<size_t>(end - p - 1)));
      if (close == nullptr) {
        return kNpos;
      }
      attribute.value = view(p + 1, close);
      p = close + 1;
    } else {
      const char* const value_start = p;
      while (p < end && !IsHtmlSpace(*p) && *p != '>') {
        ++p;
      }
      attribute.value = view(value_start, p);
    }
    attributes_.push_back(attribute);
  }
}

// Reads a comment whose content starts at `start`. HTML5: "<!-->" and "<!--->" are empty
// comments, "--!>" ends one as "-->" does, and one left open runs to the end of the body.
bool HtmlTokenizer::ReadComment(size_t start, HtmlToken& token) {
  token.kind = HtmlToken::Kind::kComment;
  const std::string_view rest = body_.substr(start);
  if (rest.starts_with(">") || rest.starts_with("->")) {
    position_ = start + (rest[0] == '>' ? 1 : 2);
    return true;
  }
  for (size_t gt = body_.find('>', start); gt != kNpos; gt = body_.find('>', gt + 1)) {
    const std::string_view content = body_.substr(start, gt - start);
    for (std::string_view end : {std::string_view("--"), std::string_view("--!")}) {
      if (content.ends_with(end)) {
        token.text = content.substr(0, content.size() - end.size());
        position_ = gt + 1;
        return true;
      }
    }
  }
  token.text = rest;
  position_ = body_.size();
  return true;
}

// The position after the next `c` at or after `from`, or the end of the body.
size_t HtmlTokenizer::FindPast(char c, size_t from) const {
  const size_t at = body_.find(c, from);
  return at == kNpos ? body_.size() : at + 1;
}

// Where the end tag closing the raw text or text-only element `name` whose content starts at
// `from` begins: "</", the name in any case, then space, '/' or '>' (HTML5 §13.2.5.11). The end of
// the body when there is none.
size_t HtmlTokenizer::FindEndTag(std::string_view name, size_t from) const {
  for (size_t lt = body_.find("</", from); lt != kNpos; lt = body_.find("</", lt + 2)) {
    const size_t after = lt + 2 + name.size();
    if (after < body_.size() && EqualsIgnoringAsciiCase(body_.substr(lt + 2, name.size()), name) &&
        (IsHtmlSpace(body_[after]) || body_[after] == '/' || body_[after] == '>')) {
      return lt;
    }
  }
  return body_.size();
}

}  // namespace cistern::engine
