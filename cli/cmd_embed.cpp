#include <filesystem>
#include <iostream>
#include <limits>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/progress_printer.h"
#include "engine/core/error.h"
#include "engine/editclip.h"

namespace editclip::cli {

namespace {
const char* kHelp =
    R"(usage: editclip embed --before A --after B (--out E.safetensors | --preset-out P.safetensors)
                      [--clip DIR] [options]

Writes the edit embedding of the pair: `last_hidden_state` [1, tokens, width] (what conditions the
editor) and `image_embeds` [1, projection] (what the metrics compare), as safetensors.
Several pairs (--before/--after repeated in order) are averaged into one embedding.

  --out E             the embedding alone
  --preset-out P      an edit preset: the embedding plus thumbnails of the pair(s), as the GIMP
                      plug-in saves them (`editclip apply --preset P` uses it)
  --name NAME         the preset's name (default: P's file name)
  --clip DIR          EditCLIP model folder (default: the settings, see `editclip config`)
  --size N            the authors' pair resize before CLIP preprocessing (256)
  --device D      auto | cpu | cuda      --precision P   fp32 | fp16 | bf16
  --threads N     CPU threads            --quiet         no progress output
)";
}  // namespace

int cmd_embed(int argc, char** argv) {
  Args args(argc, argv, 2,
            {"clip", "before", "after", "out", "preset-out", "name", "size", "device", "precision",
             "threads"},
            {"help", "quiet"});
  if (args.has("help")) {
    std::cout << kHelp;
    return 0;
  }
  const std::string out = args.get("out"), preset_out = args.get("preset-out");
  if (out.empty() && preset_out.empty())
    throw_error("missing --out E.safetensors or --preset-out P.safetensors (what to write)");
  if (args.has("name") && preset_out.empty())
    throw_error("--name is the name of a preset: give --preset-out P.safetensors too");
  auto befores = args.get_all("before"), afters = args.get_all("after");
  if (befores.empty() || befores.size() != afters.size())
    throw_error("give the exemplar pair(s) as --before A --after B (as many --before as --after)");
  // Both outputs are checked before the model loads: a typo must not cost the encoding.
  if (!out.empty()) check_output_path("--out", out, /*image=*/false);
  if (!preset_out.empty()) check_output_path("--preset-out", preset_out, /*image=*/false);
  std::string note;
  const int size = round_size_to_multiple_of_8(
      args.get_int("size", 256, 1, std::numeric_limits<int>::max()), &note);
  if (!note.empty()) print_note(note);
  std::vector<std::pair<RgbImage, RgbImage>> pairs;
  for (size_t i = 0; i < befores.size(); ++i) {
    RgbImage b = read_input_image("before", befores[i]);  // in order: notes follow the arguments
    pairs.emplace_back(std::move(b), read_input_image("after", afters[i]));
  }

  const ModelSettings settings = cli_settings(!args.has("clip"));
  const std::string clip = model_dir(args, "clip", settings.editclip_dir, settings, "EditCLIP");
  Engine engine(engine_options(args, settings));
  ProgressPrinter progress(args.has("quiet"));
  engine.load_editclip(clip);
  std::vector<EditEmbedding> all;
  for (auto& [b, a] : pairs) all.push_back(engine.embed(b, a, size, progress.callback()));
  progress.finish();
  EditEmbedding e = all.size() == 1 ? all[0] : EditEmbedding::average(all);
  const char* plural = all.size() > 1 ? "s" : "";
  if (!out.empty()) {
    e.save(out, {{"pairs", std::to_string(all.size())}, {"resize", std::to_string(size)}});
    std::cerr << "wrote " << out << " (" << all.size() << " pair" << plural << ")\n";
  }
  if (!preset_out.empty()) {
    EditPreset preset;
    preset.name = args.get("name", std::filesystem::path(preset_out).stem().string());
    preset.embedding = e;
    for (auto& [b, a] : pairs) preset.thumbnails.emplace_back(make_thumbnail(b), make_thumbnail(a));
    save_preset(preset_out, preset);
    std::cerr << "wrote preset '" << preset.name << "' to " << preset_out << " (" << all.size()
              << " pair" << plural << ")\n";
  }
  return 0;
}

}  // namespace editclip::cli
