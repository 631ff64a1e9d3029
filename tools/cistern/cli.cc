#include "tools/cistern/cli.h"

#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "tools/cistern/config_file.h"
#include "tools/cistern/exit_code.h"
#include "tools/cistern/log_command.h"
#include "tools/cistern/logging.h"
#include "tools/cistern/status_command.h"
#include "tools/cistern/sync_command.h"
#include "tools/cistern/version.h"

namespace cistern::cli {
namespace {

constexpr const char* kDescription =
    "cistern keeps a local copy of a Python package index (all of PyPI, or a subset) as a static\n"
    "directory tree that nginx or any web server serves to pip and uv.\n";

constexpr const char* kFooter =
    "\nExamples:\n"
    "  cistern sync --mirror /srv/pypi                 mirror all of https://pypi.org\n"
    "  cistern sync --mirror /srv/pypi requests numpy  only these projects\n"
    "  cistern sync --mirror /srv/pypi --dry-run       show what would change\n"
    "  cistern sync --mirror /srv/pypi --upstream file:///media/usb/pypi/web/simple/\n"
    "                                                  from another mirror on a disk\n"
    "  cistern status --mirror /srv/pypi --json        what the mirror holds, for monitoring\n"
    "  cistern --config /etc/cistern/cistern.toml -q sync     nightly, from cron\n"
    "\nServe <mirror>/web with config/nginx/cistern-site.conf, then:\n"
    "  pip install --index-url https://your-mirror/simple/ PACKAGE\n"
    "\nConfiguration: --config FILE, else ./cistern.toml, else /etc/cistern/cistern.toml;\n"
    "the command line wins over the file. Every key is documented in config/cistern.toml.\n\n";

struct GlobalFlags {
  std::string config;
  bool quiet = false;
  bool verbose = false;
  std::string log_format;
};

}  // namespace

int RunCli(int argc, char** argv) {
  CLI::App app{kDescription, "cistern"};
  app.footer(std::string(kFooter) + kExitStatusHelp);
  app.set_version_flag("--version", std::string("cistern ") + kVersion);
  app.require_subcommand(1);

  GlobalFlags global;
  app.add_option("--config", global.config, "Configuration file (TOML)");
  app.add_flag("-q,--quiet", global.quiet, "Print only warnings and errors (for cron)");
  app.add_flag("-v,--verbose", global.verbose, "Log every request and file (debug level)");
  app.add_option("--log-format", global.log_format, "Log line format: text or json")
      ->check(CLI::IsMember({"text", "json"}));

  SyncFlags sync_flags;
  std::string mirror;
  std::string upstream;
  std::string upstream_format;
  int64_t jobs = 0;
  CLI::App* sync = app.add_subcommand(
      "sync",
      "Bring the mirror up to date with the upstream index: fetch only projects whose serial\n"
      "changed, verify every file's SHA-256 as it streams, publish files before the pages that\n"
      "link them, and record everything in the mirror's database.");
  sync->add_option("project", sync_flags.projects,
                   "Only sync these projects (any spelling; default: every project)");
  CLI::Option* mirror_option =
      sync->add_option("--mirror", mirror, "Mirror directory (config: [mirror] path)");
  CLI::Option* upstream_option =
      sync->add_option("--upstream", upstream,
                       "Upstream index: https:// (default https://pypi.org), http:// (with\n"
                       "[mirror] allow_http) or a local directory as file:///path/simple/\n"
                       "(config: [mirror] upstream)");
  CLI::Option* upstream_format_option =
      sync->add_option("--upstream-format", upstream_format,
                       "What the upstream may answer: json (PEP 691, default), auto (PEP 691,\n"
                       "else PEP 503 HTML) or html (ask for HTML) (config: [mirror]\n"
                       "upstream_format)")
          ->check(CLI::IsMember({"json", "auto", "html"}));
  sync->add_option(
          "--ca-file", sync_flags.ca_files,
          "Extra trusted CA certificate (PEM), repeatable; the system trust store stays on")
      ->check(CLI::ExistingFile)
      ->allow_extra_args(false);  // one file per --ca-file: never swallow the PROJECT arguments
  CLI::Option* jobs_option =
      sync->add_option("--jobs", jobs, "Projects synced at once (default 8; config: [sync] jobs)")
          ->check(CLI::Range(1, 256));
  sync->add_flag("--dry-run", sync_flags.dry_run,
                 "Show what would be synced and deleted; change nothing");
  sync->add_flag("--allow-deletions", sync_flags.allow_deletions,
                 "Delete every project the index no longer lists, even beyond the deletion guard\n"
                 "([sync] max_delete_count, max_delete_percent); for this run only");

  StatusFlags status_flags;
  std::string status_mirror;
  CLI::App* status = app.add_subcommand(
      "status",
      "Show what the mirror holds (generation, upstream serial, projects, files, bytes) and how\n"
      "the last sync went, including the projects it deferred. Safe while a sync runs.");
  CLI::Option* status_mirror_option =
      status->add_option("--mirror", status_mirror, "Mirror directory (config: [mirror] path)");
  status->add_flag("--json", status_flags.json,
                   "One JSON object: generation, serial, projects, files, bytes, deferred, last_run");

  LogFlags log_flags;
  std::string log_mirror;
  CLI::App* log_command = app.add_subcommand(
      "log",
      "Print the change journal: every path a sync added, replaced or removed under web/, with\n"
      "its generation, size and SHA-256 (the audit trail; a delta export covers the same range).");
  CLI::Option* log_mirror_option =
      log_command->add_option("--mirror", log_mirror, "Mirror directory (config: [mirror] path)");
  log_command->add_option("--since", log_flags.since, "First generation to show (default: all)");
  log_command->add_flag("--json", log_flags.json, "One JSON object per line");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // `cistern synk`: CLI11 would only say "A subcommand is required"; name the word instead.
    const std::vector<std::string> extra = app.remaining();
    if (app.get_subcommands().empty() && !extra.empty() && !extra.front().starts_with('-')) {
      std::string commands;
      for (const CLI::App* command : app.get_subcommands([](CLI::App*) { return true; })) {
        commands += (commands.empty() ? "" : ", ") + command->get_name();
      }
      std::fprintf(stderr,
                   "unknown command \"%s\" (commands: %s)\nRun with --help for more information.\n",
                   extra.front().c_str(), commands.c_str());
      return kExitUsage;
    }
    app.exit(e);
    return kExitUsage;
  }

