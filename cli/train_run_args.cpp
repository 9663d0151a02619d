#include "cli/train_run_args.h"

namespace editclip::cli {

std::set<std::string> with_run_options(std::set<std::string> own) {
  own.insert({"data", "format", "out", "stop-after", "seed", "workers", "save-every", "keep-last",
              "log-every", "device", "threads"});
  return own;
}

std::set<std::string> with_run_flags(std::set<std::string> own) {
  own.insert({"help", "skip-bad", "resume", "no-plot", "quiet"});
  return own;
}

void parse_run_options(const Args& args, const std::string& data_what, TrainRunOptions& o) {
  o.data = args.require("data", data_what);
  o.out = args.require("out", "(the run folder)");
  o.data_format = args.get("format", o.data_format);
  o.skip_bad = args.has("skip-bad");
  o.stop_after = args.get_int("stop-after", 0);
  o.seed = args.get_u64("seed", 0);
  o.workers = args.get_int("workers", o.workers);
  o.save_every = args.get_int("save-every", static_cast<int>(o.save_every));
  o.keep_last = args.get_int("keep-last", o.keep_last);
  o.resume = args.has("resume");
  o.log_every = args.get_int("log-every", 1);
  o.plot = !args.has("no-plot");
  o.device = args.get("device", "auto");
  o.threads = args.get_int("threads", 0);
  o.quiet = args.has("quiet");
}

std::shared_ptr<Communicator> run_communicator(const TrainRunOptions& o) {
  const DistributedEnv env = DistributedEnv::from_environment();
  return Communicator::create(env, training_device(o.device));
}

}  // namespace editclip::cli
