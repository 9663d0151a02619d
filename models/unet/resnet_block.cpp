#include "models/unet/resnet_block.h"

namespace editclip {

void ResnetBlock2D::bind(WeightStore& store, const std::string& prefix, int64_t in, int64_t out,
                         int64_t temb_channels, int64_t groups, double eps,
                         double output_scale_factor_) {
  norm1.bind(store, prefix + ".norm1", groups, in, eps);
  conv1.bind(store, prefix + ".conv1", in, out, 3, 1, 1);
  if (temb_channels > 0) time_emb_proj.bind(store, prefix + ".time_emb_proj", temb_channels, out);
  norm2.bind(store, prefix + ".norm2", groups, out, eps);
  conv2.bind(store, prefix + ".conv2", out, out, 3, 1, 1);
  has_shortcut = in != out;
  if (has_shortcut) conv_shortcut.bind(store, prefix + ".conv_shortcut", in, out, 1);
  output_scale_factor = output_scale_factor_;
}

at::Tensor ResnetBlock2D::operator()(const at::Tensor& x, const at::Tensor& temb_act) const {
  at::Tensor h = conv1(at::silu(norm1(x)));
  if (time_emb_proj.weight.defined() && temb_act.defined())
    h = h + time_emb_proj(temb_act).unsqueeze(-1).unsqueeze(-1);
  // Dropout is the identity at inference.
  h = conv2(at::silu(norm2(h)));
  h = h + (has_shortcut ? conv_shortcut(x) : x);
  if (output_scale_factor != 1.0) h = h / output_scale_factor;
  return h;
}

void Downsample2D::bind(WeightStore& store, const std::string& prefix, int64_t channels,
                        int64_t padding_) {
  padding = padding_;
  conv.bind(store, prefix + ".conv", channels, channels, 3, 2, padding);
}

at::Tensor Downsample2D::operator()(const at::Tensor& x) const {
  if (padding == 0) return conv(at::constant_pad_nd(x, {0, 1, 0, 1}, 0));
  return conv(x);
}

void Upsample2D::bind(WeightStore& store, const std::string& prefix, int64_t channels) {
  conv.bind(store, prefix + ".conv", channels, channels, 3, 1, 1);
}

at::Tensor Upsample2D::operator()(const at::Tensor& x,
                                  std::optional<std::vector<int64_t>> size) const {
  std::vector<int64_t> out = size ? *size : std::vector<int64_t>{2 * x.size(2), 2 * x.size(3)};
  // bf16 nearest upsampling is missing on some backends; the copy is exact either way.
  at::Tensor y =
      x.scalar_type() == at::kBFloat16
          ? at::upsample_nearest2d(x.to(at::kFloat), at::IntArrayRef(out)).to(at::kBFloat16)
          : at::upsample_nearest2d(x, at::IntArrayRef(out));
  return conv(y);
}

}  // namespace editclip
