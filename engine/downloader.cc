#include "engine/downloader.h"

#include <charconv>
#include <memory>
#include <vector>

#include <fmt/format.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include "engine/internal/log.h"

namespace cistern::engine {
namespace {

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

// Receives a file body: hashes it, batches it, writes batches to a partial file on the disk pool.
class FileSink final : public net::BodySink {
 public:
  FileSink(const DownloadJob& job, store::Tree& tree, asio::thread_pool& disk, size_t batch_bytes)
      : job_(job), tree_(tree), disk_(disk), batch_bytes_(batch_bytes) {
    if (job.verify) {
      other_ = OtherDigest::Create(job.verify->algorithm);
    }
    buffer_.reserve(batch_bytes_);
  }

  net::Result<void> OnHead(const net::ResponseHead& head) override {
    status_ = head.status;
    if (head.status != 200) {
      retry_after_ = RetryAfter(head);
      return tl::make_unexpected(
          net::Error{make_error_code(net::Errc::kSinkAborted),
                     fmt::format("GET {}: HTTP {} {}", head.url.str(), head.status, head.reason)});
    }
    if (job_.size && head.content_length && *head.content_length != *job_.size) {
      size_mismatch_ = true;
      return tl::make_unexpected(net::Error{
          make_error_code(net::Errc::kSinkAborted),
          fmt::format("GET {}: Content-Length {} but the page declares size {}", head.url.str(),
                      *head.content_length, *job_.size)});
    }
    return {};
  }

  net::Task<net::Result<void>> OnData(std::span<const uint8_t> bytes) override {
    received_ += bytes.size();
    if (job_.size && received_ > *job_.size) {
      size_mismatch_ = true;
      co_return tl::make_unexpected(net::Error{
          make_error_code(net::Errc::kSinkAborted),
          fmt::format("body longer than the declared size {}", *job_.size)});
    }
    sha256_.Update(bytes);
    if (other_) {
      other_->Update(bytes);
    }
    buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
    if (buffer_.size() >= batch_bytes_) {
      auto flushed = co_await Flush();
      if (!flushed) {
        local_error_ = flushed.error();
        co_return tl::make_unexpected(net::Error{make_error_code(net::Errc::kSinkAborted),
                                                 flushed.error().detail});
      }
    }
    co_return net::Result<void>{};
  }

  // Writes what is buffered to the partial file (creating it on first use).
  net::Task<store::Result<void>> Flush() {
    std::vector<uint8_t> batch;
    batch.swap(buffer_);
    buffer_.reserve(batch_bytes_);
    co_return co_await net::Offload(disk_, [this, &batch]() -> store::Result<void> {
      if (!partial_) {
        auto partial = tree_.CreatePartial();
        if (!partial) {
          return tl::make_unexpected(partial.error());
        }
        partial_.emplace(std::move(*partial));
      }
      return partial_->Write(batch);
    });
  }

  int status() const { return status_; }
  bool size_mismatch() const { return size_mismatch_; }
  uint64_t received() const { return received_; }
  std::chrono::milliseconds retry_after() const { return retry_after_; }
  const std::optional<store::Error>& local_error() const { return local_error_; }
  std::optional<store::PartialFile>& partial() { return partial_; }
  store::Sha256Digest FinishSha256() { return sha256_.Finish(); }
  std::string FinishOtherHex() { return other_ ? other_->FinishHex() : std::string(); }
  bool has_other() const { return other_ != nullptr; }

 private:
  static std::chrono::milliseconds RetryAfter(const net::ResponseHead& head) {
    auto value = head.headers.Get("Retry-After");
    int64_t seconds = 0;
    if (value) {
      std::from_chars(value->data(), value->data() + value->size(), seconds);
    }
    return std::chrono::milliseconds(std::max<int64_t>(0, seconds) * 1000);
  }

