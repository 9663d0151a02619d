#include "engine/training/data_loader.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include "engine/core/error.h"
#include "engine/core/runtime.h"
#include "engine/image/editclip_preprocess.h"
#include "engine/image/image_io.h"
#include "engine/image/pil_resample.h"
#include "engine/training/det_rng.h"

namespace editclip {

nlohmann::json LoaderPosition::to_json() const {
  return {{"epoch", epoch}, {"step", step}};
}

LoaderPosition LoaderPosition::from_json(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("epoch") || !j.contains("step") ||
      !j["epoch"].is_number_integer() || !j["step"].is_number_integer())
    throw_error("data position: expected {\"epoch\": int, \"step\": int}, got ", j.dump());
  LoaderPosition p;
  p.epoch = j["epoch"].get<int64_t>();
  p.step = j["step"].get<int64_t>();
  if (p.epoch < 0 || p.step < 0) throw_error("data position: negative value in ", j.dump());
  return p;
}

EditSample transform_edit_sample(const at::Tensor& input_u8, const at::Tensor& edited_u8,
                                 const SampleTransform& t, uint64_t seed, int64_t epoch,
                                 int64_t index) {
  if (t.resize <= 0) throw_error("sample transform: resize must be positive, got ", t.resize);
  if (t.crop > t.resize)
    throw_error("sample transform: crop ", t.crop, " is larger than the resize ", t.resize);
  // Salted so that these draws never coincide with other users of the same key.
  DetRng rng(hash_key(
      {seed, static_cast<uint64_t>(epoch), static_cast<uint64_t>(index), 0xa09e667f3bcc908bULL}));
  EditSample s;
  at::Tensor a = pil_resize(input_u8, t.resize, t.resize, PilFilter::Bicubic);
  at::Tensor b = pil_resize(edited_u8, t.resize, t.resize, PilFilter::Bicubic);
  // Draw order is fixed (crop x, crop y, flip) and independent of which options are on, so
  // turning one augmentation off does not change the others' draws.
  const uint64_t rx = rng.next_u64(), ry = rng.next_u64();
  const bool flip = rng.coin();
  if (t.crop > 0 && t.crop < t.resize) {
    const uint64_t range = static_cast<uint64_t>(t.resize - t.crop + 1);
    s.crop_x = static_cast<int64_t>(rx % range);
    s.crop_y = static_cast<int64_t>(ry % range);
    a = a.narrow(0, s.crop_y, t.crop).narrow(1, s.crop_x, t.crop);
    b = b.narrow(0, s.crop_y, t.crop).narrow(1, s.crop_x, t.crop);
  }
  if (t.random_flip && flip) {
    s.flipped = true;
    a = a.flip({1});
    b = b.flip({1});
  }
  s.input_u8 = a.contiguous();
  s.edited_u8 = b.contiguous();
  return s;
}

EditSample load_edit_sample(const EditTriplet& triplet, const SampleTransform& transform,
                            uint64_t seed, int64_t epoch, int64_t index) {
  const at::Tensor a = load_image_rgb(triplet.input_path).rgb;
  const at::Tensor b = load_image_rgb(triplet.edited_path).rgb;
  return transform_edit_sample(a, b, transform, seed, epoch, index);
}

namespace {

// A batch being prepared: samples land in their slots from any worker.
struct Pending {
  LoaderPosition position;
  std::vector<int64_t> indices;
  std::vector<at::Tensor> input, edited;  // [3,S,S] float each (keep_images)
  std::vector<at::Tensor> pixels;         // pair_pixels of each sample
  size_t remaining = 0;
  std::exception_ptr error;
};

struct Job {
  std::shared_ptr<Pending> batch;
  size_t slot = 0;
};

}  // namespace

struct EditDataLoader::Impl {
  std::vector<EditTriplet> items;
  LoaderOptions opt;
  int64_t local = 0, steps = 0;

  // Guarded by mu.
  std::mutex mu;
  std::condition_variable work_cv, done_cv;
  std::deque<Job> jobs;
  std::deque<std::shared_ptr<Pending>> pending;  // in batch order
  LoaderPosition consumer;                       // next batch next() returns
  LoaderPosition scheduled;                      // next batch to schedule
  bool stop = false;
  std::vector<std::thread> workers;

  LoaderPosition advance(LoaderPosition p) const {
    if (++p.step >= steps) {
      p.step = 0;
      ++p.epoch;
    }
    return p;
  }

