#pragma once

// `Upstream` over HTTP(S) for Simple API indexes: PEP 691 JSON such as PyPI by default, PEP 503
// HTML when allowed (engine/index_reader.h). For JSON it sends
// `Accept: application/vnd.pypi.simple.v1+json`, and it checks the returned Content-Type before
// parsing (pypi-mirror-protocol.md §1.1).
//
// Executor: the client's. Lifetime: `client` must outlive this object.

#include <cstddef>

#include "engine/index_reader.h"
#include "engine/upstream.h"
#include "net/client.h"

namespace cistern::engine {

// Turns what the user typed into the index root URL: a bare origin (`https://pypi.org`) gets
// `/simple/`; any other path, and any file:// URL, is taken as the index root and gets a trailing
// '/'.
// Errors: Errc::kConfig for an unparsable URL or a scheme other than http, https and file.
[[nodiscard]] Result<net::Url> IndexUrlFromUpstream(std::string_view upstream);

struct HttpUpstreamOptions {
  // Largest root index body accepted. PyPI's JSON root is tens of MB (2026).
  size_t max_root_bytes = size_t{1} << 30;
  // Largest project page accepted. PyPI's largest pages are several MB.
  size_t max_page_bytes = size_t{256} << 20;
  // Which serializations are read; JSON only by default.
  UpstreamFormat format = UpstreamFormat::kJson;
};

class HttpUpstream final : public Upstream {
 public:
  HttpUpstream(net::Client& client, net::Url index_url, HttpUpstreamOptions options = {});

  net::Task<Result<FetchedRoot>> FetchRoot() override;
  net::Task<Result<FetchedPage>> FetchProject(ProjectName name) override;
  net::Task<Result<net::ResponseHead>> FetchFile(net::Url url, net::BodySink& sink,
                                                std::optional<FileRange> range,
                                                bool urgent) override;
  const net::Url& index_url() const override { return index_url_; }

 private:
  net::Client& client_;
  net::Url index_url_;
  HttpUpstreamOptions options_;
  IndexReader reader_;
};

}  // namespace cistern::engine
