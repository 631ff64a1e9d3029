#pragma once

// Escaping for the pages cistern writes. Inputs are UTF-8 (simdjson validated them on the way in).

#include <string>
#include <string_view>

namespace cistern::engine {

// Appends `text` as a JSON string literal, quotes included (RFC 8259: `"`, `\` and C0 controls
// escaped; other UTF-8 passed through).
void AppendJsonString(std::string& out, std::string_view text);

// Appends `text` escaped for HTML text and double-quoted attribute values: `&`, `<`, `>`, `"`,
// `'` (PEP 503 requires `<` and `>` escaped in `data-requires-python`).
void AppendHtmlEscaped(std::string& out, std::string_view text);

}  // namespace cistern::engine
