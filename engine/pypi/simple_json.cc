#include "engine/pypi/simple_json.h"

#include <charconv>
#include <string_view>

#include <fmt/format.h>
#include <simdjson.h>

namespace cistern::engine {
namespace {

namespace sj = simdjson::ondemand;

// A parse failure: what and where, turned into an engine::Error by the entry points.
struct Failure {
  std::string detail;
};

template <class T>
using Parsed = tl::expected<T, Failure>;

Failure JsonFailure(simdjson::error_code code, std::string_view where) {
  return Failure{fmt::format("malformed JSON at {}: {}", where, simdjson::error_message(code))};
}

Failure TypeFailure(std::string_view where, std::string_view expected) {
  return Failure{fmt::format("{} must be {}", where, expected)};
}

std::string Lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

void EnsurePadding(std::string& body) {
  if (body.capacity() < body.size() + simdjson::SIMDJSON_PADDING) {
    body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  }
}

Parsed<sj::json_type> TypeOf(sj::value& value, std::string_view where) {
  sj::json_type type{};
  if (auto error = value.type().get(type)) {
    return tl::make_unexpected(JsonFailure(error, where));
  }
  return type;
}

Parsed<std::string> String(sj::value& value, std::string_view where) {
  std::string_view text;
  if (auto error = value.get_string().get(text)) {
    return tl::make_unexpected(error == simdjson::INCORRECT_TYPE ? TypeFailure(where, "a string")
                                                                 : JsonFailure(error, where));
  }
  return std::string(text);
}

// A string or null (null gives nullopt).
Parsed<std::optional<std::string>> NullableString(sj::value& value, std::string_view where) {
  auto type = TypeOf(value, where);
  if (!type) {
    return tl::make_unexpected(type.error());
  }
  if (*type == sj::json_type::null) {
    return std::optional<std::string>{};
  }
  return String(value, where).transform([](std::string s) { return std::optional(std::move(s)); });
}

Parsed<void> Validate(sj::value& value, std::string_view where, int depth = 0);

// `_last-serial`, a server's private key (PEP 700 leaves `_` keys to the server): PyPI sends an
// integer, bandersnatch 8 a string of digits (protocol §2.3). Any other value (null, a float,
// other text) reads as unknown (nullopt) instead of failing the page; the JSON must still be
// well formed.
Parsed<std::optional<int64_t>> LastSerial(sj::value& value, std::string_view where) {
  auto type = TypeOf(value, where);
  if (!type) {
    return tl::make_unexpected(type.error());
  }
  int64_t number = 0;
  if (*type == sj::json_type::number) {
    if (auto error = value.get_int64().get(number)) {
      if (error != simdjson::INCORRECT_TYPE && error != simdjson::NUMBER_OUT_OF_RANGE) {
        return tl::make_unexpected(JsonFailure(error, where));
      }
      return std::optional<int64_t>();
    }
    return number >= 0 ? std::optional(number) : std::nullopt;
  }
  if (*type == sj::json_type::string) {
    auto text = String(value, where);
    if (!text) {
      return tl::make_unexpected(text.error());
    }
    const char* end = text->data() + text->size();
    auto [stop, error] = std::from_chars(text->data(), end, number);
    const bool digits = !text->empty() && (*text)[0] != '-' && error == std::errc() && stop == end;
    return digits ? std::optional(number) : std::nullopt;
  }
  if (auto valid = Validate(value, where); !valid) {
    return tl::make_unexpected(valid.error());
  }
  return std::optional<int64_t>();
}

Parsed<uint64_t> Unsigned(sj::value& value, std::string_view where) {
  uint64_t number = 0;
  if (auto error = value.get_uint64().get(number)) {
    return tl::make_unexpected(error == simdjson::INCORRECT_TYPE
                                   ? TypeFailure(where, "a non-negative integer")
                                   : JsonFailure(error, where));
  }
  return number;
}

// {"sha256": "AbC..."} -> lowercase names and values.
Parsed<std::map<std::string, std::string>> HashMap(sj::value& value, std::string_view where) {
  sj::object object;
  if (auto error = value.get_object().get(object)) {
    return tl::make_unexpected(error == simdjson::INCORRECT_TYPE ? TypeFailure(where, "an object")
                                                                 : JsonFailure(error, where));
  }
  std::map<std::string, std::string> hashes;
  for (auto&& field_result : object) {
    sj::field field;
    std::string_view key;
    if (auto error = std::move(field_result).get(field)) {
      return tl::make_unexpected(JsonFailure(error, where));
    }
    if (auto error = field.unescaped_key().get(key)) {
      return tl::make_unexpected(JsonFailure(error, where));
    }
    std::string name = Lowercase(key);
    auto hex = String(field.value(), fmt::format("{}.{}", where, name));
    if (!hex) {
      return tl::make_unexpected(hex.error());
    }
    hashes.emplace(std::move(name), Lowercase(*hex));
  }
  return hashes;
}

// PEP 658/714: true/false or a hash map; null reads as absent (pip then falls back to the
// deprecated `dist-info-metadata`).
Parsed<std::optional<CoreMetadata>> ParseCoreMetadata(sj::value& value, std::string_view where) {
  auto type = TypeOf(value, where);
  if (!type) {
    return tl::make_unexpected(type.error());
  }
  CoreMetadata metadata;
  switch (*type) {
    case sj::json_type::boolean: {
      bool available = false;
      if (auto error = value.get_bool().get(available)) {
        return tl::make_unexpected(JsonFailure(error, where));
      }
      metadata.available = available;
      return metadata;
    }
    case sj::json_type::object: {
      auto hashes = HashMap(value, where);
      if (!hashes) {
        return tl::make_unexpected(hashes.error());
      }
      metadata.available = true;
      metadata.hashes = std::move(*hashes);
      return metadata;
    }
    case sj::json_type::null:
      return std::nullopt;
    default:
      return tl::make_unexpected(TypeFailure(where, "a boolean or an object of hashes"));
  }
}

// PEP 592: false, true or a reason string.
Parsed<Yanked> ParseYanked(sj::value& value, std::string_view where) {
  auto type = TypeOf(value, where);
  if (!type) {
    return tl::make_unexpected(type.error());
  }
  Yanked yanked;
  if (*type == sj::json_type::boolean) {
    if (auto error = value.get_bool().get(yanked.yanked)) {
      return tl::make_unexpected(JsonFailure(error, where));
    }
    return yanked;
  }
  if (*type == sj::json_type::string) {
    auto reason = String(value, where);
    if (!reason) {
      return tl::make_unexpected(reason.error());
    }
    // PEP 592 asks for a non-empty reason; like pip, read an empty string as false (not yanked).
    yanked.yanked = !reason->empty();
    yanked.reason = std::move(*reason);
    return yanked;
  }
  if (*type == sj::json_type::null) {
    return yanked;
  }
  return tl::make_unexpected(TypeFailure(where, "a boolean or a reason string"));
}

struct Meta {
  std::string api_version = "1.0";
  std::optional<int64_t> last_serial;
};

Parsed<Meta> ParseMeta(sj::value& value) {
  sj::object object;
  if (auto error = value.get_object().get(object)) {
    return tl::make_unexpected(error == simdjson::INCORRECT_TYPE ? TypeFailure("meta", "an object")
                                                                 : JsonFailure(error, "meta"));
  }
  Meta meta;
  for (auto&& field_result : object) {
    sj::field field;
    std::string_view key;
    if (auto error = std::move(field_result).get(field)) {
      return tl::make_unexpected(JsonFailure(error, "meta"));
    }
    if (auto error = field.unescaped_key().get(key)) {
      return tl::make_unexpected(JsonFailure(error, "meta"));
    }
    if (key == "api-version") {
      auto version = String(field.value(), "meta.api-version");
      if (!version) {
        return tl::make_unexpected(version.error());
      }
      meta.api_version = std::move(*version);
    } else if (key == "_last-serial") {
      auto serial = LastSerial(field.value(), "meta._last-serial");
      if (!serial) {
        return tl::make_unexpected(serial.error());
      }
      meta.last_serial = *serial;
    } else if (auto valid = Validate(field.value(), "meta"); !valid) {
      return tl::make_unexpected(valid.error());
    }
  }
  if (!IsSupportedApiVersion(meta.api_version)) {
    return tl::make_unexpected(
        Failure{fmt::format("unsupported api-version \"{}\" (cistern reads major version 1)",
                            meta.api_version)});
  }
  return meta;
}

// Stores what `parsed` holds in `out`, or passes its failure on.
template <class T, class U>
Parsed<void> Into(T& out, Parsed<U> parsed) {
  if (!parsed) {
    return tl::make_unexpected(parsed.error());
  }
  out = std::move(*parsed);
  return {};
}

// Appends what `parsed` holds to `out`, or passes its failure on.
template <class T>
Parsed<void> AppendTo(std::vector<T>& out, Parsed<T> parsed) {
  if (!parsed) {
    return tl::make_unexpected(parsed.error());
  }
  out.push_back(std::move(*parsed));
  return {};
}

// Iterates the elements of an array, calling `fn(value, index)` until it fails.
template <class Fn>
Parsed<void> ForEachElement(sj::value& value, std::string_view where, Fn&& fn) {
  sj::array array;
  if (auto error = value.get_array().get(array)) {
    return tl::make_unexpected(error == simdjson::INCORRECT_TYPE ? TypeFailure(where, "an array")
                                                                 : JsonFailure(error, where));
  }
  size_t index = 0;
  for (auto&& element_result : array) {
    sj::value element;
    if (auto error = std::move(element_result).get(element)) {
      return tl::make_unexpected(JsonFailure(error, fmt::format("{}[{}]", where, index)));
    }
    if (auto done = fn(element, index); !done) {
      return done;
    }
    ++index;
  }
  return {};
}

// Iterates the fields of an object, calling `fn(key, value)` until it fails.
template <class Fn>
Parsed<void> ForEachField(sj::value& value, std::string_view where, Fn&& fn) {
  sj::object object;
  if (auto error = value.get_object().get(object)) {
    return tl::make_unexpected(error == simdjson::INCORRECT_TYPE ? TypeFailure(where, "an object")
                                                                 : JsonFailure(error, where));
  }
  for (auto&& field_result : object) {
    sj::field field;
    std::string_view key;
    if (auto error = std::move(field_result).get(field)) {
      return tl::make_unexpected(JsonFailure(error, where));
    }
    if (auto error = field.unescaped_key().get(key)) {
      return tl::make_unexpected(JsonFailure(error, where));
    }
    if (auto done = fn(key, field.value()); !done) {
      return done;
    }
  }
  return {};
}

// Walks a value cistern does not use, so that malformed JSON inside it is still an error
// (On-Demand skips unread values without checking them) and the next key is found correctly.
constexpr int kMaxDepth = 64;

Parsed<void> Validate(sj::value& value, std::string_view where, int depth) {
  if (depth > kMaxDepth) {
    return tl::make_unexpected(Failure{fmt::format("{} is nested too deeply", where)});
  }
  auto type = TypeOf(value, where);
  if (!type) {
    return tl::make_unexpected(type.error());
  }
  simdjson::error_code error = simdjson::SUCCESS;
  switch (*type) {
    case sj::json_type::array:
      return ForEachElement(value, where, [&](sj::value& element, size_t) {
        return Validate(element, where, depth + 1);
      });
    case sj::json_type::object:
      return ForEachField(value, where, [&](std::string_view, sj::value field) {
        return Validate(field, where, depth + 1);
      });
    case sj::json_type::string: {
      std::string_view text;
      error = value.get_string().get(text);
      break;
    }
    case sj::json_type::number: {
      double number = 0;
      error = value.get_double().get(number);
      break;
    }
    case sj::json_type::boolean: {
      bool flag = false;
      error = value.get_bool().get(flag);
      break;
    }
    case sj::json_type::null: {
      bool is_null = false;
      error = value.is_null().get(is_null);
      if (!error && !is_null) {
        error = simdjson::INCORRECT_TYPE;
      }
      break;
    }
  }
  if (error) {
    return tl::make_unexpected(JsonFailure(error, where));
  }
  return {};
}

Parsed<IndexEntry> ParseIndexEntry(sj::value& value, size_t index) {
  const std::string where = fmt::format("projects[{}]", index);
  IndexEntry entry;
  bool has_name = false;
  auto parsed = ForEachField(value, where, [&](std::string_view key, sj::value field) -> Parsed<void> {
    if (key == "name") {
      has_name = true;
      return Into(entry.name, String(field, where + ".name"));
    }
    if (key == "_last-serial") {
      return Into(entry.last_serial, LastSerial(field, where + "._last-serial"));
    }
    return Validate(field, where);
  });
  if (!parsed) {
    return tl::make_unexpected(parsed.error());
  }
  if (!has_name) {
    return tl::make_unexpected(Failure{where + " has no \"name\""});
  }
  return entry;
}

Parsed<UpstreamFile> ParseFile(sj::value& value, size_t index) {
  const std::string where = fmt::format("files[{}]", index);
  UpstreamFile file;
  bool has_filename = false;
  bool has_url = false;
  bool has_hashes = false;
  std::optional<CoreMetadata> core_metadata;
  std::optional<CoreMetadata> dist_info_metadata;
  auto parsed = ForEachField(value, where, [&](std::string_view key, sj::value field) -> Parsed<void> {
    const std::string here = fmt::format("{}.{}", where, key);
    if (key == "filename") {
      has_filename = true;
      return Into(file.filename, String(field, here));
    }
    if (key == "url") {
      has_url = true;
      return Into(file.url, String(field, here));
    }
    if (key == "hashes") {
      has_hashes = true;
      return Into(file.hashes, HashMap(field, here));
    }
    if (key == "requires-python") {
      return Into(file.requires_python, NullableString(field, here));
    }
    if (key == "size") {
      return Into(file.size, Unsigned(field, here));
    }
    if (key == "upload-time") {
      return Into(file.upload_time, NullableString(field, here));
    }
    if (key == "yanked") {
      return Into(file.yanked, ParseYanked(field, here));
    }
    if (key == "core-metadata") {
      return Into(core_metadata, ParseCoreMetadata(field, here));
    }
    if (key == "dist-info-metadata") {
      return Into(dist_info_metadata, ParseCoreMetadata(field, here));
    }
    // PEP 714: `data-dist-info-metadata` is a Warehouse naming bug; checked and ignored like any
    // unknown key.
    return Validate(field, here);
  });
  if (!parsed) {
    return tl::make_unexpected(parsed.error());
  }
  if (!has_filename || !has_url || !has_hashes) {
    return tl::make_unexpected(Failure{fmt::format(
        "{} lacks a required key (filename, url and hashes are required by PEP 691)", where)});
  }
  // PEP 714: clients read `core-metadata` first and may fall back to `dist-info-metadata`.
  if (core_metadata) {
    file.core_metadata = std::move(*core_metadata);
  } else if (dist_info_metadata) {
    file.core_metadata = std::move(*dist_info_metadata);
  }
  return file;
}

Parsed<ProjectStatus> ParseStatus(sj::value& value) {
  ProjectStatus status;
  auto parsed = ForEachField(value, "project-status", [&](std::string_view key, sj::value field) -> Parsed<void> {
    if (key == "status") {
      return Into(status.status, String(field, "project-status.status"));
    }
    if (key == "reason") {
      return Into(status.reason, NullableString(field, "project-status.reason"));
    }
    return Validate(field, "project-status");
  });
  if (!parsed) {
    return tl::make_unexpected(parsed.error());
  }
  return status;
}

}  // namespace

bool IsSupportedApiVersion(std::string_view version) noexcept {
  const auto dot = version.find('.');
  const std::string_view major = version.substr(0, dot);
  int value = 0;
  const auto [end, error] = std::from_chars(major.data(), major.data() + major.size(), value);
  if (error != std::errc() || end != major.data() + major.size() || major.empty()) {
    return false;
  }
  return value == 1;
}

bool IsNewerMinorApiVersion(std::string_view version) noexcept {
  const auto dot = version.find('.');
  if (!IsSupportedApiVersion(version) || dot == std::string_view::npos) {
    return false;
  }
  const std::string_view minor = version.substr(dot + 1);
  int value = 0;
  const auto [end, error] = std::from_chars(minor.data(), minor.data() + minor.size(), value);
  return error == std::errc() && end == minor.data() + minor.size() && value > 4;
}

struct SimpleJsonParser::Impl {
  sj::parser parser;

