#include "engine/editclip.h"

#include <c10/core/InferenceMode.h>

#include <cmath>

#include "engine/core/error.h"
#include "engine/core/runtime.h"
#include "engine/edit_embedding_data.h"
#include "engine/image/editclip_preprocess.h"
#include "engine/image/image_io.h"
#include "engine/image/pil_resample.h"
#include "engine/image/rgb_image.h"
#include "engine/io/output_path.h"
#include "engine/io/safetensors_reader.h"
#include "engine/pipelines/edit_scorer.h"
#include "engine/pipelines/exemplar_editor.h"
#include "engine/pipelines/progress.h"

namespace editclip {

// ---- images --------------------------------------------------------------------------------

namespace {

// A copy, so that nothing downstream can write to or outlive the caller's pixels.
at::Tensor to_tensor(const RgbImage& image, const char* what) {
  return rgb_view(image, what).clone();
}

}  // namespace

RgbImage read_image(const std::string& path, std::vector<std::string>* notes) {
  LoadedImage loaded = load_image_rgb(path);
  if (notes)
    for (auto& n : loaded.notes) notes->push_back(n);
  return rgb_image(loaded.rgb);
}

void write_image(const std::string& path, const RgbImage& image) {
  save_image(path, to_tensor(image, path.c_str()));
}

void check_output_image_path(const std::string& path) {
  check_output_file_location(path);
  check_image_save_extension(path);
}

void check_output_file_path(const std::string& path) {
  check_output_file_location(path);
}

int round_size_to_multiple_of_8(int size, std::string* note) {
  if (size < 1) throw_error("--size ", size, ": must be a positive number of pixels (e.g. 256)");
  if (size < 8) {
    if (note) *note = concat("--size ", size, " is too small; using 8");
    return 8;
  }
  int rounded = static_cast<int>(std::lround(size / 8.0)) * 8;
  if (rounded != size && note)
    *note = concat("--size ", size, " is not a multiple of 8; rounded to ", rounded);
  return rounded;
}

std::pair<int, int> processing_size(int w, int h, int size) {
  if (w <= 0 || h <= 0) throw_error("image has no pixels (", w, "x", h, ")");
  const double scale = size / std::sqrt(static_cast<double>(w) * h);
  auto side = [&](int v) {
    return std::max(8, static_cast<int>(std::lround(v * scale / 8.0)) * 8);
  };
  return {side(w), side(h)};
}

// ---- embeddings ------------------------------------------------------------------------------

EditEmbedding::EditEmbedding() = default;
EditEmbedding::EditEmbedding(std::shared_ptr<const Data> data) : data_(std::move(data)) {}

const EditEmbedding::Data& EditEmbedding::data() const {
  if (!data_) throw_error("edit embedding: not computed");
  return *data_;
}

const std::string& EditEmbedding::origin() const {
  static const std::string none;
  return data_ ? data_->origin : none;
}

void EditEmbedding::save(const std::string& path,
                         const std::map<std::string, std::string>& metadata) const {
  const Data& d = data();
  auto meta = metadata;
  meta["format"] = "editclip-edit-embedding";
  write_safetensors(
      path, {{"last_hidden_state", d.last_hidden_state}, {"image_embeds", d.image_embeds}}, meta);
}

EditEmbedding EditEmbedding::load(const std::string& path) {
  SafetensorsReader reader(path);
  for (const char* name : {"last_hidden_state", "image_embeds"})
    if (!reader.contains(name))
      throw_error(path, ": not an edit embedding (tensor '", name,
                  "' missing; create one with `editclip embed`)");
  auto data = std::make_shared<Data>();
  data->last_hidden_state = reader.tensor("last_hidden_state").to(at::kFloat).clone();
  data->image_embeds = reader.tensor("image_embeds").to(at::kFloat).clone();
  if (data->last_hidden_state.dim() == 2) data->last_hidden_state.unsqueeze_(0);
  if (data->image_embeds.dim() == 1) data->image_embeds.unsqueeze_(0);
  if (data->last_hidden_state.dim() != 3)
    throw_error(path, ": last_hidden_state must be [1, tokens, width], has ",
                shape_string(data->last_hidden_state.sizes()));
  data->origin = path;
  return EditEmbedding(data);
}

EditEmbedding EditEmbedding::average(const std::vector<EditEmbedding>& embeddings) {
  if (embeddings.empty()) throw_error("average of edit embeddings: none given");
  std::vector<at::Tensor> hs, ie;
  for (auto& e : embeddings) {
    hs.push_back(e.data().last_hidden_state);
    ie.push_back(e.data().image_embeds);
    if (hs.back().sizes() != hs.front().sizes())
      throw_error("average of edit embeddings: shapes differ (", shape_string(hs.front().sizes()),
                  " vs ", shape_string(hs.back().sizes()),
                  "); they come from different EditCLIP models");
  }
  auto data = std::make_shared<Data>();
  data->last_hidden_state = at::stack(hs).mean(0);
  data->image_embeds = at::stack(ie).mean(0);
  std::string from;
  for (auto& e : embeddings)
    if (!e.origin().empty()) from += (from.empty() ? "" : ", ") + e.origin();
  if (!from.empty())
    data->origin = concat("average of ", embeddings.size(), " embeddings (", from, ")");
  return EditEmbedding(data);
}

// ---- engine ------------------------------------------------------------------------------

struct Engine::Impl {
  EngineOptions options;
  WeightOptions weights;
  std::shared_ptr<EditEncoder> encoder;
  std::shared_ptr<ExemplarEditor> editor;
  std::shared_ptr<ClipModel> clip;
  std::optional<ClipTokenizer> clip_tokenizer;
  std::optional<ClipImageProcessor> clip_processor;
  std::shared_ptr<Lpips> lpips;

