#pragma once

// The `cistern` command line: global options, subcommands, config file loading (the command line
// wins over the file), logging set-up, and the exit status.

namespace cistern::cli {

// Parses `argv`, runs the chosen command and returns the process exit status (exit_code.h).
int RunCli(int argc, char** argv);

}  // namespace cistern::cli