  const DownloadJob& job_;
  store::Tree& tree_;
  asio::thread_pool& disk_;
  size_t batch_bytes_;
  store::Sha256Hasher sha256_;
  std::unique_ptr<OtherDigest> other_;
  std::vector<uint8_t> buffer_;
  std::optional<store::PartialFile> partial_;
  uint64_t received_ = 0;
  int status_ = 0;
  bool size_mismatch_ = false;
  std::optional<store::Error> local_error_;
  std::chrono::milliseconds retry_after_{0};
};

bool IsRetryableStatus(int status) {
  return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

}  // namespace

Downloader::Downloader(Upstream& upstream, store::Tree& tree, asio::thread_pool& disk,
                       DownloaderOptions options)
    : upstream_(upstream), tree_(tree), disk_(disk), options_(options) {}

net::Task<Result<DownloadedFile>> Downloader::Download(DownloadJob job) {
  std::chrono::milliseconds backoff = options_.backoff;
  for (int attempt = 1;; ++attempt) {
    bool retryable = false;
    std::chrono::milliseconds retry_after{0};
    auto result = co_await Attempt(job, retryable, retry_after);
    if (result || !retryable || attempt >= options_.attempts) {
      co_return result;
    }
    auto state = co_await asio::this_coro::cancellation_state;
    if (state.cancelled() != asio::cancellation_type::none) {
      co_return result;
    }
    const auto wait = std::max(backoff, std::min<std::chrono::milliseconds>(
                                            retry_after, options_.max_retry_after));
    Log()->warn("download retry project={} file={} attempt={} wait_ms={} reason=\"{}\"",
                                job.project, job.filename, attempt, wait.count(),
                                result.error().detail);
    co_await net::SleepFor(wait);
    backoff *= 2;
  }
}

net::Task<Result<DownloadedFile>> Downloader::Attempt(const DownloadJob& job, bool& retryable,
                                                      std::chrono::milliseconds& retry_after) {
  FileSink sink(job, tree_, disk_, options_.write_batch_bytes);
  auto head = co_await upstream_.FetchFile(job.url, sink);
  if (sink.local_error()) {
    co_return tl::make_unexpected(FromStore(*sink.local_error(), job.project, job.filename));
  }
  if (sink.size_mismatch()) {
    co_return tl::make_unexpected(MakeError(
        Errc::kSizeMismatch,
        fmt::format("GET {}: size differs from the declared {} bytes", job.url.str(),
                    job.size.value_or(0)),
        job.project, job.filename));
  }
  if (sink.status() != 0 && sink.status() != 200) {
    retryable = IsRetryableStatus(sink.status());
    retry_after = sink.retry_after();
    co_return tl::make_unexpected(MakeError(
        Errc::kFileFetch, fmt::format("GET {}: HTTP {}", job.url.str(), sink.status()),
        job.project, job.filename));
  }
  if (!head) {
    retryable = head.error().transient;
    Error error = head.error();
    error.project = job.project;
    error.file = job.filename;
    co_return tl::make_unexpected(std::move(error));
  }
  auto flushed = co_await sink.Flush();
  if (!flushed) {
    co_return tl::make_unexpected(FromStore(flushed.error(), job.project, job.filename));
  }
  if (job.size && sink.received() != *job.size) {
    co_return tl::make_unexpected(MakeError(
        Errc::kSizeMismatch,
        fmt::format("GET {}: got {} bytes but the page declares {}", job.url.str(),
                    sink.received(), *job.size),
        job.project, job.filename));
  }
  const store::Sha256Digest sha256 = sink.FinishSha256();
  if (job.sha256 && sha256 != *job.sha256) {
    co_return tl::make_unexpected(MakeError(
        Errc::kHashMismatch,
        fmt::format("GET {}: sha256 {} does not match the page's {} (not published)",
                    job.url.str(), sha256.Hex(), job.sha256->Hex()),
        job.project, job.filename));
  }
  if (job.verify && sink.has_other()) {
    const std::string other = sink.FinishOtherHex();
    if (other != job.verify->hex) {
      co_return tl::make_unexpected(MakeError(
          Errc::kHashMismatch,
          fmt::format("GET {}: {} {} does not match the page's {} (not published)",
                      job.url.str(), job.verify->algorithm, other, job.verify->hex),
          job.project, job.filename));
    }
  }
  store::RelativePath dest = job.dest;
  auto published = co_await net::Offload(disk_, [&sink, &dest, this]() -> store::Result<void> {
    if (!sink.partial()) {
      // An empty body never triggered a write: create the (empty) file now.
      auto partial = tree_.CreatePartial();
      if (!partial) {
        return tl::make_unexpected(partial.error());
      }
      sink.partial().emplace(std::move(*partial));
    }
    store::PartialFile file = std::move(*sink.partial());
    sink.partial().reset();
    return tree_.Publish(std::move(file), dest);
  });
  if (!published) {
    co_return tl::make_unexpected(FromStore(published.error(), job.project, job.filename));
  }
  co_return DownloadedFile{sha256, sink.received()};
}

}  // namespace cistern::engine
