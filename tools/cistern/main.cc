#include "tools/cistern/cli.h"

int main(int argc, char** argv) { return cistern::cli::RunCli(argc, argv); }
