#include "engine/training/distributed.h"

#include <algorithm>
#include <cstdlib>
#include <map>

#include "engine/core/error.h"

#ifdef EDITCLIP_WITH_DISTRIBUTED
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef EDITCLIP_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#endif

namespace editclip {

namespace {

int env_int(const char* name, int fallback, int min_value) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  if (*end != '\0' || x < min_value || x > 1 << 20)
    throw_error("environment variable ", name, "='", v, "' is not a valid number (at least ",
                min_value, ")");
  return static_cast<int>(x);
}

class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  std::string backend() const override { return "none"; }
  void broadcast(std::vector<at::Tensor>&, int) override {}
  void all_reduce_sum(std::vector<at::Tensor>&) override {}
  at::Tensor all_gather(const at::Tensor& t) override { return t; }
  void barrier() override {}
};

#ifdef EDITCLIP_WITH_DISTRIBUTED

std::chrono::milliseconds dist_timeout() {
  return std::chrono::milliseconds(int64_t{1000} * env_int("EDITCLIP_DIST_TIMEOUT", 1800, 1));
}

bool is_loopback(const std::string& addr) {
  return addr == "localhost" || addr.rfind("127.", 0) == 0 || addr == "::1";
}

class C10dProcessGroup final : public Communicator {
 public:
  C10dProcessGroup(const DistributedEnv& env, at::Device device) : env_(env), device_(device) {
    c10d::TCPStoreOptions store_opts;
    store_opts.port = static_cast<std::uint16_t>(env.master_port);
    store_opts.isServer = env.rank == 0;
    store_opts.numWorkers = static_cast<std::size_t>(env.world_size);
    store_opts.waitWorkers = true;
    store_opts.timeout = dist_timeout();
    try {
      store_ = c10::make_intrusive<c10d::TCPStore>(env.master_addr, store_opts);
    } catch (const std::exception& e) {
      throw_error("distributed rendezvous at ", env.master_addr, ":", env.master_port,
                  " failed for rank ", env.rank, " of ", env.world_size, " (", first_line(e.what()),
                  "); check MASTER_ADDR/MASTER_PORT and that every rank was started");
    }
    auto opts = c10d::ProcessGroupGloo::Options::create(dist_timeout());
    if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname)
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    else if (is_loopback(env.master_addr))
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    else
      opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    opts->threads = 2;
    gloo_ = c10::make_intrusive<c10d::ProcessGroupGloo>(store_, env.rank, env.world_size, opts);
#ifdef EDITCLIP_WITH_NCCL
    if (device.is_cuda()) {
      auto nccl_opts = c10d::ProcessGroupNCCL::Options::create();
      nccl_ =
          c10::make_intrusive<c10d::ProcessGroupNCCL>(store_, env.rank, env.world_size, nccl_opts);
    }
#endif
  }

  int rank() const override {
    return env_.rank;
  }
  int world_size() const override {
    return env_.world_size;
  }
  std::string backend() const override {
#ifdef EDITCLIP_WITH_NCCL
    if (nccl_) return "nccl";
#endif
    return "gloo";
  }

  void broadcast(std::vector<at::Tensor>& tensors, int root) override {
    for (auto& t : tensors) {
      run_staged(t, [&](std::vector<at::Tensor>& v, bool nccl) {
        c10d::BroadcastOptions o;
        o.rootRank = root;
        wait(nccl, [&](auto& pg) { return pg->broadcast(v, o); });
      });
    }
  }

  void all_reduce_sum(std::vector<at::Tensor>& tensors) override {
    // One flat buffer per (dtype, device): one collective instead of one per parameter.
    std::map<std::pair<int, std::string>, std::vector<size_t>> groups;
    for (size_t i = 0; i < tensors.size(); ++i)
      if (tensors[i].defined())
        groups[{static_cast<int>(tensors[i].scalar_type()), tensors[i].device().str()}].push_back(
            i);
    for (auto& [key, idx] : groups) {
      std::vector<at::Tensor> flat;
      for (size_t i : idx) flat.push_back(tensors[i].reshape({-1}));
      at::Tensor buffer = at::cat(flat);
      run_staged(buffer, [&](std::vector<at::Tensor>& v, bool nccl) {
        c10d::AllreduceOptions o;
        wait(nccl, [&](auto& pg) { return pg->allreduce(v, o); });
      });
      int64_t offset = 0;
      for (size_t i : idx) {
        at::Tensor& t = tensors[i];
        t.copy_(buffer.narrow(0, offset, t.numel()).view(t.sizes()));
        offset += t.numel();
      }
    }
  }

  at::Tensor all_gather(const at::Tensor& t) override {
    at::Tensor src = t.contiguous();
    const bool nccl = use_nccl(src);
    if (!nccl) src = src.to(at::kCPU);
    std::vector<at::Tensor> inputs{src};
    std::vector<std::vector<at::Tensor>> outputs(1);
    for (int r = 0; r < env_.world_size; ++r) outputs[0].push_back(at::empty_like(src));
    wait(nccl, [&](auto& pg) { return pg->allgather(outputs, inputs); });
    return at::cat(outputs[0], 0).to(t.device());
  }

  void barrier() override {
    // A tiny all-reduce rather than c10d's barrier, which NCCL implements with device guesses.
    std::vector<at::Tensor> v{at::zeros({1}, at::kFloat)};
    c10d::AllreduceOptions o;
    wait(false, [&](auto& pg) { return pg->allreduce(v, o); });
  }

 private:
  bool use_nccl(const at::Tensor& t) const {
#ifdef EDITCLIP_WITH_NCCL
    return nccl_ && t.is_cuda();
#else
    (void)t;
    return false;
#endif
  }

  // Runs `op` on `t` itself where the backend takes its device, else on a CPU copy written back.
  template <typename Op>
  void run_staged(at::Tensor& t, Op op) {
    const bool nccl = use_nccl(t);
    if (nccl || t.is_cpu()) {
      at::Tensor c = t.is_contiguous() ? t : t.contiguous();
      std::vector<at::Tensor> v{c};
      op(v, nccl);
      if (!c.is_same(t)) t.copy_(c);
      return;
    }
    std::vector<at::Tensor> v{t.to(at::kCPU).contiguous()};
    op(v, false);
    t.copy_(v[0]);
  }

  template <typename F>
  void wait(bool nccl, F issue) {
    try {
#ifdef EDITCLIP_WITH_NCCL
      if (nccl) {
        issue(nccl_)->wait();
        return;
      }
#else
      (void)nccl;
#endif
      issue(gloo_)->wait();
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      throw_error("distributed collective failed on rank ", env_.rank, " (", first_line(e.what()),
                  "); another rank probably stopped with an error, see its output");
    }
  }

  DistributedEnv env_;
  at::Device device_;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo_;
