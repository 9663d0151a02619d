#include <iostream>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/progress_printer.h"
#include "engine/core/error.h"
#include "engine/editclip.h"
#include "engine/pipelines/progress.h"

namespace editclip::cli {

namespace {
const char* kHelp =
    R"(usage: editclip apply --clip DIR --pipeline DIR (--before A --after B | --embedding E)
                      --query Q --out R [options]

  --clip DIR            EditCLIP model folder (HF CLIPModel, 6-channel vision tower)
  --pipeline DIR        editor folder: unet/ vae/ scheduler/ image_proj_model.pt
  --before, --after     the exemplar pair (any image format OpenCV reads)
  --embedding E         a saved edit embedding (editclip embed) instead of the pair
  --query Q             image to edit
  --out R               result (PNG/JPEG by extension), at the processing size
  --steps N             denoising steps (50)
  --seed N              random seed (0); the same seed gives the same image
  --guidance X          edit guidance (7.0)
  --image-guidance X    image guidance (1.5)
  --size N              processing size (256): the query is scaled to about N*N pixels, aspect
                        kept, sides multiples of 8; the exemplar pair is resized to N x N
  --device D            auto | cpu | cuda (auto)
  --precision P         weight storage fp32 | fp16 | bf16 (fp32)
  --threads N           CPU threads (all)
  --quiet               no progress output
)";
}  // namespace

int cmd_apply(int argc, char** argv) {
  Args args(argc, argv, 2,
            {"clip", "pipeline", "before", "after", "embedding", "query", "out", "steps", "seed",
             "guidance", "image-guidance", "size", "device", "precision", "threads"},
            {"help", "quiet"});
  if (args.has("help")) {
    std::cout << kHelp;
    return 0;
  }
  const std::string pipeline = args.require("pipeline", "(the EditCLIP-IP2P editor folder)");
  const std::string query_path = args.require("query", "(the image to edit)");
  const std::string out_path = args.require("out", "(where to write the result)");
  ApplyParams params;
  params.steps = args.get_int("steps", 50);
  params.seed = args.get_u64("seed", 0);
  params.guidance = args.get_double("guidance", 7.0);
  params.image_guidance = args.get_double("image-guidance", 1.5);
  params.size = args.get_int("size", 256);
  if (params.steps < 1 || params.steps > 1000)
    throw_error("--steps ", params.steps, ": must be between 1 and 1000");
  const bool from_embedding = args.has("embedding");
  if (!from_embedding && !(args.has("before") && args.has("after")))
    throw_error("give the exemplar pair (--before A --after B) or a saved --embedding E");

  std::vector<std::string> notes;
  std::string size_note;
  params.size = round_size_to_multiple_of_8(params.size, &size_note);
  if (!size_note.empty()) notes.push_back(size_note);
  // Read every input before loading gigabytes of weights, so a typo fails fast.
  RgbImage query = read_image(query_path, &notes);
  RgbImage before, after;
  EditEmbedding embedding;
  if (from_embedding) {
    embedding = EditEmbedding::load(args.get("embedding"));
  } else {
    before = read_image(args.get("before"), &notes);
    after = read_image(args.get("after"), &notes);
  }

  EngineOptions options{args.get("device", "auto"), args.get("precision", "fp32"),
                        args.get_int("threads", 0)};
  Engine engine(options);
  ProgressPrinter progress(args.has("quiet"));
  progress(Progress{"load", 0, 1});
  if (!from_embedding) {
    engine.load_editclip(args.require("clip", "(the EditCLIP model folder)"));
  } else if (args.has("clip")) {
    engine.load_editclip(args.get("clip"));
  }
  engine.load_editor(pipeline);
  progress(Progress{"load", 1, 1});
  if (!from_embedding) embedding = engine.embed(before, after, params.size, progress.callback());
  RgbImage result = engine.apply(embedding, query, params, progress.callback(), &notes);
  progress.finish();
  write_image(out_path, result);
  for (auto& n : notes) std::cerr << "note: " << n << "\n";
  std::cerr << "wrote " << out_path << " (" << result.width << "x" << result.height << ", "
            << params.steps << " steps, seed " << params.seed << ", device " << engine.device()
            << ")\n";
  return 0;
}

}  // namespace editclip::cli
