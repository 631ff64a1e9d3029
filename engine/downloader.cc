#include "engine/downloader.h"

#include <algorithm>
#include <cassert>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <span>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include "engine/internal/log.h"
#include "engine/internal/partial_record.h"
#include "net/byte_range.h"
#include "store/crash_point.h"

namespace cistern::engine {
namespace {

// Restarts from zero one download may take for range trouble (416, a mismatched Content-Range,
// a changed validator) before it fails: after one, no Range is sent, so a second is a broken
// server.
constexpr int kMaxRangeRestarts = 2;
// Bytes read at a time when re-hashing a partial found on disk.
constexpr size_t kRehashChunk = size_t{1} << 20;
// Write buffers kept for later downloads: more than the downloads a run has in flight.
constexpr size_t kMaxSpareBuffers = 64;

// A hashlib-named digest other than SHA-256 (sha512, sha384, ...), through OpenSSL.
class OtherDigest {
 public:
  static std::unique_ptr<OtherDigest> Create(const std::string& algorithm) {
    const EVP_MD* md = EVP_get_digestbyname(algorithm.c_str());
    if (md == nullptr) {
      return nullptr;
    }
    auto digest = std::unique_ptr<OtherDigest>(new OtherDigest());
    if (digest->ctx_ == nullptr || EVP_DigestInit_ex(digest->ctx_, md, nullptr) != 1) {
      return nullptr;
    }
    return digest;
  }
  ~OtherDigest() { EVP_MD_CTX_free(ctx_); }
  OtherDigest(const OtherDigest&) = delete;
  OtherDigest& operator=(const OtherDigest&) = delete;

  void Update(std::span<const uint8_t> bytes) { EVP_DigestUpdate(ctx_, bytes.data(), bytes.size()); }

  std::string FinishHex() {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_DigestFinal_ex(ctx_, out, &length);
    std::string hex;
    for (unsigned int i = 0; i < length; ++i) {
      hex += fmt::format("{:02x}", out[i]);
    }
    return hex;
  }

 private:
  OtherDigest() : ctx_(EVP_MD_CTX_new()) {}
  EVP_MD_CTX* ctx_;
};

// The validators of a 200 response usable for If-Range (RFC 9110 §13.1.5): a strong ETag, and a
// Last-Modified at least one second older than the response's Date (§8.8.2.2: only then is the
// date a strong validator).
void CaptureValidators(const net::ResponseHead& head, internal::PartialRecord& record) {
  record.etag.clear();
  record.last_modified.clear();
  if (auto etag = head.headers.Get("ETag"); etag && !etag->empty() && !etag->starts_with("W/")) {
    record.etag = std::string(*etag);
  }
  auto modified = head.headers.Get("Last-Modified");
  auto date = head.headers.Get("Date");
  if (modified && date) {
    auto modified_at = net::ParseHttpDate(*modified);
    auto date_at = net::ParseHttpDate(*date);
    if (modified_at && date_at && *date_at - *modified_at >= std::chrono::seconds(1)) {
      record.last_modified = std::string(*modified);
    }
  }
}

bool IsCancelledError(const Error& error) { return error.code == asio::error::operation_aborted; }

}  // namespace

// One file's download across its attempts: the partial, and the digests of every byte in it.
struct Downloader::Transfer {
  explicit Transfer(DownloadJob j) : job(std::move(j)) { ResetDigests(); }

  // Forget the bytes: the partial is emptied before the next write.
  void Restart() {
    truncate_pending = file.has_value() || truncate_pending;
    bytes = 0;
    resumed_bytes = 0;
    ResetDigests();
  }

  void ResetDigests() {
    sha256 = store::Sha256Hasher();
    other = job.verify ? OtherDigest::Create(job.verify->algorithm) : nullptr;
  }

