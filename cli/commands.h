// One function per `editclip <command>`; each returns the process exit code and lets
// editclip::Error escape for main() to print.
#pragma once

namespace editclip::cli {

int cmd_apply(int argc, char** argv);
int cmd_embed(int argc, char** argv);
int cmd_score(int argc, char** argv);
int cmd_inspect(int argc, char** argv);
int cmd_convert(int argc, char** argv);
int cmd_bench(int argc, char** argv);

}  // namespace editclip::cli
