#include "engine/file_upstream.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "store/unique_fd.h"


namespace cistern::engine {
namespace {

namespace fs = std::filesystem;

// The names an index directory may hold its page under, in the order they are tried.
std::vector<std::pair<const char*, BodyType>> IndexNames(UpstreamFormat format) {
  switch (format) {
    case UpstreamFormat::kJson:
      return {{"index.v1_json", BodyType::kJson}};
    case UpstreamFormat::kAuto:
      return {{"index.v1_json", BodyType::kJson}, {"index.html", BodyType::kHtml}};
    case UpstreamFormat::kHtml:
      return {{"index.html", BodyType::kHtml}, {"index.v1_json", BodyType::kJson}};
  }
  return {};
}

// The local path a file: URL names, percent-decoded and without dot segments.
std::optional<fs::path> LocalPath(const net::Url& url) {
  auto decoded = net::PercentDecode(url.path());
  if (!decoded || decoded->find('\0') != std::string::npos) {
    return std::nullopt;
  }
  return fs::path(*decoded).lexically_normal();
}

// True when `path` (normal, absolute) is `directory` or below it.
bool IsWithin(const fs::path& path, const fs::path& directory) {
  auto [end, unused] = std::mismatch(directory.begin(), directory.end(), path.begin(), path.end());
  return end == directory.end() || (std::next(end) == directory.end() && end->empty());
}

std::string ErrnoText(int error) { return std::strerror(error); }

net::Error Cancelled(const net::Url& url) {
  return net::Error{asio::error::operation_aborted, "read " + url.str()};
}

}  // namespace

// An index file read whole: which one, and what it holds.
struct FileUpstream::IndexFile {
  bool directory_exists = false;
  bool html_present = false;  // index.html exists (for the hint when only JSON is read)
  std::optional<BodyType> type;  // nullopt: no index file
  fs::path path;
  std::string body;
};

FileUpstream::FileUpstream(net::Client& client, net::Url index_url, HttpUpstreamOptions options)
    : index_url_(std::move(index_url)),
      options_(options),
      directory_(LocalPath(index_url_).value_or(fs::path("/"))),
      allowed_(directory_.has_filename() ? directory_.parent_path()
                                         : directory_.parent_path().parent_path()),
      http_(client, index_url_, options_) {}

FileUpstream::~FileUpstream() { disk_.join(); }

net::Task<Result<FileUpstream::IndexFile>> FileUpstream::ReadIndexFile(const fs::path& directory,
                                                                        size_t max_bytes) {
  const UpstreamFormat format = options_.format;
  co_return co_await net::Offload(disk_, [&directory, max_bytes, format]() -> Result<IndexFile> {
    IndexFile found;
    std::error_code ec;
    found.directory_exists = fs::is_directory(directory, ec);
    if (!found.directory_exists) {
      return found;
    }
    found.html_present = fs::exists(directory / "index.html", ec);
    for (const auto& [name, type] : IndexNames(format)) {
      const fs::path path = directory / name;
      store::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
      if (fd.get() < 0) {
        if (errno == ENOENT) {
          continue;
        }
        return tl::make_unexpected(
            MakeError(Errc::kProjectPage, fmt::format("open {}: {}", path.string(), ErrnoText(errno))));
      }
      struct stat st {};
      if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
        return tl::make_unexpected(
            MakeError(Errc::kProjectPage, fmt::format("{} is not a readable file", path.string())));
      }
      const auto size = static_cast<uint64_t>(st.st_size);
      if (size > max_bytes) {
        return tl::make_unexpected(MakeError(
            Errc::kProjectPage,
            fmt::format("{} is {} bytes, more than the {} accepted", path.string(), size, max_bytes)));
      }
      found.body.resize(size);
      size_t done = 0;
      while (done < size) {
        const ssize_t n = ::pread(fd.get(), found.body.data() + done, size - done,
                                  static_cast<off_t>(done));
        if (n < 0 && errno == EINTR) {
          continue;
        }
        if (n <= 0) {
          return tl::make_unexpected(MakeError(
              Errc::kProjectPage,
              fmt::format("read {}: {}", path.string(), n < 0 ? ErrnoText(errno) : "file shrank")));
        }
        done += static_cast<size_t>(n);
      }
      // simdjson reads past the end; the JSON parser grows the string if the room is missing.
      found.type = type;
      found.path = path;
      return found;
    }
    return found;
  });
}

