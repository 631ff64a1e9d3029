#pragma once

// The upstream reader: the seam between the sync and where the index comes from: an HTTP(S) index
// (`HttpUpstream`) or a local directory (`FileUpstream`), each serving PEP 691 JSON or, when
// allowed, PEP 503 HTML (engine/index_reader.h). A page's files may live on another origin.
//
// Executor: every method is awaited on the sync's network executor.

#include <cstdint>
#include <optional>
#include <string>

#include "engine/error.h"
#include "engine/pypi/index_model.h"
#include "engine/pypi/project_name.h"
#include "net/asio.h"
#include "net/body_sink.h"
#include "net/http_message.h"
#include "net/url.h"

namespace cistern::engine {

struct FetchedRoot {
  RootIndex index;
  net::Url url;                         // after redirects
  std::optional<int64_t> header_serial;  // X-PyPI-Last-Serial
};

struct FetchedPage {
  bool found = true;                    // false: the index answered 404 or 410 (project gone)
  ProjectPage page;
  net::Url url;                         // after redirects: relative file URLs resolve against it
  std::optional<int64_t> header_serial;  // X-PyPI-Last-Serial

  // The project's serial as this response states it: the header, else `meta._last-serial`.
  std::optional<int64_t> serial() const { return header_serial ? header_serial : page.last_serial; }
};

// The rest of a file, for resuming a download: `Range: bytes=<offset>-`, with
// `If-Range: <if_range>` when it is not empty (a strong ETag or a Last-Modified date), so a
// server whose file changed answers 200 with the whole new file instead of a mismatched tail.
struct FileRange {
  uint64_t offset = 0;
  std::string if_range;
};

class Upstream {
 public:
  virtual ~Upstream() = default;

  // The index root. Errors: Errc::kUpstreamIndex for any status but 200, a wrong Content-Type
  // (an HTML error page, a captive portal) or a malformed body; net errors for transport.
  // A status worth retrying (net::IsRetryableStatus) is `transient`, with the server's
  // Retry-After of a 429 or 503 in `retry_after`; the same holds for FetchProject. Neither
  // retries: the caller does (engine/retrier.h).
  virtual net::Task<Result<FetchedRoot>> FetchRoot() = 0;

  // One project's page. A 404 or 410 is `found == false`, not an error.
  // Errors: Errc::kProjectPage (status, Content-Type, body), net errors for transport.
  virtual net::Task<Result<FetchedPage>> FetchProject(ProjectName name) = 0;

  // Streams a file into `sink`, or with `range` only its rest (the answer may still be a 200 with
  // the whole file, or a 416). The response head (any status) is returned; `sink.OnHead` decides
  // whether a non-200 body is consumed. The body is never transfer-encoded (no gzip).
  // `urgent` (metadata files) waits for a connection ahead of other files (net::Request::urgent);
  // the index and project pages always do.
  // Lifetime: `sink` must outlive the returned task.
  virtual net::Task<Result<net::ResponseHead>> FetchFile(net::Url url, net::BodySink& sink,
                                                        std::optional<FileRange> range,
                                                        bool urgent) = 0;

  // The index root URL, ending in '/'.
  virtual const net::Url& index_url() const = 0;
};

}  // namespace cistern::engine
