// The tensors behind editclip::EditEmbedding. Kept out of the public header so that front ends
// compile without LibTorch; engine code and tests include this.
#pragma once

#include <ATen/ATen.h>

#include <string>

#include "engine/editclip.h"

namespace editclip {

struct EditEmbedding::Data {
  at::Tensor last_hidden_state;  // [1, T, D] float32 CPU: conditions the editor
  at::Tensor image_embeds;       // [1, P] float32 CPU: compared with text in the metrics
  std::string origin;            // see EditEmbedding::origin()
};

}  // namespace editclip