  // Configuration: defaults, then the file, then the command line.
  Config config;
  std::optional<std::string> config_path =
      global.config.empty() ? DefaultConfigPath() : std::optional(global.config);
  std::string config_error;
  if (config_path) {
    ConfigResult loaded = LoadConfigFile(*config_path);
    if (!loaded.config) {
      config_error = loaded.error;
    } else {
      config = std::move(*loaded.config);
    }
  }
  std::string level = config.log_level;
  if (global.quiet) {
    level = "warn";
  }
  if (global.verbose) {
    level = "debug";
  }
  SetUpLogging(level, global.log_format.empty() ? config.log_format : global.log_format);
  if (!config_error.empty()) {
    spdlog::get("cistern")->error("invalid configuration: {}", config_error);
    return kExitUsage;
  }

  if (sync->parsed()) {
    if (mirror_option->count() > 0) {
      sync_flags.mirror = mirror;
    }
    if (upstream_option->count() > 0) {
      sync_flags.upstream = upstream;
    }
    if (upstream_format_option->count() > 0) {
      sync_flags.upstream_format = upstream_format;
    }
    if (jobs_option->count() > 0) {
      sync_flags.jobs = jobs;
    }
    return RunSyncCommand(config, sync_flags, global.quiet);
  }
  if (log_command->parsed()) {
    if (log_mirror_option->count() > 0) {
      log_flags.mirror = log_mirror;
    }
    return RunLogCommand(config, log_flags);
  }
  if (status->parsed()) {
    if (status_mirror_option->count() > 0) {
      status_flags.mirror = status_mirror;
    }
    return RunStatusCommand(config, status_flags);
  }
  return kExitUsage;
}

}  // namespace cistern::cli
