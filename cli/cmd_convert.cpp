#include <filesystem>
#include <iostream>

#include "cli/args.h"
#include "cli/commands.h"
#include "engine/core/error.h"
#include "engine/core/runtime.h"
#include "engine/io/safetensors_reader.h"
#include "engine/io/torch_checkpoint_reader.h"

namespace editclip::cli {

namespace {
const char* kHelp = R"(usage: editclip convert IN OUT.safetensors [--precision fp32|fp16|bf16]

Reads a checkpoint (.safetensors, or a torch.save zip state dict such as image_proj_model.pt) and
writes it as safetensors, casting floating-point tensors when --precision is given (fp16 halves
the size of the released fp32 weights). Integer tensors are kept as they are.
)";
}  // namespace

int cmd_convert(int argc, char** argv) {
  Args args(argc, argv, 2, {"precision"}, {"help"});
  if (args.has("help")) {
    std::cout << kHelp;
    return 0;
  }
  if (args.positional().size() != 2) throw_error("expected IN and OUT (see --help)");
  const std::string in = args.positional()[0], out = args.positional()[1];
  if (args.has("precision")) parse_precision(args.get("precision"));  // before any reading
  check_output_path("OUT", out, /*image=*/false);
  std::map<std::string, at::Tensor> tensors;
  if (std::filesystem::path(in).extension() == ".safetensors") {
    tensors = SafetensorsReader(in).tensors();
  } else {
    tensors = read_torch_checkpoint(in);
  }
  if (args.has("precision")) {
    const at::ScalarType dtype = to_scalar_type(parse_precision(args.get("precision")));
    for (auto& kv : tensors)
      if (at::isFloatingType(kv.second.scalar_type())) kv.second = kv.second.to(dtype);
  }
  write_safetensors(out, tensors,
                    {{"converted_from", std::filesystem::path(in).filename().string()}});
  std::cerr << "wrote " << out << " (" << tensors.size() << " tensors)\n";
  return 0;
}

}  // namespace editclip::cli
