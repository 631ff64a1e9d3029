#pragma once

// Downloads one file into the mirror: streams the body to a partial file in `incoming/`, hashes
// it as it arrives (SHA-256, plus the strongest other digest the page declared), checks size and
// digests, then publishes it (fsync, rename, fsync of the directory). A file that fails any check
// is never published.
//
// Resuming: a file with a declared SHA-256 and size of at least `resume_min_bytes` downloads into
// a resumable partial (store::Tree::OpenResumable, keyed by its path under web/) with a record of
// the URL, declared size and digest, and the response's strong validator (an ETag, or a
// Last-Modified date at least a second older than the response's Date). What is on disk survives
// a failed attempt, a cancelled run and a killed process. The next attempt, in this run or the
// next, re-hashes those N bytes on the disk pool and asks for the rest with `Range: bytes=N-` and
// `If-Range: <validator>`:
//   - 206 whose Content-Range starts at N and whose complete length is the declared size (and
//     whose ETag, if any, is unchanged) continues the file; the digest covers the whole file;
//   - 200 (the server ignored the range, or the file changed) empties the partial and takes the
//     whole body;
//   - 416, a mismatched Content-Range or a changed ETag discards the partial and refetches at once.
// A partial without a strong validator, or whose record does not match the job (URL, size,
// digest), starts from zero. A partial that already holds the declared size is verified and
// published without a request.
//
// Retries: transient failures (connection reset or closed early, timeouts, HTTP/2 streams reset
// or refused, GOAWAY before processing, a body that broke off after a 200 or 206 head for any
// transport reason, HTTP 408, 429, 500, 502, 503, 504) are retried up to
// `attempts` times per file, after a wait drawn with full jitter from an exponential backoff, or
// the Retry-After of a 429 or 503; each retry takes one from the run's retry budget (a Retrier,
// engine/retrier.h, which the run shares with its page fetches). A Retry-After also pauses every
// later request of the run to that origin until it has passed (capped at `max_retry_after`), so
// the other files and pages do not hammer a server that asked for a pause. Permanent
// failures (404, 410 and other statuses, a size that contradicts the page) are not retried. A hash
// mismatch discards the partial and retries from zero once; a second one fails the file. A
// cancelled download is never retried. Every failure is returned; the caller defers the project.
//
// Disk writes are batched and run on the disk thread pool, so the network executor never blocks;
// the body sink does not accept more bytes until the previous batch is written (backpressure).
// Executor: the network executor. Lifetime: `upstream`, `tree` and `disk` outlive the Downloader.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "engine/error.h"
#include "engine/planner.h"
#include "engine/retrier.h"
#include "engine/upstream.h"
#include "net/asio.h"
#include "net/retry_policy.h"
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
  bool urgent = false;  // small and needed to render the page (a .metadata): ahead of files
};

struct DownloadedFile {
  store::Sha256Digest sha256;
  uint64_t size = 0;
  uint64_t resumed_bytes = 0;  // bytes that were on disk already and not fetched again
};

struct DownloaderOptions {
  // Bytes gathered before one write to disk. Larger batches mean fewer thread hand-offs; each
  // download in flight holds up to two batches (one filling, one being written).
  size_t write_batch_bytes = size_t{256} << 10;
  // Attempts per file for transient failures. Default 3.
  int attempts = 3;
  // Exponential backoff with full jitter: the n-th retry (from 0) of a file waits a random time
  // in [0, min(max_backoff, backoff * 2^n)]. Defaults 500 ms and 30 s.
  std::chrono::milliseconds backoff{500};
  std::chrono::milliseconds max_backoff{30'000};
  // A 429 or 503 with Retry-After waits what the server asked (seconds or an HTTP-date) when that
  // is at most this long; a longer pause fails the file at once, to be retried next run.
  // Default 5 minutes.
  std::chrono::seconds max_retry_after{300};
  // Retries of transient failures per run, over every file. Once spent, a transient failure fails
  // the file at once (its project is deferred). Default 1000.
  uint64_t retry_budget = 1000;
  // Smallest declared size downloaded into a resumable partial; smaller files use a temporary
  // that a failure discards (resuming them would save little, and each resumable partial costs a
  // record write). Default 1 MiB.
  uint64_t resume_min_bytes = uint64_t{1} << 20;
  // Draws in [0, 1) for the jitter; empty: net::MakeRandomSource(). Tests inject their own.
  net::RandomSource random;
};

// What the downloads of one run did beyond fetching. Executor: the network executor.
struct DownloaderStats {
  uint64_t retries = 0;           // transient failures retried (each took one from the budget)
  uint64_t resumed = 0;           // partials continued with a 206 or published from disk
  uint64_t bytes_resumed = 0;     // bytes those partials held, not fetched again
  uint64_t restarts = 0;          // partials emptied: a 200 to a range, 416, a changed validator,
                                  // a mismatched Content-Range or hash
  uint64_t budget_exhausted = 0;  // transient failures not retried because the budget was spent
};

class Downloader {
 public:
  // `retrier`: the run's, shared with its page fetches (one budget, one set of pauses); when
  // null, the Downloader makes its own from `options` (max_retry_after, retry_budget, random).
  // Lifetime: `retrier` outlives the Downloader.
  Downloader(Upstream& upstream, store::Tree& tree, asio::thread_pool& disk,
             DownloaderOptions options = {}, Retrier* retrier = nullptr);
  ~Downloader();

  // Fetches `job.url` into `job.dest`.
  // Errors: Errc::kFileFetch (status or transport, detail has the URL; `transient` when a later
  // run may well succeed), kHashMismatch (twice), kSizeMismatch, store errors (local I/O); each
  // names the project and file.
  // Cancellation: returns `operation_aborted` at once, never retried; a temporary partial is
  // discarded, a resumable one is kept for the next run.
  net::Task<Result<DownloadedFile>> Download(DownloadJob job);

  const DownloaderStats& stats() const { return stats_; }

 private:
  struct Transfer;
  struct Outcome;
  class Buffer;
  class FileSink;
  net::Task<Result<void>> Prepare(Transfer& transfer);
  net::Task<Outcome> Attempt(Transfer& transfer);
  net::Task<Outcome> Finish(Transfer& transfer);

  Upstream& upstream_;
  store::Tree& tree_;
  asio::thread_pool& disk_;
  DownloaderOptions options_;
  std::unique_ptr<Retrier> own_retrier_;  // when none was given
  Retrier& retrier_;
  DownloaderStats stats_;
  std::set<std::string> active_;  // keys of the resumable partials open now
  // Write buffers of finished downloads, for the next ones: no allocation and no page faults per
  // download, and a peak RSS of the concurrent downloads' buffers.
  std::vector<Buffer> spare_buffers_;
};

}  // namespace cistern::engine
