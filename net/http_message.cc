#include "net/http_message.h"

#include <algorithm>

namespace cistern::net {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; };
    return lower(x) == lower(y);
  });
}

void HeaderList::Add(std::string name, std::string value) {
  headers_.push_back(Header{std::move(name), std::move(value)});
}

std::optional<std::string_view> HeaderList::Get(std::string_view name) const {
  for (const Header& header : headers_) {
    if (EqualsIgnoreCase(header.name, name)) {
      return header.value;
    }
  }
  return std::nullopt;
}

void HeaderList::Remove(std::string_view name) {
  std::erase_if(headers_, [name](const Header& h) { return EqualsIgnoreCase(h.name, name); });
}

}  // namespace cistern::net
