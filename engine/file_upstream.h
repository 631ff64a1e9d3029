#pragma once

// `Upstream` over a local directory: a `file://` index such as another mirror's `web/simple/` on
// a mounted disk, or a PEP 503 tree made by hand. The index root is `<dir>/index.v1_json` (PEP 691
// JSON) or, when HTML is allowed (engine/index_reader.h), `<dir>/index.html`; a project's page is
// `<dir>/<normalized>/` holding the same names, as a web server would serve them. A project whose
// directory is missing is gone (as a 404).
//
// Files linked with `file:` URLs are read from disk and answered like an HTTP server would: 200
// with Content-Length, 206 with Content-Range for a range request, 416 past the end, an ETag from
// the file's inode, size and modification time so If-Range notices a replaced file, and 404 for a
// missing file. Only files under the index directory's parent are read: that is where a mirror's
// `packages/` sits beside `simple/`, and a page must not make cistern copy any other local file.
// Links to http(s) URLs (split file origins) go to `client`.
//
// Executor: every method is awaited on the sync's network executor; disk reads run on a private
// thread. Lifetime: `client` must outlive this object.

#include <cstddef>
#include <filesystem>

#include "engine/http_upstream.h"
#include "engine/index_reader.h"
#include "engine/upstream.h"
#include "net/asio.h"
#include "net/client.h"

namespace cistern::engine {

class FileUpstream final : public Upstream {
 public:
  // `index_url` is a file: URL ending in '/' (IndexUrlFromUpstream).
  FileUpstream(net::Client& client, net::Url index_url, HttpUpstreamOptions options = {});
  ~FileUpstream() override;
  FileUpstream(const FileUpstream&) = delete;
  FileUpstream& operator=(const FileUpstream&) = delete;

  // Errors: Errc::kUpstreamIndex when the directory or its index file cannot be read, or the body
  // is malformed; names the path and, for a missing JSON index, the setting that reads HTML.
  net::Task<Result<FetchedRoot>> FetchRoot() override;
  // Errors: Errc::kProjectPage (unreadable or malformed page, naming the path).
  net::Task<Result<FetchedPage>> FetchProject(ProjectName name) override;
  // Errors: Errc::kFileFetch for a file outside the allowed directory or a read error; a missing
  // file is a 404 head, as over HTTP.
  net::Task<Result<net::ResponseHead>> FetchFile(net::Url url, net::BodySink& sink,
                                                std::optional<FileRange> range,
                                                bool urgent) override;
  const net::Url& index_url() const override { return index_url_; }

  // Bytes handed to the sink per read.
  static constexpr size_t kChunkBytes = size_t{256} << 10;

 private:
  struct IndexFile;
  net::Task<Result<IndexFile>> ReadIndexFile(const std::filesystem::path& directory,
                                             size_t max_bytes);

  net::Url index_url_;
  HttpUpstreamOptions options_;
  std::filesystem::path directory_;  // the index root
  std::filesystem::path allowed_;    // files are read only under this directory
  HttpUpstream http_;                // for http(s) file links
  IndexReader reader_;
  asio::thread_pool disk_{1};
};

}  // namespace cistern::engine
