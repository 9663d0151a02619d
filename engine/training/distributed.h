// Data-parallel training over PyTorch's distributed engine (c10d), set up from the environment
// torchrun exports: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT.
//
// Rank 0 hosts a c10d TCPStore at MASTER_ADDR:MASTER_PORT for the rendezvous; the collectives run
// on Gloo for CPU tensors and on NCCL for CUDA tensors when the build found NCCL (otherwise CUDA
// tensors are staged through Gloo on the CPU). A single process (WORLD_SIZE unset or 1) gets a
// communicator whose collectives are identities, so trainers call them unconditionally.
//
// Every rank must issue the same collectives in the same order; a rank that fails leaves the
// others waiting until the timeout (EDITCLIP_DIST_TIMEOUT seconds, 1800 by default).
#pragma once

#include <ATen/ATen.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace editclip {

struct DistributedEnv {
  int rank = 0, world_size = 1, local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  // Reads the torchrun variables; a malformed or inconsistent value is an Error naming it.
  static DistributedEnv from_environment();
  bool distributed() const { return world_size > 1; }
};

// Whether this build can run more than one process (c10d Gloo found at configure time), and
// whether it has NCCL for CUDA tensors.
bool distributed_support_compiled();
bool nccl_support_compiled();

class Communicator {
 public:
  virtual ~Communicator() = default;

  // World size 1: the identity communicator. Otherwise joins the process group (blocks until all
  // ranks are there). `device` is where the trainer keeps its tensors (selects NCCL for CUDA).
  static std::shared_ptr<Communicator> create(const DistributedEnv& env, at::Device device);
  static std::shared_ptr<Communicator> single();

  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  bool is_main() const { return rank() == 0; }
  virtual std::string backend() const = 0;  // "none", "gloo" or "nccl"

  // In place: every tensor gets root's values.
  virtual void broadcast(std::vector<at::Tensor>& tensors, int root = 0) = 0;
  // In place: every tensor becomes the element-wise sum over ranks (identical on every rank).
  // The tensors are packed into one buffer per dtype, so one call costs one collective.
  virtual void all_reduce_sum(std::vector<at::Tensor>& tensors) = 0;
  // Concatenation along dim 0 of every rank's `t` (same shape on every rank), in rank order.
  virtual at::Tensor all_gather(const at::Tensor& t) = 0;
  virtual void barrier() = 0;

  // Conveniences built on the above.
  double all_reduce_sum(double value);
  double all_reduce_max(double value);
};

}  // namespace editclip