  DownloadJob job;
  bool resumable = false;
  std::optional<store::PartialFile> file;  // created on the first write unless resumable
  internal::PartialRecord record;          // resumable: what the partial's record says (or will)
  bool record_pending = false;             // write `record` before the next bytes
  bool truncate_pending = false;           // empty the file before the next bytes
  store::Sha256Hasher sha256;              // over the `bytes` bytes of the file (and buffer)
  std::unique_ptr<OtherDigest> other;
  uint64_t bytes = 0;
  uint64_t resumed_bytes = 0;  // bytes on disk when the latest 206 continued them
};

// How one attempt ended.
struct Downloader::Outcome {
  enum class Kind {
    kDone,          // published: `file`
    kTransient,     // worth another attempt after a wait (`retry_after` when the server said)
    kRestart,       // range trouble: empty the partial and fetch again at once
    kHashMismatch,  // the bytes are wrong: empty the partial, fetch again once
    kFailed,        // permanent for this run; `discard` the partial when its bytes are useless
    kCancelled,
    kLocal,         // local I/O: the run ends
  };
  Kind kind = Kind::kFailed;
  std::optional<Error> error;
  std::optional<DownloadedFile> file;
  std::optional<std::chrono::seconds> retry_after;
  bool discard = false;
};

// Bytes waiting for the disk, in storage aligned for O_DIRECT (store::kDirectAlignment), reused
// from one batch to the next and, through Downloader::spare_buffers_, from one download to the next.
class Downloader::Buffer {
 public:
  Buffer() = default;
  Buffer(Buffer&& other) noexcept
      : data_(std::move(other.data_)),
        size_(std::exchange(other.size_, 0)),
        capacity_(std::exchange(other.capacity_, 0)) {}
  Buffer& operator=(Buffer&& other) noexcept {
    data_ = std::move(other.data_);
    size_ = std::exchange(other.size_, 0);
    capacity_ = std::exchange(other.capacity_, 0);
    return *this;
  }

  // Makes room for `capacity` bytes (a whole number of blocks), dropping what the buffer holds.
  void Reset(size_t capacity) {
    assert(capacity % store::kDirectAlignment == 0);
    size_ = 0;
    if (capacity == capacity_) {
      return;
    }
    data_.reset(static_cast<uint8_t*>(std::aligned_alloc(store::kDirectAlignment, capacity)));
    if (!data_) {
      throw std::bad_alloc();
    }
    capacity_ = capacity;
  }

  // The caller keeps within the capacity: a full buffer is written out before more is appended.
  void Append(std::span<const uint8_t> bytes) {
    assert(size_ + bytes.size() <= capacity_);
    std::memcpy(data_.get() + size_, bytes.data(), bytes.size());
    size_ += bytes.size();
  }

