// Command-line options every training command takes (the TrainRunOptions: data, run folder,
// checkpoints, logging, device), parsed in one place so they read the same in all of them.
#pragma once

#include <memory>
#include <set>
#include <string>

#include "cli/args.h"
#include "engine/training/distributed.h"
#include "engine/training/trainer_common.h"

namespace editclip::cli {

// `own` plus the run options that take a value (--data, --format, --out, --seed, ...).
std::set<std::string> with_run_options(std::set<std::string> own);
// `own` plus the run flags (--help, --skip-bad, --resume, --no-plot, --quiet).
std::set<std::string> with_run_flags(std::set<std::string> own);

// Fills the run options from `args`; --data and --out are required (`data_what` says what
// --data is when it is missing).
void parse_run_options(const Args& args, const std::string& data_what, TrainRunOptions& o);

// The communicator of this process (torchrun-style environment) on o.device.
std::shared_ptr<Communicator> run_communicator(const TrainRunOptions& o);

}  // namespace editclip::cli
