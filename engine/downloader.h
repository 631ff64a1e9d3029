#pragma once

// Downloads one file into the mirror: streams the body to a partial file in `incoming/`, hashes
// it as it arrives (SHA-256, plus the strongest other digest the page declared), checks size and
// digests, then publishes it (fsync, rename, fsync of the directory). A file that fails any check
// is never published.
//
// Disk writes are batched and run on the disk thread pool, so the network executor never blocks;
// the body sink does not accept more bytes until the previous batch is written (backpressure).
// Executor: the network executor. Lifetime: `upstream`, `tree` and `disk` outlive the Downloader.

#include <cstdint>
#include <optional>
#include <string>

#include "engine/error.h"
#include "engine/planner.h"
#include "engine/upstream.h"
#include "net/asio.h"
#include "store/digest.h"
#include "store/relative_path.h"
#include "store/tree.h"

namespace cistern::engine {

struct DownloadJob {
  std::string project;   // for messages
  std::string filename;  // for messages
  net::Url url;
  store::RelativePath dest;
  std::optional<store::Sha256Digest> sha256;  // nullopt: computed, not checked
  std::optional<ExpectedDigest> verify;       // a stronger declared digest, checked too
  std::optional<uint64_t> size;               // declared size, checked when present
};

struct DownloadedFile {
  store::Sha256Digest sha256;
  uint64_t size = 0;
};

struct DownloaderOptions {
  // Bytes gathered before one write to disk. Larger batches mean fewer thread hand-offs; each
  // download in flight holds up to two batches (one filling, one being written).
  size_t write_batch_bytes = size_t{256} << 10;
  // Attempts per file for transient failures (resets, timeouts, 5xx, 429). Hash and size
  // mismatches and 4xx are not retried in this run.
  int attempts = 3;
  // First backoff between attempts; doubles each time. A 429/503 Retry-After wins when longer
  // (capped at `max_retry_after`).
  std::chrono::milliseconds backoff{500};
  std::chrono::seconds max_retry_after{60};
};

class Downloader {
 public:
  Downloader(Upstream& upstream, store::Tree& tree, asio::thread_pool& disk,
             DownloaderOptions options = {});

  // Fetches `job.url` into `job.dest`.
  // Errors: Errc::kFileFetch (status or transport, detail has the URL), kHashMismatch,
  // kSizeMismatch, store errors (local I/O); each names the project and file.
  // Cancellation: the partial file is discarded and `operation_aborted` returned.
  net::Task<Result<DownloadedFile>> Download(DownloadJob job);

 private:
  net::Task<Result<DownloadedFile>> Attempt(const DownloadJob& job, bool& retryable,
                                            std::chrono::milliseconds& retry_after);

  Upstream& upstream_;
  store::Tree& tree_;
  asio::thread_pool& disk_;
  DownloaderOptions options_;
};

}  // namespace cistern::engine