  // The permutation of the last epoch asked for (it is needed once per batch).
  mutable std::mutex order_mu;
  mutable int64_t cached_epoch = -1;
  mutable std::shared_ptr<const std::vector<int64_t>> cached_order;

  std::shared_ptr<const std::vector<int64_t>> order_cached(int64_t epoch) const {
    std::lock_guard<std::mutex> lock(order_mu);
    if (cached_epoch != epoch || !cached_order) {
      cached_order = std::make_shared<const std::vector<int64_t>>(order(epoch));
      cached_epoch = epoch;
    }
    return cached_order;
  }

  std::vector<int64_t> order(int64_t epoch) const {
    const int64_t n = static_cast<int64_t>(items.size());
    if (!opt.shuffle) {
      std::vector<int64_t> v(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = i;
      return v;
    }
    return det_permutation(n, hash_key({opt.seed, static_cast<uint64_t>(epoch)}));
  }

  std::vector<int64_t> global_indices(const LoaderPosition& p) const {
    if (p.step < 0 || p.step >= steps)
      throw_error("data position: step ", p.step, " is outside the epoch (", steps, " steps)");
    const auto order_ptr = order_cached(p.epoch);
    const std::vector<int64_t>& o = *order_ptr;
    const int64_t begin = p.step * opt.global_batch;
    const int64_t end = std::min<int64_t>(begin + opt.global_batch, static_cast<int64_t>(o.size()));
    return std::vector<int64_t>(o.begin() + begin, o.begin() + end);
  }

  std::vector<int64_t> local_indices(const LoaderPosition& p) const {
    const std::vector<int64_t> g = global_indices(p);
    const int64_t n = static_cast<int64_t>(g.size()), w = opt.world_size;
    const int64_t begin = opt.rank * n / w, end = (opt.rank + 1) * n / w;
    return std::vector<int64_t>(g.begin() + begin, g.begin() + end);
  }

  void run_job(Pending& b, size_t slot) const {
    const int64_t index = b.indices[slot];
    const EditSample s = load_edit_sample(items[static_cast<size_t>(index)], opt.transform,
                                          opt.seed, b.position.epoch, index);
    if (opt.keep_images) {
      b.input[slot] = to_unit_float(s.input_u8);
      b.edited[slot] = to_unit_float(s.edited_u8);
    }
    if (opt.pair_pixels) {
      at::Tensor px = opt.pair_pixels(s.input_u8, s.edited_u8);
      if (!px.defined())
        throw_error("data loader: the model-input function returned no tensor for ",
                    items[static_cast<size_t>(index)].origin);
      b.pixels[slot] = std::move(px);
    }
  }

  std::shared_ptr<Pending> make_pending(const LoaderPosition& p) const {
    auto b = std::make_shared<Pending>();
    b->position = p;
    b->indices = local_indices(p);
    b->input.resize(b->indices.size());
    b->edited.resize(b->indices.size());
    b->pixels.resize(b->indices.size());
    b->remaining = b->indices.size();
    return b;
  }

  // Called with mu held: keeps `prefetch` batches beyond the consumer's in flight.
  void schedule_locked() {
    while (static_cast<int>(pending.size()) < std::max(opt.prefetch, 1) + 1) {
      auto b = make_pending(scheduled);
      scheduled = advance(scheduled);
      for (size_t i = 0; i < b->indices.size(); ++i) jobs.push_back({b, i});
      pending.push_back(std::move(b));
    }
    work_cv.notify_all();
  }

  void worker_loop() {
    use_serial_ops_on_this_thread();  // the training step has the cores; workers run beside it
    std::unique_lock<std::mutex> lock(mu);
    for (;;) {
      work_cv.wait(lock, [&] { return stop || !jobs.empty(); });
      if (stop) return;
      Job job = std::move(jobs.front());
      jobs.pop_front();
      lock.unlock();
      std::exception_ptr error;
      try {
        run_job(*job.batch, job.slot);
      } catch (...) {
        error = std::current_exception();
      }
      lock.lock();
      if (error && !job.batch->error) job.batch->error = error;
      if (--job.batch->remaining == 0) done_cv.notify_all();
    }
  }

  EditBatch assemble(Pending& b) const {
    EditBatch out;
    out.position = b.position;
    out.indices = b.indices;
    const int64_t s = opt.transform.output_size();
    if (b.indices.empty()) {
      if (opt.keep_images) {
        out.input = at::empty({0, 3, s, s}, at::kFloat);
        out.edited = at::empty({0, 3, s, s}, at::kFloat);
      }
      return out;
    }
    if (opt.keep_images) {
      out.input = at::stack(b.input, 0);
      out.edited = at::stack(b.edited, 0);
    }
    if (opt.pair_pixels) out.pair_pixels = at::stack(b.pixels, 0);
    for (int64_t i : b.indices)
      out.instructions.push_back(items[static_cast<size_t>(i)].instruction);
    return out;
  }
};

EditDataLoader::EditDataLoader(const EditDataset& dataset, LoaderOptions options)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.items = dataset.items();
  m.opt = std::move(options);
  const LoaderOptions& o = m.opt;
  if (o.world_size < 1 || o.rank < 0 || o.rank >= o.world_size)
    throw_error("data loader: rank ", o.rank, " is outside world size ", o.world_size);
  if (o.global_batch < 1 || o.global_batch % o.world_size != 0)
    throw_error("data loader: the global batch ", o.global_batch,
                " must be a positive multiple of the world size ", o.world_size);
  if (o.transform.resize <= 0 || o.transform.crop > o.transform.resize)
    throw_error("data loader: bad image sizes (resize ", o.transform.resize, ", crop ",
                o.transform.crop, ")");
  m.local = o.global_batch / o.world_size;
  const int64_t n = static_cast<int64_t>(m.items.size());
  m.steps = o.drop_last ? n / o.global_batch : (n + o.global_batch - 1) / o.global_batch;
  if (m.steps == 0)
    throw_error("data loader: the dataset has ", n, " triplets, fewer than one global batch of ",
                o.global_batch, " (lower --batch or add data)");
  for (int t = 0; t < o.threads; ++t) m.workers.emplace_back([this] { impl_->worker_loop(); });
}