net::Task<Result<FetchedRoot>> FileUpstream::FetchRoot() {
  auto file = co_await ReadIndexFile(directory_, options_.max_root_bytes);
  if (!file) {
    Error error = file.error();
    error.code = make_error_code(Errc::kUpstreamIndex);
    co_return tl::make_unexpected(std::move(error));
  }
  if (!file->directory_exists) {
    co_return tl::make_unexpected(MakeError(
        Errc::kUpstreamIndex,
        fmt::format("{}: no such directory (the upstream must be the index root, e.g. "
                    "file:///srv/pypi/web/simple/)",
                    directory_.string())));
  }
  if (!file->type) {
    const bool json_only = options_.format == UpstreamFormat::kJson;
    co_return tl::make_unexpected(MakeError(
        Errc::kUpstreamIndex,
        json_only && file->html_present
            ? fmt::format("{}: no index.v1_json, only index.html (a PEP 503 HTML index): set "
                          "[mirror] upstream_format = \"auto\" in cistern.toml to read it",
                          directory_.string())
            : fmt::format("{}: no {} (is this the index root?)", directory_.string(),
                          json_only ? "index.v1_json" : "index.v1_json or index.html")));
  }
  auto index = reader_.ParseRoot(*file->type, file->body);
  if (!index) {
    Error error = index.error();
    error.detail = fmt::format("read {}: {}", file->path.string(), error.detail);
    co_return tl::make_unexpected(std::move(error));
  }
  co_return FetchedRoot{std::move(*index), index_url_, std::nullopt};
}

net::Task<Result<FetchedPage>> FileUpstream::FetchProject(ProjectName name) {
  auto url = index_url_.Resolve(name.str() + "/");
  if (!url) {
    co_return tl::make_unexpected(FromNet(url.error(), name.str()));
  }
  FetchedPage fetched;
  fetched.url = *url;
  auto file = co_await ReadIndexFile(directory_ / name.str(), options_.max_page_bytes);
  if (!file) {
    Error error = file.error();
    error.project = name.str();
    co_return tl::make_unexpected(std::move(error));
  }
  if (!file->type) {
    if (file->html_present && options_.format == UpstreamFormat::kJson) {
      co_return tl::make_unexpected(MakeError(
          Errc::kProjectPage,
          fmt::format("{}: no index.v1_json, only index.html: set [mirror] upstream_format = "
                      "\"auto\" in cistern.toml to read PEP 503 HTML pages",
                      (directory_ / name.str()).string()),
          name.str()));
    }
    fetched.found = false;  // as a 404: the project is gone
    co_return fetched;
  }
  auto page = reader_.ParseProject(*file->type, file->body, *url);
  if (!page) {
    Error error = page.error();
    error.project = name.str();
    error.detail = fmt::format("read {}: {}", file->path.string(), error.detail);
    co_return tl::make_unexpected(std::move(error));
  }
  fetched.page = std::move(*page);
  co_return fetched;
}