  std::span<const uint8_t> bytes() const { return {data_.get(), size_}; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  void Clear() { size_ = 0; }

 private:
  struct Free {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  std::unique_ptr<uint8_t, Free> data_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

// Receives one response: checks its head against the request and the job, hashes the body,
// batches it and writes batches to the partial on the disk pool.
class Downloader::FileSink final : public net::BodySink {
 public:
  FileSink(Transfer& transfer, store::Tree& tree, asio::thread_pool& disk, size_t batch_bytes,
           const std::optional<FileRange>& range, std::vector<Buffer>& spare)
      : t_(transfer),
        tree_(tree),
        disk_(disk),
        // Whole blocks, so every batch but the last can be written O_DIRECT (Flush).
        batch_bytes_(std::max<size_t>(batch_bytes / store::kDirectAlignment, 1) *
                     store::kDirectAlignment),
        range_(range),
        spare_(spare) {
    if (!spare_.empty()) {
      buffer_ = std::move(spare_.back());
      spare_.pop_back();
    }
    buffer_.Reset(batch_bytes_);
  }
  ~FileSink() override {
    if (spare_.size() < kMaxSpareBuffers) {
      buffer_.Clear();
      spare_.push_back(std::move(buffer_));
    }
  }
  FileSink(const FileSink&) = delete;
  FileSink& operator=(const FileSink&) = delete;

  net::Result<void> OnHead(const net::ResponseHead& head) override {
    status_ = head.status;
    const DownloadJob& job = t_.job;
    if (range_ && head.status == 206) {
      if (std::string why = CheckPartialContent(head); !why.empty()) {
        range_problem_ = fmt::format("GET {} ({}): {}", head.url.str(),
                                     net::ByteRange{range_->offset, std::nullopt}.HeaderValue(), why);
        return Abort(range_problem_);
      }
      t_.resumed_bytes = range_->offset;
      return {};
    }
    if (range_ && head.status == 416) {
      range_problem_ = fmt::format("GET {}: HTTP 416 for bytes={}- (the partial is longer than "
                                   "the file upstream)",
                                   head.url.str(), range_->offset);
      return Abort(range_problem_);
    }
    if (head.status != 200) {
      if (net::HonoursRetryAfter(head.status)) {
        if (auto value = head.headers.Get("Retry-After")) {
          retry_after_ = net::ParseRetryAfter(*value, std::chrono::system_clock::now());
        }
      }
      return Abort(fmt::format("GET {}: HTTP {} {}", head.url.str(), head.status, head.reason));
    }
    // The whole file: the first request, or a server that ignored the range or whose file changed
    // (If-Range did not match). What the partial held is worthless now.
    if (t_.bytes > 0 || range_) {
      Log()->info("download restarts from zero project={} file={} reason=\"HTTP 200 to a range "
                  "request: the file changed upstream or the server ignores ranges\"",
                  job.project, job.filename);
      t_.Restart();
      restarted_ = true;
    }
    if (job.size && head.content_length && *head.content_length != *job.size) {
      size_mismatch_ = true;
      return Abort(fmt::format("GET {}: Content-Length {} but the page declares size {}",
                               head.url.str(), *head.content_length, *job.size));
    }
    if (t_.resumable) {
      CaptureValidators(head, t_.record);
      t_.record_pending = true;
    }
    return {};
  }

  net::Task<net::Result<void>> OnData(std::span<const uint8_t> bytes) override {
    const DownloadJob& job = t_.job;
    if (job.size && t_.bytes + bytes.size() > *job.size) {
      size_mismatch_ = true;
      co_return Abort(fmt::format("body longer than the declared size {}", *job.size));
    }
    t_.sha256.Update(bytes);
    if (t_.other) {
      t_.other->Update(bytes);
    }
    t_.bytes += bytes.size();
    // In batches of exactly batch_bytes_ (whole blocks): an HTTP/2 stream can hand over up to its
    // window (1 MiB) at once, and the buffer never grows past one batch.
    while (!bytes.empty()) {
      const size_t take = std::min(bytes.size(), batch_bytes_ - buffer_.size());
      buffer_.Append(bytes.first(take));
      bytes = bytes.subspan(take);
      if (buffer_.size() < batch_bytes_) {
        break;
      }
      auto flushed = co_await Flush();
      if (!flushed) {
        local_error_ = flushed.error();
        co_return Abort(flushed.error().detail);
      }
      // Part of the body is in incoming/ (a temporary, or a resumable partial), the rest still
      // on the wire.
      CISTERN_CRASH_POINT("downloader.mid_file");
    }
    co_return net::Result<void>{};
  }

  // Applies what is pending (emptying the partial, writing its record) and writes the buffer,
  // creating a temporary partial on first use; afterwards the file holds exactly `t_.bytes` bytes.
  // Before the end of the body the buffer is a full batch, whole blocks (store::kDirectAlignment),
  // so the write can go O_DIRECT; the body's last flush writes the tail.
  net::Task<store::Result<void>> Flush() {
    if (buffer_.empty() && !t_.truncate_pending && !t_.record_pending) {
      co_return store::Result<void>{};
    }
    // OnData awaits this, so the buffer does not change while the disk pool writes from it.
    const std::span<const uint8_t> batch = buffer_.bytes();
    auto flushed = co_await net::Offload(disk_, [this, batch]() -> store::Result<void> {
      if (!t_.file) {
        auto partial = tree_.CreatePartial();
        if (!partial) {
          return tl::make_unexpected(partial.error());
        }
        t_.file.emplace(std::move(*partial));
      }
      if (t_.truncate_pending) {
        if (auto emptied = t_.file->Truncate(); !emptied) {
          return emptied;
        }
        t_.truncate_pending = false;
      }
      if (t_.record_pending && t_.file->resumable()) {
        // Before the bytes: a partial on disk never holds bytes its record does not describe.
        auto written = tree_.WriteResumableRecord(*t_.file, internal::EncodePartialRecord(t_.record));
        if (!written) {
          return written;
        }
      }
      t_.record_pending = false;
      return batch.empty() ? store::Result<void>{} : t_.file->Write(batch);
    });
    // After a failure too: the bytes written are unknown, and the transfer ends.
    buffer_.Clear();
    co_return flushed;
  }

  int status() const { return status_; }
  bool size_mismatch() const { return size_mismatch_; }
  bool restarted() const { return restarted_; }
  const std::string& range_problem() const { return range_problem_; }
  std::optional<std::chrono::seconds> retry_after() const { return retry_after_; }
  const std::optional<store::Error>& local_error() const { return local_error_; }

 private:
  static tl::unexpected<net::Error> Abort(std::string detail) {
    return tl::make_unexpected(
        net::Error{make_error_code(net::Errc::kSinkAborted), std::move(detail)});
  }

  // Why a 206 cannot continue the partial, or "" when it can.
  std::string CheckPartialContent(const net::ResponseHead& head) const {
    const DownloadJob& job = t_.job;
    auto value = head.headers.Get("Content-Range");
    if (!value) {
      return "206 without Content-Range";
    }
    auto range = net::ParseContentRange(*value);
    if (!range || !range->satisfied) {
      return fmt::format("unusable Content-Range \"{}\"", *value);
    }
    if (range->first != range_->offset) {
      return fmt::format("Content-Range \"{}\" does not start at byte {}", *value, range_->offset);
    }
    if (job.size && ((range->complete_length && *range->complete_length != *job.size) ||
                     range->last + 1 != *job.size)) {
      return fmt::format("Content-Range \"{}\" does not match the declared size {}", *value,
                         *job.size);
    }
    if (head.content_length && *head.content_length != range->length()) {
      return fmt::format("Content-Length {} does not match Content-Range \"{}\"",
                         *head.content_length, *value);
    }
    auto etag = head.headers.Get("ETag");
    if (etag && !t_.record.etag.empty() && *etag != t_.record.etag) {
      return fmt::format("ETag changed from {} to {}", t_.record.etag, *etag);
    }
    return {};
  }

  Transfer& t_;
  store::Tree& tree_;
  asio::thread_pool& disk_;
  size_t batch_bytes_;
  const std::optional<FileRange>& range_;
  Buffer buffer_;
  std::vector<Buffer>& spare_;
  int status_ = 0;
  bool size_mismatch_ = false;
  bool restarted_ = false;
  std::string range_problem_;
  std::optional<std::chrono::seconds> retry_after_;
  std::optional<store::Error> local_error_;
};

Downloader::Downloader(Upstream& upstream, store::Tree& tree, asio::thread_pool& disk,
                       DownloaderOptions options, Retrier* retrier)
    : upstream_(upstream),
      tree_(tree),
      disk_(disk),
      options_(std::move(options)),
      own_retrier_(retrier != nullptr
                       ? nullptr
                       : std::make_unique<Retrier>(RetryOptions{options_.max_retry_after,
                                                                options_.retry_budget,
                                                                options_.random})),
      retrier_(retrier != nullptr ? *retrier : *own_retrier_) {}

Downloader::~Downloader() = default;

net::Task<Result<DownloadedFile>> Downloader::Download(DownloadJob job) {
  Transfer transfer(std::move(job));
  const DownloadJob& j = transfer.job;
  // At most one open resumable partial per path: a second download of the same path in this run
  // (two projects linking one file) uses a temporary.
  struct Claim {
    std::set<std::string>* active = nullptr;
    std::string key;
    ~Claim() {
      if (active != nullptr) {
        active->erase(key);
      }
    }
  } claim;
  if (j.sha256 && j.size && *j.size >= options_.resume_min_bytes &&
      active_.insert(j.dest.str()).second) {
    claim.active = &active_;
    claim.key = j.dest.str();
    transfer.resumable = true;
    if (auto prepared = co_await Prepare(transfer); !prepared) {
      co_return tl::make_unexpected(prepared.error());
    }
  }

  int transient_failures = 0;
  int range_restarts = 0;
  bool hash_retried = false;
  for (;;) {
    Outcome outcome = co_await Attempt(transfer);
    using Kind = Outcome::Kind;
    switch (outcome.kind) {
      case Kind::kDone:
        if (outcome.file->resumed_bytes > 0) {
          ++stats_.resumed;
          stats_.bytes_resumed += outcome.file->resumed_bytes;
        }
        co_return std::move(*outcome.file);
      case Kind::kLocal:
      case Kind::kCancelled:
        co_return tl::make_unexpected(std::move(*outcome.error));
      case Kind::kFailed:
        if (outcome.discard && transfer.file) {
          store::PartialFile file = std::move(*transfer.file);
          transfer.file.reset();
          auto discarded =
              co_await net::Offload(disk_, [this, &file] { return tree_.Discard(std::move(file)); });
          if (!discarded) {
            co_return tl::make_unexpected(FromStore(discarded.error(), j.project, j.filename));
          }
        }
        co_return tl::make_unexpected(std::move(*outcome.error));
      case Kind::kRestart:
        ++stats_.restarts;
        if (++range_restarts > kMaxRangeRestarts) {
          co_return tl::make_unexpected(std::move(*outcome.error));
        }
        Log()->warn("download restarts from zero project={} file={} reason=\"{}\"", j.project,
                    j.filename, outcome.error->detail);
        transfer.Restart();
        transfer.record.etag.clear();
        transfer.record.last_modified.clear();
        continue;
      case Kind::kHashMismatch:
        ++stats_.restarts;
        transfer.Restart();
        if (hash_retried) {
          // Twice wrong: the page or the file upstream is broken; keep nothing.
          if (transfer.file) {
            store::PartialFile file = std::move(*transfer.file);
            transfer.file.reset();
            auto discarded = co_await net::Offload(
                disk_, [this, &file] { return tree_.Discard(std::move(file)); });
            if (!discarded) {
              co_return tl::make_unexpected(FromStore(discarded.error(), j.project, j.filename));
            }
          }
          co_return tl::make_unexpected(std::move(*outcome.error));
        }
        hash_retried = true;
        Log()->warn("download restarts from zero project={} file={} reason=\"{}\"", j.project,
                    j.filename, outcome.error->detail);
        continue;
      case Kind::kTransient:
        break;
    }

    // A transient failure: wait and try again, if this file, the server and the run allow it.
    Error error = std::move(*outcome.error);
    ++transient_failures;
    const uint64_t exhausted_before = retrier_.stats().budget_exhausted;
    const auto wait = retrier_.NextWait(
        error, transient_failures,
        RetryRule{options_.attempts, net::BackoffPolicy{options_.backoff, options_.max_backoff}},
        j.url.origin(), outcome.retry_after);
    if (!wait) {
      stats_.budget_exhausted += retrier_.stats().budget_exhausted - exhausted_before;
      co_return tl::make_unexpected(std::move(error));
    }
    ++stats_.retries;
    Log()->warn("download retry project={} file={} attempt={} wait_ms={} on_disk={} reason=\"{}\"",
                j.project, j.filename, transient_failures, wait->count(), transfer.bytes,
                error.detail);
    if (!co_await Retrier::Sleep(*wait)) {
      co_return tl::make_unexpected(FromNet(
          net::Error{asio::error::operation_aborted, "GET " + j.url.str() + ": retry wait"},
          j.project, j.filename));
    }
  }
}

net::Task<Result<void>> Downloader::Prepare(Transfer& transfer) {
  const DownloadJob& job = transfer.job;
  transfer.record = internal::PartialRecord{job.url.str(), job.size, *job.sha256, {}, {}};
  auto opened = co_await net::Offload(disk_, [this, &transfer]() -> store::Result<uint64_t> {
    const DownloadJob& wanted = transfer.job;
    auto partial = tree_.OpenResumable(wanted.dest.str());
    if (!partial) {
      return tl::make_unexpected(partial.error());
    }
    store::PartialFile& file = partial->file;
    const uint64_t on_disk = file.size();
    std::optional<internal::PartialRecord> record;
    if (partial->record) {
      record = internal::DecodePartialRecord(*partial->record);
    }
    const bool usable = on_disk > 0 && on_disk <= *wanted.size && record &&
                        record->url == transfer.record.url && record->size == wanted.size &&
                        record->sha256 == *wanted.sha256 &&
                        (!record->validator().empty() || on_disk == *wanted.size);
    if (!usable) {
      if (on_disk > 0) {
        if (auto emptied = file.Truncate(); !emptied) {
          return tl::make_unexpected(emptied.error());
        }
      }
      transfer.file.emplace(std::move(file));
      return uint64_t{0};
    }
    // Re-hash what is there, so the digest covers the whole file once the rest arrives.
    std::vector<uint8_t> chunk(std::min<uint64_t>(kRehashChunk, on_disk));
    uint64_t offset = 0;
    while (offset < on_disk) {
      auto n = file.ReadAt(offset, chunk);
      if (!n) {
        return tl::make_unexpected(n.error());
      }
      if (*n == 0) {
        break;  // shorter than fstat said: resume from what was read
      }
      const std::span<const uint8_t> read(chunk.data(), *n);
      transfer.sha256.Update(read);
      if (transfer.other) {
        transfer.other->Update(read);
      }
      offset += *n;
    }
    if (offset != on_disk) {
      if (auto emptied = file.Truncate(); !emptied) {
        return tl::make_unexpected(emptied.error());
      }
      transfer.ResetDigests();
      offset = 0;
    }
    transfer.record.etag = record->etag;
    transfer.record.last_modified = record->last_modified;
    transfer.bytes = offset;
    transfer.file.emplace(std::move(file));
    return offset;
  });
  if (!opened) {
    co_return tl::make_unexpected(FromStore(opened.error(), job.project, job.filename));
  }
  if (*opened > 0) {
    Log()->info("download resumes project={} file={} on_disk={} size={}", job.project,
                job.filename, *opened, job.size.value_or(0));
  }
  co_return Result<void>{};
}

net::Task<Downloader::Outcome> Downloader::Attempt(Transfer& transfer) {
  const DownloadJob& job = transfer.job;
  auto failed = [&job](Outcome::Kind kind, Error error) {
    error.project = job.project;
    error.file = job.filename;
    Outcome outcome;
    outcome.kind = kind;
    outcome.error = std::move(error);
    return outcome;
  };
  if (transfer.resumable && job.size && transfer.bytes == *job.size && transfer.bytes > 0) {
    // Complete on disk (a run killed before publishing): verify and publish, no request.
    transfer.resumed_bytes = transfer.bytes;
    co_return co_await Finish(transfer);
  }
  if (!co_await retrier_.AwaitOrigin(job.url.origin())) {
    co_return failed(Outcome::Kind::kCancelled,
                     FromNet(net::Error{asio::error::operation_aborted,
                                        "GET " + job.url.str() + ": waiting for Retry-After"}));
  }
  std::optional<FileRange> range;
  if (transfer.bytes > 0) {
    if (transfer.resumable && !transfer.record.validator().empty()) {
      range = FileRange{transfer.bytes, transfer.record.validator()};
    } else {
      transfer.Restart();  // nothing to resume safely: the next bytes start the file again
    }
  }
  FileSink sink(transfer, tree_, disk_, options_.write_batch_bytes, range, spare_buffers_);
  auto head = co_await upstream_.FetchFile(job.url, sink, range, job.urgent);
  if (sink.restarted()) {
    ++stats_.restarts;
  }
  // Whatever happened, the partial then holds exactly the bytes hashed so far.
  auto flushed = co_await sink.Flush();
  if (sink.local_error()) {
    co_return failed(Outcome::Kind::kLocal, FromStore(*sink.local_error()));
  }
  if (!flushed) {
    co_return failed(Outcome::Kind::kLocal, FromStore(flushed.error()));
  }
  if (!sink.range_problem().empty()) {
    co_return failed(Outcome::Kind::kRestart, MakeError(Errc::kFileFetch, sink.range_problem()));
  }
  if (sink.size_mismatch()) {
    Outcome outcome = failed(
        Outcome::Kind::kFailed,
        MakeError(Errc::kSizeMismatch,
                  fmt::format("GET {}: size differs from the declared {} bytes{}", job.url.str(),
                              job.size.value_or(0),
                              head ? std::string() : ": " + head.error().detail)));
    outcome.discard = true;
    co_return outcome;
  }
  const int status = sink.status();
  if (status != 0 && status != 200 && status != 206) {
    Error error = MakeError(Errc::kFileFetch, fmt::format("GET {}: HTTP {}", job.url.str(), status));
    if (net::IsRetryableStatus(status)) {
      Outcome outcome = failed(Outcome::Kind::kTransient, std::move(error));
      outcome.retry_after = sink.retry_after();
      co_return outcome;
    }
    Outcome outcome = failed(Outcome::Kind::kFailed, std::move(error));
    outcome.discard = status == 404 || status == 410;  // gone upstream: the bytes are useless
    co_return outcome;
  }
  if (status == 206 && !range) {
    co_return failed(Outcome::Kind::kFailed,
                     MakeError(Errc::kFileFetch,
                               fmt::format("GET {}: HTTP 206 to a request without Range",
                                           job.url.str())));
  }
  if (!head) {
    Error error = head.error();
    if (IsCancelledError(error)) {
      co_return failed(Outcome::Kind::kCancelled, std::move(error));
    }
    // A body that broke off (an early close over HTTP/1.1, a stream ended short of its
    // content-length over HTTP/2, a reset, a timeout) is transient: the next attempt resumes it
    // and the digest still judges every byte. A protocol violation is not retried.
    co_return failed(error.transient ? Outcome::Kind::kTransient : Outcome::Kind::kFailed,
                     std::move(error));
  }
  if (job.size && transfer.bytes < *job.size) {
    // A body that ended early without a transport error (no Content-Length): the rest may come
    // with the next attempt.
    co_return failed(Outcome::Kind::kTransient,
                     MakeError(Errc::kFileFetch,
                               fmt::format("GET {}: the body ended after {} of {} bytes",
                                           job.url.str(), transfer.bytes, *job.size)));
  }
  co_return co_await Finish(transfer);
}

net::Task<Downloader::Outcome> Downloader::Finish(Transfer& transfer) {
  const DownloadJob& job = transfer.job;
  auto failed = [&job](Outcome::Kind kind, Error error) {
    error.project = job.project;
    error.file = job.filename;
    Outcome outcome;
    outcome.kind = kind;
    outcome.error = std::move(error);
    return outcome;
  };
  if (job.size && transfer.bytes != *job.size) {
    Outcome outcome = failed(
        Outcome::Kind::kFailed,
        MakeError(Errc::kSizeMismatch,
                  fmt::format("GET {}: got {} bytes but the page declares {}", job.url.str(),
                              transfer.bytes, *job.size)));
    outcome.discard = true;
    co_return outcome;
  }
  const store::Sha256Digest sha256 = transfer.sha256.Finish();
  if (job.sha256 && sha256 != *job.sha256) {
    co_return failed(Outcome::Kind::kHashMismatch,
                     MakeError(Errc::kHashMismatch,
                               fmt::format("GET {}: sha256 {} does not match the page's {} (not "
                                           "published)",
                                           job.url.str(), sha256.Hex(), job.sha256->Hex())));
  }
  if (job.verify && transfer.other) {
    const std::string other = transfer.other->FinishHex();
    if (other != job.verify->hex) {
      co_return failed(Outcome::Kind::kHashMismatch,
                       MakeError(Errc::kHashMismatch,
                                 fmt::format("GET {}: {} {} does not match the page's {} (not "
                                             "published)",
                                             job.url.str(), job.verify->algorithm, other,
                                             job.verify->hex)));
    }
  }
  auto published = co_await net::Offload(disk_, [this, &transfer]() -> store::Result<void> {
    if (!transfer.file) {
      // An empty body never triggered a write: create the (empty) file now.
      auto partial = tree_.CreatePartial();
      if (!partial) {
        return tl::make_unexpected(partial.error());
      }
      transfer.file.emplace(std::move(*partial));
    }
    store::PartialFile file = std::move(*transfer.file);
    transfer.file.reset();
    return tree_.Publish(std::move(file), transfer.job.dest);
  });
  if (!published) {
    co_return failed(Outcome::Kind::kLocal, FromStore(published.error()));
  }
  Outcome outcome;
  outcome.kind = Outcome::Kind::kDone;
  outcome.file = DownloadedFile{sha256, transfer.bytes, transfer.resumed_bytes};
  co_return outcome;
}

}  // namespace cistern::engine
