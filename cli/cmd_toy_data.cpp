#include <iostream>

#include "cli/args.h"
#include "cli/commands.h"
#include "engine/core/error.h"
#include "engine/training/toy_dataset.h"

namespace editclip::cli {

namespace {
const char* kHelp = R"(usage: editclip toy-data OUT_DIR [--count N] [--size N] [--seed N] [--ip2p]

Writes a small synthetic edit dataset (procedural images, 8 global edits such as brighten, invert,
blur, each with 2-3 instruction phrasings) for trying the training commands: OUT_DIR/manifest.jsonl
+ OUT_DIR/images/, and with --ip2p also the InstructPix2Pix folder layout under OUT_DIR/ip2p/.

  --count N   pairs (64)     --size N   image side in pixels (64)     --seed N   (0)
)";
}  // namespace

int cmd_toy_data(int argc, char** argv) {
  Args args(argc, argv, 2, {"count", "size", "seed"}, {"help", "ip2p"});
  if (args.has("help")) {
    std::cout << kHelp;
    return 0;
  }
  if (args.positional().size() != 1)
    throw_error("give the output folder: editclip toy-data OUT_DIR");
  ToyDatasetOptions o;
  o.count = args.get_int("count", static_cast<int>(o.count));
  o.image_size = args.get_int("size", static_cast<int>(o.image_size));
  o.seed = args.get_u64("seed", 0);
  o.ip2p_layout = args.has("ip2p");
  if (o.count < 1 || o.image_size < 8) throw_error("--count must be >= 1 and --size >= 8");
  ToyDataset d = write_toy_dataset(args.positional()[0], o);
  std::cerr << "wrote " << d.triplets.size() << " pairs: " << d.manifest_path
            << (d.ip2p_root.empty() ? "" : " and " + d.ip2p_root) << "\n";
  return 0;
}

}  // namespace editclip::cli
