#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/progress_printer.h"
#include "engine/core/error.h"
#include "engine/editclip.h"
#include "engine/pipelines/progress.h"

namespace editclip::cli {

namespace {
const char* kHelp = R"(usage: editclip score [--clip DIR] [inputs] [options]

Computes every metric the inputs allow:
  EC2T       cos(EditCLIP([query, output]), EditCLIP-text(instruction))     needs --query --output --instruction
  EC2EC      cos(EditCLIP([before, after]), EditCLIP([query, output]))      needs the pair and --query --output
  CLIP_score, CLIP_directional, CLIP_directional_instruction, VISII_directional
             plain-CLIP baselines                                            needs --clip-baseline
  LPIPS      LPIPS(query, output)                                            needs --lpips

  --clip DIR             EditCLIP folder          --clip-baseline DIR   plain 3-channel CLIP folder
  --lpips DIR            LPIPS weights folder (<net>_features + lin_<net>_v0.1)   --lpips-net vgg|alex
  --before, --after      exemplar pair            --query, --output     the edit being judged
  --instruction TEXT     --caption-query TEXT     --caption-output TEXT
  --json                 print JSON instead of a table
  --quiet                no progress output
  --device D  --precision P  --threads N
The model folders default to the settings (editclip_dir, clip_baseline_dir, lpips_dir; see
`editclip config`); the baseline metrics and LPIPS are computed when their folder is known.
)";
}  // namespace

int cmd_score(int argc, char** argv) {
  Args args(argc, argv, 2,
            {"clip", "clip-baseline", "lpips", "lpips-net", "before", "after", "query", "output",
             "instruction", "caption-query", "caption-output", "device", "precision", "threads"},
            {"help", "json", "quiet"});
  if (args.has("help")) {
    std::cout << kHelp;
    return 0;
  }
  Engine::ScoreInput in;
  auto image = [&](const char* name, RgbImage& target) {
    if (args.has(name)) target = read_input_image(name, args.get(name));
  };
  image("before", in.before);
  image("after", in.after);
  image("query", in.query);
  image("output", in.output);
  in.instruction = args.get("instruction");
  in.caption_query = args.get("caption-query");
  in.caption_output = args.get("caption-output");
  if (in.query.empty() || in.output.empty())
    throw_error("give the edit to judge: --query (the original) and --output (the edited result)");

  const ModelSettings settings = cli_settings(!args.has("clip"));
  const std::string clip = model_dir(args, "clip", settings.editclip_dir, settings, "EditCLIP");
  const std::string baseline = args.get("clip-baseline", settings.clip_baseline_dir);
  const std::string lpips = args.get("lpips", settings.lpips_dir);
  // Captions only feed the plain-CLIP baselines: say so rather than ignore them silently.
  for (const char* caption : {"caption-output", "caption-query"})
    if (args.has(caption) && baseline.empty())
      print_note(concat("--", caption,
                        " is used only by the CLIP baseline metrics (CLIP_score, "
                        "CLIP_directional): give --clip-baseline DIR (a plain CLIP such as "
                        "openai/clip-vit-large-patch14) to compute them"));
  Engine engine(engine_options(args, settings));
  ProgressPrinter progress(args.has("quiet"));
  progress(Progress{"load", 0, 1});
  engine.load_editclip(clip);
  if (!baseline.empty()) engine.load_clip_baseline(baseline);
  if (!lpips.empty()) engine.load_lpips(lpips, args.get("lpips-net", "vgg"));
  progress(Progress{"load", 1, 1});
  std::string missing_tokenizer;
  if (!in.instruction.empty() && !engine.editclip_has_tokenizer())
    missing_tokenizer = concat(
        "EC2T (--instruction) needs the tokenizer files (vocab.json and merges.txt, or "
        "tokenizer.json), which the EditCLIP folder ",
        clip,
        " lacks: copy them from QWW/EditCLIP (openai/clip-vit-large-patch14 has the same ones)");
  auto scores = engine.score(in, progress.callback());
  progress.finish();
  if (scores.empty())
    throw_error(missing_tokenizer.empty()
                    ? std::string("no metric could be computed from the given inputs (see --help "
                                  "for what each needs)")
                    : missing_tokenizer);
  if (!missing_tokenizer.empty()) print_note(missing_tokenizer);
  if (args.has("json")) {
    nlohmann::json j = nlohmann::json::object();
    for (auto& [k, v] : scores) j[k] = v;
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << std::left << std::setw(30) << "metric"
              << "value\n";
    for (auto& [k, v] : scores)
      std::cout << std::left << std::setw(30) << k << std::fixed << std::setprecision(6) << v
                << "\n";
  }
  return 0;
}

}  // namespace editclip::cli
