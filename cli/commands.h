// One function per `editclip <command>`; each returns the process exit code and lets
// editclip::Error escape for main() to print.
#pragma once

#include <string>

#include "cli/args.h"
#include "engine/editclip.h"

namespace editclip::cli {

int cmd_apply(int argc, char** argv);
int cmd_embed(int argc, char** argv);
int cmd_score(int argc, char** argv);
int cmd_inspect(int argc, char** argv);
int cmd_convert(int argc, char** argv);
int cmd_bench(int argc, char** argv);
int cmd_config(int argc, char** argv);
int cmd_train_encoder(int argc, char** argv);
int cmd_train_editor(int argc, char** argv);
int cmd_export(int argc, char** argv);
int cmd_toy_data(int argc, char** argv);

// ---- model folders and run options: the command line first, then the settings (cmd_config.cpp)

// The settings (file + environment). When `needed` is false (every folder the command needs was
// given on the command line), an unreadable settings file only earns a note on stderr and the
// defaults are used, so a broken file never blocks an explicit command.
ModelSettings cli_settings(bool needed);
// --device / --precision / --threads, defaulting to the settings.
EngineOptions engine_options(const Args& args, const ModelSettings& settings);
// The folder given by --`option`, else `configured` (from the settings). When neither gives one,
// prints describe_missing_models() to stderr and throws an Error naming the option.
std::string model_dir(const Args& args, const std::string& option, const std::string& configured,
                      const ModelSettings& settings, const std::string& what);

// ---- input and output files (cli_files.cpp)

// "note: <text>" on stderr, at once, so a run that fails later still shows it.
void print_note(const std::string& text);
// read_image, printing each conversion note at once as "note: --<option> <path>: <note>".
RgbImage read_input_image(const std::string& option, const std::string& path);
// Refuses an output path that cannot be written (missing or read-only folder, and for images an
// extension this build cannot write) before any model is loaded. `option` names it in the error
// ("--out"); `image` selects the image writer's extension rule.
void check_output_path(const std::string& option, const std::string& path, bool image);

}  // namespace editclip::cli
