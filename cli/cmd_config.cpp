#include <filesystem>
#include <iomanip>
#include <iostream>

#include "cli/args.h"
#include "cli/commands.h"
#include "engine/core/error.h"
#include "engine/editclip.h"

namespace editclip::cli {

namespace {
const char* kHelp = R"(usage: editclip config [--set KEY=VALUE]... [--check]

Shows or changes where the model weights are. The CLI and the GIMP plug-in share one settings file
(JSON): $EDITCLIP_SETTINGS, else $XDG_CONFIG_HOME/editclip/settings.json, else
~/.config/editclip/settings.json. Environment variables override it for one run.

  (no option)        print the settings file's path and the effective settings, marking the
                     values that come from the environment
  --set KEY=VALUE    change one setting in the file (repeatable); VALUE "" clears a folder
  --check            check the two required model folders: prints "ok", or what is missing and
                     how to get it (exit status 1)

keys (environment variable):
  editclip_dir       (EDITCLIP_CLIP_DIR)           EditCLIP encoder folder (QWW/EditCLIP)
  editor_dir         (EDITCLIP_EDITOR_DIR)         editor folder: unet/ vae/ scheduler/
                                                   image_proj_model.pt
  clip_baseline_dir  (EDITCLIP_CLIP_BASELINE_DIR)  optional plain CLIP for `score`'s baselines
  lpips_dir          (EDITCLIP_LPIPS_DIR)          optional LPIPS weights for `score`
  device             (EDITCLIP_DEVICE)             auto | cpu | cuda
  precision          (EDITCLIP_PRECISION)          fp32 | fp16 | bf16
  threads            (EDITCLIP_THREADS)            CPU threads, 0 = all

Command-line options (--clip, --pipeline, --device, ...) override both for one command.
)";

void print_settings(const std::string& path) {
  const bool exists = std::filesystem::exists(path);
  std::cout << "settings file: " << path << (exists ? "" : "  (not created yet)") << "\n";
  const ModelSettings s = load_model_settings();
  const auto env = model_settings_env_overrides();
  for (const auto& [key, value] : model_settings_entries(s)) {
    std::cout << "  " << std::left << std::setw(18) << key << " = "
              << (value.empty() ? "(not set)" : value);
    auto it = env.find(key);
    if (it != env.end()) std::cout << "   (from environment variable " << it->second << ")";
    std::cout << "\n";
  }
}

}  // namespace

ModelSettings cli_settings(bool needed) {
  try {
    return load_model_settings();
  } catch (const Error& e) {
    if (needed) throw;
    std::cerr << "note: settings not used: " << first_line(e.what()) << "\n";
    return ModelSettings{};
  }
}

EngineOptions engine_options(const Args& args, const ModelSettings& settings) {
  return {args.get("device", settings.device), args.get("precision", settings.precision),
          args.get_int("threads", settings.threads, 0, 4096)};
}

std::string model_dir(const Args& args, const std::string& option, const std::string& configured,
                      const ModelSettings& settings, const std::string& what) {
  if (args.has(option)) return args.get(option);
  if (!configured.empty()) return configured;
  // Folders given on this command line are not missing: the explanation covers only the rest.
  ModelSettings known = settings;
  if (args.has("clip")) known.editclip_dir = args.get("clip");
  if (args.has("pipeline")) known.editor_dir = args.get("pipeline");
  std::cerr << describe_missing_models(known) << "\n";
  throw_error("no ", what, " folder: pass --", option,
              " DIR or configure it once (see above, or `editclip config --help`)");
}

int cmd_config(int argc, char** argv) {
  Args args(argc, argv, 2, {"set"}, {"help", "check"});
  if (args.has("help")) {
    std::cout << kHelp;
    return 0;
  }
  if (!args.positional().empty())
    throw_error("unexpected argument '", args.positional().front(),
                "' (use --set KEY=VALUE; see --help)");
  const std::string path = settings_path();
  const auto sets = args.get_all("set");
  if (!sets.empty()) {
    // Only the file is edited: values that come from the environment are not written into it.
    ModelSettings s = read_model_settings_file(path);
    for (const auto& kv : sets) {
      const auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0)
        throw_error("--set '", kv,
                    "': expected KEY=VALUE, e.g. --set editclip_dir=/models/EditCLIP");
      set_model_setting(s, kv.substr(0, eq), kv.substr(eq + 1));
    }
    save_model_settings(s, path);
    std::cerr << "updated " << path << "\n";
  }
  if (args.has("check")) {
    const ModelSettings s = load_model_settings();
    const std::string problems = describe_missing_models(s);
    if (!problems.empty()) {
      std::cout << problems;
      return 1;
    }
    std::cout << "ok: editclip_dir = " << s.editclip_dir << "\n    editor_dir   = " << s.editor_dir
              << "\n(`editclip inspect DIR` checks every tensor of a folder)\n";
    return 0;
  }
  print_settings(path);
  return 0;
}

}  // namespace editclip::cli
