#include "tools/cistern/sync_command.h"

#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <exception>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "engine/sync_run.h"
#include "net/asio.h"
#include "net/url.h"
#include "tools/cistern/exit_code.h"
#include "tools/cistern/progress.h"
#include "tools/cistern/version.h"

namespace cistern::cli {
namespace {

using Clock = std::chrono::steady_clock;

// Redraws the progress line every half second until cancelled.
net::Task<void> ShowProgress(const engine::SyncProgress* progress, Clock::time_point started) {
  for (;;) {
    co_await net::SleepFor(std::chrono::milliseconds(500));
    auto state = co_await asio::this_coro::cancellation_state;
    if (state.cancelled() != asio::cancellation_type::none) {
      co_return;
    }
    std::fprintf(stderr, "\r\033[K%s", FormatProgress(*progress, Clock::now() - started).c_str());
    std::fflush(stderr);
  }
}

int ExitCodeFor(const engine::Error& error) {
  if (error.code == engine::Errc::kConfig) {
    return kExitUsage;
  }
  if (error.code == engine::Errc::kLocked) {
    return kExitLocked;
  }
  if (error.code == engine::Errc::kUpstreamIndex || error.code == engine::Errc::kDeletionGuard) {
    return kExitUpstream;
  }
  if (engine::IsLocal(error)) {
    return kExitLocalIo;
  }
  if (error.code == engine::Errc::kCancelled) {
    return kExitInterrupted;
  }
  return kExitInternal;
}

std::string Advice(int exit_code) {
  switch (exit_code) {
    case kExitUsage:
      return "fix the option or cistern.toml and run again";
    case kExitLocked:
      return "another sync is running on this mirror; this run changed nothing";
    case kExitUpstream:
      return "nothing was changed; check the upstream URL, the network and --ca-file, then retry";
    case kExitLocalIo:
      return "fix the disk or permissions problem and run again; committed work is kept";
    case kExitInterrupted:
      return "interrupted; committed work is kept and the next run continues";
    default:
      return "this is a bug in cistern; please report it with the log";
  }
}

engine::SyncOptions MakeOptions(const Config& config, const SyncFlags& flags) {
  engine::SyncOptions options;
  options.mirror = flags.mirror.value_or(config.mirror);
  options.upstream = flags.upstream.value_or(config.upstream);
  // Both were checked (CLI11 and the config table), so the fallback never applies.
  options.upstream_format =
      engine::ParseUpstreamFormat(flags.upstream_format.value_or(config.upstream_format))
          .value_or(engine::UpstreamFormat::kJson);
  options.projects = flags.projects;
  options.jobs = static_cast<size_t>(flags.jobs.value_or(config.jobs));
  options.downloads_per_project = static_cast<size_t>(config.downloads_per_project);
  options.dry_run = flags.dry_run;
  options.allow_deletions = flags.allow_deletions;
  options.max_delete_count = static_cast<size_t>(config.max_delete_count);
  options.max_delete_percent = static_cast<size_t>(config.max_delete_percent);
  options.page_attempts = static_cast<int>(config.page_attempts);
  options.page_backoff = std::chrono::milliseconds(config.page_backoff_ms);
  options.rules.exclude_yanked = config.exclude_yanked;
  options.tree.fsync = config.fsync;
  options.tree.direct_writes = config.direct_io;
  options.download.attempts = static_cast<int>(config.file_attempts);
  options.download.backoff = std::chrono::milliseconds(config.file_backoff_ms);
  options.download.max_backoff = std::chrono::milliseconds(config.max_backoff_ms);
  options.download.max_retry_after = std::chrono::seconds(config.max_retry_after_s);
  options.download.retry_budget = static_cast<uint64_t>(config.retry_budget);
  options.download.resume_min_bytes = static_cast<uint64_t>(config.resume_min_bytes);
  options.partial_max_age = std::chrono::hours(config.partial_max_age_hours);
  options.client.ca_files = config.ca_files;
  options.client.ca_files.insert(options.client.ca_files.end(), flags.ca_files.begin(),
                                 flags.ca_files.end());
  options.client.max_connections_per_origin =
      static_cast<size_t>(config.max_connections_per_origin);
  options.client.http2 = config.http2;
  options.client.max_streams_per_connection =
      static_cast<size_t>(config.max_streams_per_connection);
  options.client.connect_timeout = std::chrono::milliseconds(config.connect_timeout_ms);
  options.client.tls_handshake_timeout = std::chrono::milliseconds(config.tls_handshake_timeout_ms);
  options.client.idle_timeout = std::chrono::milliseconds(config.idle_timeout_ms);
  options.client.request_timeout = std::chrono::milliseconds(config.request_timeout_ms);
  options.client.user_agent =
      config.user_agent.empty() ? std::string("cistern/") + kVersion : config.user_agent;
  options.client.proxy =
      ProxyOptionsFor(config, [](const char* name) -> const char* { return std::getenv(name); });
  options.client.max_rate = static_cast<uint64_t>(config.max_rate);
  return options;
}

void PrintSummary(const engine::SyncReport& report, bool dry_run) {
  if (dry_run) {
    std::printf("dry run: %zu of %zu projects would be synced\n", report.projects_changed,
                report.projects_upstream);
    for (const std::string& name : report.would_sync) {
      std::printf("  %s\n", name.c_str());
    }
    if (!report.would_delete.empty()) {
      std::printf("dry run: %zu projects are no longer listed upstream and would be deleted once "
                  "their pages are gone\n",
                  report.would_delete.size());
      for (const std::string& name : report.would_delete) {
        std::printf("  %s\n", name.c_str());
      }
    }
    return;
  }
  const std::string serial = report.serial ? std::to_string(*report.serial) : "unknown";
  std::printf(
      "sync %s: generation %llu, serial %s, %zu projects synced, %zu deferred, %zu files (%s) "
      "fetched, %zu removed, %zu projects deleted, %zu pages written, %.1f s\n",
      report.interrupted ? "interrupted"
      : report.deferred.empty() ? "complete"
                                : "incomplete",
      static_cast<unsigned long long>(report.generation), serial.c_str(), report.projects_synced,
      report.deferred.size(), report.files_fetched, FormatBytes(report.bytes_fetched).c_str(),
      report.files_removed, report.projects_deleted, report.pages_written,
      std::chrono::duration<double>(report.elapsed).count());
  const engine::DownloaderStats& downloads = report.downloads;
  if (downloads.resumed > 0 || downloads.retries > 0 || downloads.restarts > 0 ||
      downloads.budget_exhausted > 0) {
    std::printf("downloads: %llu resumed (%s not fetched again), %llu retries, %llu restarted "
                "from zero%s\n",
                static_cast<unsigned long long>(downloads.resumed),
                FormatBytes(downloads.bytes_resumed).c_str(),
                static_cast<unsigned long long>(downloads.retries),
                static_cast<unsigned long long>(downloads.restarts),
                downloads.budget_exhausted > 0 ? "; the retry budget ran out" : "");
  }
  // The run's other retries: the index root and project pages (one budget with the files).
  const uint64_t page_retries = report.retries.retries - std::min(report.retries.retries,
                                                                  downloads.retries);
  const bool page_budget_out = report.retries.budget_exhausted > downloads.budget_exhausted;
  if (page_retries > 0 || page_budget_out) {
    std::printf("pages: %llu retries%s\n", static_cast<unsigned long long>(page_retries),
                page_budget_out ? "; the retry budget ran out" : "");
  }
}

}  // namespace

net::ProxyOptions ProxyOptionsFor(const Config& config,
                                  const std::function<const char*(const char*)>& getenv) {
  if (config.proxy == "none") {
    return {};
  }
  net::ProxyOptions proxy = net::ProxyOptionsFromEnvironment(getenv);
  if (!config.proxy.empty()) {
    proxy.https_proxy = config.proxy;
    proxy.http_proxy = config.proxy;
  }
  if (!config.no_proxy.empty()) {
    proxy.no_proxy = config.no_proxy;
  }
  return proxy;
}

int RunSyncCommand(const Config& config, const SyncFlags& flags, bool quiet) {
  auto log = spdlog::get("cistern");
  engine::SyncOptions options = MakeOptions(config, flags);
  if (options.mirror.empty()) {
    log->error("no mirror directory: pass --mirror DIR or set [mirror] path in cistern.toml");
    return kExitUsage;
  }
  // The scheme as the client will read it (case-insensitive: "HTTP://" is plain http too).
  const auto upstream_url = net::Url::Parse(options.upstream);
  if (upstream_url && !upstream_url->is_https() && !config.allow_http) {
    log->error(
        "upstream {} is plain http://: set [mirror] allow_http = true in cistern.toml to allow it",
        options.upstream);
    return kExitUsage;
  }

  for (const auto& [scheme, url] : {std::pair{"https", options.client.proxy.https_proxy},
                                    std::pair{"http", options.client.proxy.http_proxy}}) {
    if (url.empty()) {
      continue;
    }
    if (auto proxy = net::ProxyEndpoint::Parse(url)) {
      log->info("{}:// connections go through proxy {}", scheme, proxy->str());
    }
  }

  asio::io_context context(1);
  engine::SyncProgress progress;
  engine::SyncControl control;
  asio::cancellation_signal stop_progress;
  asio::cancellation_signal abandon;
  const bool show_progress = !quiet && ::isatty(STDERR_FILENO) == 1 && !flags.dry_run;
  if (show_progress) {
    net::Spawn(context.get_executor(), ShowProgress(&progress, Clock::now()), stop_progress.slot(),
               [](std::exception_ptr) {});
  }

  // SIGINT/SIGTERM: the first stops taking new projects and lets those in progress commit; a
  // second abandons them. Either way the run ends with exit status 130.
  asio::signal_set signals(context, SIGINT, SIGTERM);
  int signals_received = 0;
  std::function<void(std::error_code, int)> on_signal = [&](std::error_code ec, int number) {
    if (ec) {
      return;  // the run ended and cancelled the wait
    }
    if (++signals_received == 1) {
      control.stop_requested = true;
      log->warn("{} received: finishing the projects in progress, then stopping (send it again to "
                "abandon them)",
                number == SIGINT ? "SIGINT" : "SIGTERM");
    } else {
      log->warn("abandoning the transfers in progress");
      abandon.emit(asio::cancellation_type::terminal);
    }
    signals.async_wait(on_signal);
  };
  signals.async_wait(on_signal);

  int exit_code = kExitInternal;
  net::Spawn(context.get_executor(), engine::RunSync(std::move(options), progress, &control),
             abandon.slot(),
             [&](std::exception_ptr exception, engine::Result<engine::SyncReport> result) {
               std::error_code ignored;
               signals.cancel(ignored);
               stop_progress.emit(asio::cancellation_type::terminal);
               if (show_progress) {
                 std::fprintf(stderr, "\r\033[K");
               }
               if (exception) {
                 try {
                   std::rethrow_exception(exception);
                 } catch (const std::exception& e) {
                   log->critical("internal error: {}", e.what());
                 } catch (...) {
                   log->critical("internal error: unknown exception");
                 }
                 exit_code = kExitInternal;
                 return;
               }
               if (!result) {
                 exit_code = control.stop_requested ? kExitInterrupted : ExitCodeFor(result.error());
                 if (result.error().code == engine::Errc::kDeletionGuard) {
                   // The detail already says how to allow it.
                   log->error("sync refused: {}; nothing was changed", result.error().Message());
                 } else {
                   log->error("sync failed: {} ({})", result.error().Message(),
                              Advice(exit_code));
                 }
                 return;
               }
               for (const engine::Error& warning : result->warnings) {
                 log->warn("skipped: {}", warning.Message());
               }
               for (const engine::Error& deferred : result->deferred) {
                 log->error("deferred: {} (the next run retries it)", deferred.Message());
               }
               if (!quiet) {
                 PrintSummary(*result, flags.dry_run);
               }
               if (result->interrupted) {
                 exit_code = kExitInterrupted;
               } else {
                 exit_code = result->deferred.empty() ? kExitOk : kExitDeferred;
               }
             });
  context.run();
  return exit_code;
}

}  // namespace cistern::cli