  template <class Fn>
  Parsed<void> ForEachTopLevelField(std::string& body, Fn&& fn) {
    EnsurePadding(body);
    sj::document document;
    if (auto error =
            parser.iterate(simdjson::padded_string_view(body.data(), body.size(), body.capacity()))
                .get(document)) {
      return tl::make_unexpected(JsonFailure(error, "the top level"));
    }
    sj::object object;
    if (auto error = document.get_object().get(object)) {
      return tl::make_unexpected(error == simdjson::INCORRECT_TYPE
                                     ? TypeFailure("the top level", "an object")
                                     : JsonFailure(error, "the top level"));
    }
    for (auto&& field_result : object) {
      sj::field field;
      std::string_view key;
      if (auto error = std::move(field_result).get(field)) {
        return tl::make_unexpected(JsonFailure(error, "the top level"));
      }
      if (auto error = field.unescaped_key().get(key)) {
        return tl::make_unexpected(JsonFailure(error, "the top level"));
      }
      if (auto done = fn(key, field.value()); !done) {
        return done;
      }
    }
    // Trailing bytes after the object (a second document, garbage) are an error.
    const char* location = nullptr;
    if (document.current_location().get(location) == simdjson::SUCCESS) {
      return tl::make_unexpected(Failure{"malformed JSON: trailing content after the top-level object"});
    }
    return {};
  }
};

SimpleJsonParser::SimpleJsonParser() : impl_(std::make_unique<Impl>()) {}
SimpleJsonParser::~SimpleJsonParser() = default;

Result<RootIndex> SimpleJsonParser::ParseRoot(std::string& body) {
  RootIndex root;
  std::optional<Meta> meta;
  bool has_projects = false;
  auto parsed = impl_->ForEachTopLevelField(body, [&](std::string_view key, sj::value value) -> Parsed<void> {
    if (key == "meta") {
      return Into(meta, ParseMeta(value));
    }
    if (key == "projects") {
      has_projects = true;
      return ForEachElement(value, "projects", [&](sj::value& element, size_t index) {
        return AppendTo(root.projects, ParseIndexEntry(element, index));
      });
    }
    return Validate(value, key);
  });
  if (meta) {
    root.api_version = std::move(meta->api_version);
    root.last_serial = meta->last_serial;
  }
  // The parser sized its buffers for the root (about 4 bytes per byte of JSON: ~140 MB for
  // PyPI's). Project pages are far smaller, so give that memory back now rather than keep it for
  // the rest of the run (the 740,000-project diff's peak RSS).
  impl_->parser = sj::parser{};
  if (parsed && (!meta || !has_projects)) {
    parsed = tl::make_unexpected(Failure{"not a PEP 691 index: \"meta\" or \"projects\" is missing"});
  }
  if (!parsed) {
    return tl::make_unexpected(MakeError(Errc::kUpstreamIndex, std::move(parsed.error().detail)));
  }
  return root;
}

Result<ProjectPage> SimpleJsonParser::ParseProject(std::string& body) {
  ProjectPage page;
  std::optional<Meta> meta;
  bool has_files = false;
  auto parsed = impl_->ForEachTopLevelField(body, [&](std::string_view key, sj::value value) -> Parsed<void> {
    if (key == "meta") {
      return Into(meta, ParseMeta(value));
    }
    if (key == "name") {
      return Into(page.name, String(value, "name"));
    }
    if (key == "versions") {
      return ForEachElement(value, "versions", [&](sj::value& element, size_t index) {
        return AppendTo(page.versions, String(element, fmt::format("versions[{}]", index)));
      });
    }
    if (key == "files") {
      has_files = true;
      return ForEachElement(value, "files", [&](sj::value& element, size_t index) {
        return AppendTo(page.files, ParseFile(element, index));
      });
    }
    if (key == "project-status") {
      return Into(page.status, ParseStatus(value));
    }
    return Validate(value, key);
  });
  if (meta) {
    page.api_version = std::move(meta->api_version);
    page.last_serial = meta->last_serial;
  }
  if (parsed && (!meta || !has_files)) {
    parsed = tl::make_unexpected(Failure{"not a PEP 691 project page: \"meta\" or \"files\" is missing"});
  }
  if (!parsed) {
    return tl::make_unexpected(MakeError(Errc::kProjectPage, std::move(parsed.error().detail)));
  }
  return page;
}

}  // namespace cistern::engine