EditDataLoader::~EditDataLoader() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stop = true;
    impl_->jobs.clear();
  }
  impl_->work_cv.notify_all();
  for (auto& t : impl_->workers) t.join();
}

const LoaderOptions& EditDataLoader::options() const {
  return impl_->opt;
}
int64_t EditDataLoader::local_batch() const {
  return impl_->local;
}
int64_t EditDataLoader::steps_per_epoch() const {
  return impl_->steps;
}

EditBatch EditDataLoader::next() {
  Impl& m = *impl_;
  if (m.workers.empty()) {  // synchronous
    std::shared_ptr<Pending> b = m.make_pending(m.consumer);
    for (size_t i = 0; i < b->indices.size(); ++i) m.run_job(*b, i);
    m.consumer = m.advance(m.consumer);
    m.scheduled = m.consumer;
    return m.assemble(*b);
  }
  std::shared_ptr<Pending> b;
  {
    std::unique_lock<std::mutex> lock(m.mu);
    m.schedule_locked();
    b = m.pending.front();
    m.done_cv.wait(lock, [&] { return b->remaining == 0; });
    if (b->error) {
      // Leave the position on this batch; a retry (after seek) recomputes it.
      std::exception_ptr e = b->error;
      m.jobs.clear();
      m.pending.clear();
      m.scheduled = m.consumer;
      std::rethrow_exception(e);
    }
    m.pending.pop_front();
    m.consumer = m.advance(m.consumer);
    m.schedule_locked();
  }
  return m.assemble(*b);
}

LoaderPosition EditDataLoader::position() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->consumer;
}

void EditDataLoader::seek(const LoaderPosition& position) {
  Impl& m = *impl_;
  if (position.epoch < 0 || position.step < 0 || position.step >= m.steps)
    throw_error("data loader: cannot resume at epoch ", position.epoch, " step ", position.step,
                " (an epoch has ", m.steps,
                " steps; was the checkpoint made with another dataset or batch size?)");
  std::lock_guard<std::mutex> lock(m.mu);
  // Jobs already taken by workers finish into batches nobody waits for any more.
  m.jobs.clear();
  m.pending.clear();
  m.consumer = m.scheduled = position;
}

std::vector<int64_t> EditDataLoader::epoch_order(int64_t epoch) const {
  return impl_->order(epoch);
}
std::vector<int64_t> EditDataLoader::global_batch_indices(const LoaderPosition& position) const {
  return impl_->global_indices(position);
}
std::vector<int64_t> EditDataLoader::local_batch_indices(const LoaderPosition& position) const {
  return impl_->local_indices(position);
}

}  // namespace editclip
