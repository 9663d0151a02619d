#include <iostream>
#include <limits>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/progress_printer.h"
#include "engine/core/error.h"
#include "engine/editclip.h"
#include "engine/pipelines/progress.h"

namespace editclip::cli {

namespace {
const char* kHelp =
    R"(usage: editclip apply (--before A --after B | --embedding E | --preset P...)
                      --query Q --out R [--clip DIR] [--pipeline DIR] [options]

  --before, --after     the exemplar pair (PNG, JPEG, and with OpenCV also BMP, WebP, TIFF)
  --embedding E         a saved edit embedding (editclip embed) instead of the pair
  --preset P            a saved edit preset (editclip embed --preset-out, or the GIMP plug-in's
                        "Save edit"); repeat it to apply the average of several presets
  --query Q             image to edit
  --out R               result (PNG/JPEG by extension), at the query's full size (see --upscale)
  --upscale M           how the result returns from the processing size to the query's size:
                        guided (default): the low-resolution change is transferred onto the
                          full-resolution query, so detail the model never saw survives
                        plain: the result is simply resized (PIL bicubic), for comparison
                        none: the result is written at the processing size
  --steps N             denoising steps (50)
  --seed N              random seed (0); the same seed gives the same image
  --guidance X          edit guidance (7.0)
  --image-guidance X    image guidance (1.5)
  --size N              processing size (256): the query is scaled to about N*N pixels, aspect
                        kept, sides multiples of 8; the exemplar pair is resized to N x N
  --clip DIR            EditCLIP model folder (HF CLIPModel, 6-channel vision tower); needed for
                        --before/--after only
  --pipeline DIR        editor folder: unet/ vae/ scheduler/ image_proj_model.pt
                        (both default to the settings: see `editclip config`)
  --device D            auto | cpu | cuda (settings, else auto)
  --precision P         weight storage fp32 | fp16 | bf16 (settings, else fp32)
  --threads N           CPU threads (settings, else all)
  --quiet               no progress output
)";
}  // namespace

int cmd_apply(int argc, char** argv) {
  Args args(
      argc, argv, 2,
      {"clip", "pipeline", "before", "after", "embedding", "preset", "query", "out", "upscale",
       "steps", "seed", "guidance", "image-guidance", "size", "device", "precision", "threads"},
      {"help", "quiet"});
  if (args.has("help")) {
    std::cout << kHelp;
    return 0;
  }
  const std::string query_path = args.require("query", "(the image to edit)");
  const std::string out_path = args.require("out", "(where to write the result)");
  ApplyParams params;
  params.steps = args.get_int("steps", 50, 1, 1000);
  params.seed = args.get_u64("seed", 0);
  params.guidance = args.get_double("guidance", 7.0);
  params.image_guidance = args.get_double("image-guidance", 1.5);
  params.size = args.get_int("size", 256, 1, std::numeric_limits<int>::max());
  const std::string upscale = args.get("upscale", "guided");
  if (upscale != "none" && upscale != "guided" && upscale != "plain")
    throw_error("--upscale '", upscale, "': expected guided, plain or none");
  const bool from_embedding = args.has("embedding");
  const auto presets = args.get_all("preset");
  const bool from_pair = args.has("before") || args.has("after");
  if (int(from_embedding) + int(!presets.empty()) + int(from_pair) != 1)
    throw_error(
        "give exactly one edit: the exemplar pair (--before A --after B), a saved --embedding E, "
        "or --preset P (repeatable)");
  if (from_pair && !(args.has("before") && args.has("after")))
    throw_error("give both images of the exemplar pair: --before A --after B");
  // Where the result goes is known now: a typo there must not cost a whole edit.
  check_output_path("--out", out_path, /*image=*/true);

  // Notes go out as they arise, so a run that fails later still shows them.
  std::string size_note;
  params.size = round_size_to_multiple_of_8(params.size, &size_note);
  if (!size_note.empty()) print_note(size_note);
  // Read every input before loading gigabytes of weights, so a typo fails fast.
  RgbImage query = read_input_image("query", query_path);
  const auto [proc_w, proc_h] = processing_size(query.width, query.height, params.size);
  if (proc_w != query.width || proc_h != query.height)
    print_note(concat("--query ", query_path, ": resized from ", query.width, "x", query.height,
                      " to ", proc_w, "x", proc_h, " for processing"));
  RgbImage before, after;
  EditEmbedding embedding;
  if (from_embedding) {
    embedding = EditEmbedding::load(args.get("embedding"));
  } else if (!presets.empty()) {
    std::vector<EditEmbedding> all;
    for (const auto& p : presets) all.push_back(load_preset(p).embedding);
    embedding = all.size() == 1 ? all[0] : EditEmbedding::average(all);
  } else {
    before = read_input_image("before", args.get("before"));
    after = read_input_image("after", args.get("after"));
  }
  // The settings are only needed for what the command line leaves out.
  const ModelSettings settings =
      cli_settings(!args.has("pipeline") || (from_pair && !args.has("clip")));
  const std::string pipeline =
      model_dir(args, "pipeline", settings.editor_dir, settings, "editor (EditCLIP-IP2P)");
  const std::string clip =
      from_pair ? model_dir(args, "clip", settings.editclip_dir, settings, "EditCLIP")
                : args.get("clip");

  Engine engine(engine_options(args, settings));
  ProgressPrinter progress(args.has("quiet"));
  progress(Progress{"load", 0, 1});
  // A saved embedding needs no EditCLIP, but one given explicitly is loaded so the editor's
  // projection width is checked against it.
  if (!clip.empty()) engine.load_editclip(clip);
  engine.load_editor(pipeline);
  progress(Progress{"load", 1, 1});
  if (from_pair) embedding = engine.embed(before, after, params.size, progress.callback());
  // The engine's own notes (the processing resize) were printed above from the same
  // processing_size(); it is not asked for them again, so nothing is said twice.
  RgbImage result = engine.apply(embedding, query, params, progress.callback());
  progress.finish();
  if (upscale != "none" && (result.width != query.width || result.height != query.height)) {
    result = to_rgb8(
        restore_full_resolution(to_float_image(query), result, parse_upscale_mode(upscale)));
    print_note(concat("result brought back to ", query.width, "x", query.height, " (", upscale,
                      " upscale)"));
  }
  write_image(out_path, result);
  std::cerr << "wrote " << out_path << " (" << result.width << "x" << result.height << ", "
            << params.steps << " steps, seed " << params.seed << ", device " << engine.device()
            << ")\n";
  return 0;
}

}  // namespace editclip::cli
