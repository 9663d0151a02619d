// Opens the engine module (plugin/engine_backend.h) on first use. Only the compute paths call
// this; registration, argument checks and dialogs never need LibTorch.
#pragma once

#include <memory>
#include <string>

#include "plugin/engine_backend.h"

namespace editclip::gimp {

// Where the module is expected: beside the running executable.
std::string engine_module_path();
// Starts opening the module on a background thread (e.g. while a dialog is open), so that OK does
// not wait for LibTorch to load. Call from the main thread; harmless when repeated.
void preload_engine_module();
// Waits for a preload to finish (call before the process exits).
void wait_for_engine_preload();
// Loads the module (once per process; it stays loaded) and creates a backend. Throws
// editclip::Error naming the module path and the loader's message when that fails.
std::unique_ptr<EngineBackend> create_engine_backend();

}  // namespace editclip::gimp