net::Task<Result<net::ResponseHead>> FileUpstream::FetchFile(net::Url url, net::BodySink& sink,
                                                            std::optional<FileRange> range,
                                                            bool urgent) {
  if (!url.is_file()) {
    co_return co_await http_.FetchFile(std::move(url), sink, std::move(range), urgent);
  }
  const auto path = LocalPath(url);
  if (!path || !IsWithin(*path, allowed_)) {
    co_return tl::make_unexpected(MakeError(
        Errc::kFileFetch, fmt::format("{} is outside {}: a file:// index may only link files in "
                                      "the directory that holds it",
                                      url.str(), allowed_.string())));
  }

  struct Opened {
    store::UniqueFd fd;
    int error = 0;
    uint64_t size = 0;
    std::string etag;
  };
  Opened opened = co_await net::Offload(disk_, [&path]() {
    Opened result;
    result.fd = store::UniqueFd(::open(path->c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (result.fd.get() < 0) {
      result.error = errno;
      return result;
    }
    struct stat st {};
    if (::fstat(result.fd.get(), &st) != 0) {
      result.error = errno;
      return result;
    }
    if (!S_ISREG(st.st_mode)) {
      result.error = ENOENT;  // a directory is no file: as a 404
      return result;
    }
    result.size = static_cast<uint64_t>(st.st_size);
    const auto mtime_ns = static_cast<uint64_t>(st.st_mtim.tv_sec) * 1'000'000'000u +
                          static_cast<uint64_t>(st.st_mtim.tv_nsec);
    result.etag = fmt::format("\"{:x}-{:x}-{:x}\"", static_cast<uint64_t>(st.st_ino), result.size,
                              mtime_ns);
    return result;
  });

  net::ResponseHead head;
  head.url = url;
  head.protocol = "file";
  uint64_t offset = 0;
  if (opened.error == ENOENT || opened.error == ENOTDIR) {
    head.status = 404;
    head.reason = "Not Found";
    head.content_length = 0;
  } else if (opened.error != 0) {
    co_return tl::make_unexpected(MakeError(
        Errc::kFileFetch, fmt::format("open {}: {}", path->string(), ErrnoText(opened.error))));
  } else if (range && (range->if_range.empty() || range->if_range == opened.etag)) {
    if (range->offset >= opened.size) {
      head.status = 416;
      head.reason = "Range Not Satisfiable";
      head.content_length = 0;
      head.headers.Add("Content-Range", fmt::format("bytes */{}", opened.size));
    } else {
      head.status = 206;
      head.reason = "Partial Content";
      offset = range->offset;
      head.content_length = opened.size - offset;
      head.headers.Add("Content-Range",
                       fmt::format("bytes {}-{}/{}", offset, opened.size - 1, opened.size));
    }
  } else {
    head.status = 200;  // no range, or the file changed since the partial began (If-Range)
    head.reason = "OK";
    head.content_length = opened.size;
  }
  if (opened.error == 0) {
    head.headers.Add("ETag", opened.etag);
  }
  head.headers.Add("Content-Length", std::to_string(*head.content_length));
  if (auto accepted = sink.OnHead(head); !accepted) {
    co_return tl::make_unexpected(FromNet(accepted.error()));
  }
  if (head.status != 200 && head.status != 206) {
    co_return head;
  }

  const uint64_t end = opened.size;
  std::vector<uint8_t> buffer(static_cast<size_t>(std::min<uint64_t>(kChunkBytes, end - offset)));
  const int fd = opened.fd.get();
  while (offset < end) {
    auto cancel = co_await asio::this_coro::cancellation_state;
    if (cancel.cancelled() != asio::cancellation_type::none) {
      co_return tl::make_unexpected(FromNet(Cancelled(url)));
    }
    const size_t want = static_cast<size_t>(std::min<uint64_t>(buffer.size(), end - offset));
    const auto [n, error] = co_await net::Offload(disk_, [fd, &buffer, want, offset]() {
      ssize_t got = 0;
      do {
        got = ::pread(fd, buffer.data(), want, static_cast<off_t>(offset));
      } while (got < 0 && errno == EINTR);
      return std::pair<ssize_t, int>{got, got < 0 ? errno : 0};
    });
    if (n <= 0) {
      Error failed = MakeError(
          Errc::kFileFetch, fmt::format("read {}: {}", path->string(),
                                        n < 0 ? ErrnoText(error) : "the file shrank while read"));
      failed.transient = n == 0;  // replaced under us: the next attempt reads the new one
      co_return tl::make_unexpected(std::move(failed));
    }
    offset += static_cast<uint64_t>(n);
    auto taken = co_await sink.OnData(std::span<const uint8_t>(buffer.data(), static_cast<size_t>(n)));
    if (!taken) {
      co_return tl::make_unexpected(FromNet(taken.error()));
    }
  }
  co_return head;
}

}  // namespace cistern::engine