  const EditEncoder& need_encoder() const {
    if (!encoder) throw_error("no EditCLIP model loaded (pass --clip DIR)");
    return *encoder;
  }
  std::unique_ptr<EditScorer> scorer(int64_t resize) const {
    ScoreOptions so;
    so.editclip_resize = resize;
    // The baseline CLIP's tokenizer, else EditCLIP's own (same vocabulary for OpenAI CLIP).
    const ClipTokenizer* tok = clip_tokenizer                        ? &*clip_tokenizer
                               : encoder && encoder->has_tokenizer() ? &encoder->tokenizer()
                                                                     : nullptr;
    return std::make_unique<EditScorer>(
        encoder, clip, tok ? std::optional<ClipTokenizer>(*tok) : std::nullopt,
        clip_processor.value_or(ClipImageProcessor(ClipImageProcessorConfig{})), lpips, so);
  }
};

Engine::Engine(EngineOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
  configure_threads(options.threads);
  impl_->weights.device = resolve_device(parse_device_choice(options.device));
  impl_->weights.dtype = to_scalar_type(parse_precision(options.precision));
}

Engine::~Engine() = default;

std::string Engine::device() const {
  return impl_->weights.device.str();
}

void Engine::load_editclip(const std::string& clip_dir) {
  impl_->encoder = EditEncoder::load(clip_dir, impl_->weights);
}

void Engine::load_editor(const std::string& pipeline_dir) {
  const int64_t hidden = impl_->encoder ? impl_->encoder->model().config().vision.hidden_size : 0;
  impl_->editor = ExemplarEditor::load(pipeline_dir, hidden, impl_->weights);
}

void Engine::load_clip_baseline(const std::string& clip_dir) {
  auto clip = ClipModel::load(clip_dir, impl_->weights);
  if (clip->config().vision.num_channels != 3)
    throw_error(clip_dir,
                ": the baseline CLIP must take 3 channels (a plain CLIP such as "
                "openai/clip-vit-large-patch14), this one takes ",
                clip->config().vision.num_channels);
  impl_->clip = clip;
  impl_->clip_processor = load_clip_processor(clip_dir, clip->config().vision.image_size);
  impl_->clip_tokenizer = try_load_tokenizer(clip_dir);
}

void Engine::load_lpips(const std::string& dir, const std::string& net) {
  impl_->lpips = Lpips::load(dir, net, impl_->weights);
}

EditEmbedding Engine::embed(const RgbImage& before, const RgbImage& after, int resize,
                            const ProgressCallback& progress) const {
  const EditEncoder& enc = impl_->need_encoder();
  // Before and after may differ in size: both are resized to the same square, as the authors do.
  report(progress, "embed", 0, 1);
  EditEncoding out =
      enc.encode(to_tensor(before, "before image"), to_tensor(after, "after image"), resize);
  auto data = std::make_shared<EditEmbedding::Data>();
  data->last_hidden_state = out.last_hidden_state.to(at::kCPU, at::kFloat);
  data->image_embeds = out.image_embeds.to(at::kCPU, at::kFloat);
  report(progress, "embed", 1, 1);
  return EditEmbedding(data);
}

RgbImage Engine::apply(const EditEmbedding& edit, const RgbImage& query, const ApplyParams& params,
                       const ProgressCallback& progress, std::vector<std::string>* notes) const {
  if (!impl_->editor) throw_error("no editor loaded (pass --pipeline DIR)");
  std::string note;
  const int size = round_size_to_multiple_of_8(params.size, &note);
  if (!note.empty() && notes) notes->push_back(note);
  auto [w, h] = processing_size(query.width, query.height, size);
  at::Tensor q = to_tensor(query, "query image");
  if (w != query.width || h != query.height) {
    if (notes)
      notes->push_back(concat("query resized from ", query.width, "x", query.height, " to ", w, "x",
                              h, " for processing"));
    q = pil_resize(q, w, h, PilFilter::Bicubic);
  }
  const auto& d = edit.data();
  const int64_t want = impl_->editor->image_proj().clip_embeddings_dim();
  if (d.last_hidden_state.size(-1) != want)
    throw_error(d.origin.empty() ? std::string("edit embedding") : d.origin + ": edit embedding",
                " has width ", d.last_hidden_state.size(-1),
                " but the editor's projection expects ", want,
                " (the embedding comes from a different EditCLIP)");
  EditParams ep;
  ep.steps = params.steps;
  ep.seed = params.seed;
  ep.guidance = params.guidance;
  ep.image_guidance = params.image_guidance;
  EditEncoding enc{d.last_hidden_state, d.image_embeds};
  return rgb_image(impl_->editor->edit(enc, q, ep, progress));
}

bool Engine::editclip_has_tokenizer() const {
  return impl_->need_encoder().has_tokenizer();
}

std::map<std::string, double> Engine::score(const ScoreInput& in,
                                            const ProgressCallback& progress) const {
  impl_->need_encoder();
  auto opt = [](const RgbImage& img, const char* what) {
    return img.empty() ? at::Tensor() : to_tensor(img, what);
  };
  ScoreSample s{opt(in.before, "before image"),
                opt(in.after, "after image"),
                opt(in.query, "query image"),
                opt(in.output, "output image"),
                in.instruction,
                in.caption_query,
                in.caption_output};
  return impl_->scorer(256)->score(s, progress);
}

double Engine::ec2t(const RgbImage& before, const RgbImage& after,
                    const std::string& instruction) const {
  const EditEncoder& enc = impl_->need_encoder();
  at::Tensor e = enc.encode(to_tensor(before, "before image"), to_tensor(after, "after image"))
                     .image_embeds.to(at::kCPU, at::kFloat);
  at::Tensor t = enc.encode_text({instruction}).to(at::kCPU, at::kFloat);
  return cosine_rows(e, t)[0].item<double>();
}

double Engine::ec2ec(const EditEmbedding& a, const EditEmbedding& b) const {
  return cosine_rows(a.data().image_embeds, b.data().image_embeds)[0].item<double>();
}

}  // namespace editclip