#ifdef EDITCLIP_WITH_NCCL
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl_;
#endif
};

#endif  // EDITCLIP_WITH_DISTRIBUTED

}  // namespace

DistributedEnv DistributedEnv::from_environment() {
  DistributedEnv env;
  env.world_size = env_int("WORLD_SIZE", 1, 1);
  env.rank = env_int("RANK", 0, 0);
  env.local_rank = env_int("LOCAL_RANK", env.rank, 0);
  if (env.rank >= env.world_size)
    throw_error("environment: RANK=", env.rank, " is not below WORLD_SIZE=", env.world_size);
  if (const char* a = std::getenv("MASTER_ADDR"); a && *a) env.master_addr = a;
  env.master_port = env_int("MASTER_PORT", 29500, 1);
  if (env.master_port > 65535)
    throw_error("environment variable MASTER_PORT=", env.master_port, " is not a port number");
  if (env.world_size > 1 && !std::getenv("MASTER_PORT"))
    throw_error("environment: WORLD_SIZE=", env.world_size,
                " but MASTER_PORT is not set (start the ranks with torchrun or set RANK, "
                "WORLD_SIZE, MASTER_ADDR and MASTER_PORT)");
  return env;
}

bool distributed_support_compiled() {
#ifdef EDITCLIP_WITH_DISTRIBUTED
  return true;
#else
  return false;
#endif
}

bool nccl_support_compiled() {
#ifdef EDITCLIP_WITH_NCCL
  return true;
#else
  return false;
#endif
}

std::shared_ptr<Communicator> Communicator::single() {
  return std::make_shared<SingleProcess>();
}

std::shared_ptr<Communicator> Communicator::create(const DistributedEnv& env, at::Device device) {
  if (!env.distributed()) return single();
#ifdef EDITCLIP_WITH_DISTRIBUTED
  return std::make_shared<C10dProcessGroup>(env, device);
#else
  (void)device;
  throw_error("WORLD_SIZE=", env.world_size,
              " asks for data-parallel training, but this build has no distributed support "
              "(c10d Gloo headers were not found at configure time; install libgloo-dev and "
              "reconfigure with -DEDITCLIP_WITH_DISTRIBUTED=ON)");
#endif
}

double Communicator::all_reduce_sum(double value) {
  std::vector<at::Tensor> v{at::full({1}, value, at::kDouble)};
  all_reduce_sum(v);
  return v[0].item<double>();
}

double Communicator::all_reduce_max(double value) {
  at::Tensor all = all_gather(at::full({1}, value, at::kDouble));
  return all.max().item<double>();
}

}  // namespace editclip
