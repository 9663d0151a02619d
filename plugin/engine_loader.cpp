#include "plugin/engine_loader.h"

#include <gmodule.h>

#include <mutex>
#include <thread>

#include "engine/core/cpu_tuning.h"
#include "engine/core/error.h"

namespace editclip::gimp {

namespace {

constexpr const char* kModuleName = "libeditclip-gimp-engine.so";

std::mutex g_mutex;  // guards everything below
std::thread g_preload;
bool g_opened = false;
EditclipGimpCreateBackend g_factory = nullptr;
std::string g_error;

void prepare_environment() {
  // OpenBLAS and libgomp read their tuning variables when they load. setenv is done here, on the
  // main thread, because it races with getenv elsewhere.
  static bool done = false;
  if (!done) apply_cpu_env_before_torch_loads();
  done = true;
}

// Runs once, on the preload thread or the caller's.
void open_module_locked() {
  if (g_opened) return;
  g_opened = true;
  const std::string path = engine_module_path();
  // Kept open for the life of the process: LibTorch does not support being unloaded.
  GModule* module = g_module_open(path.c_str(), G_MODULE_BIND_LOCAL);
  if (!module) {
    g_error = concat("cannot load the EditCLIP engine ", path, ": ", first_line(g_module_error()),
                     " (reinstall the plug-in with install/setup.sh)");
    return;
  }
  g_module_make_resident(module);
  gpointer symbol = nullptr;
  if (!g_module_symbol(module, EDITCLIP_GIMP_BACKEND_FACTORY, &symbol) || !symbol) {
    g_error = concat(path, ": not an EditCLIP engine module (no ", EDITCLIP_GIMP_BACKEND_FACTORY,
                     "); reinstall the plug-in");
    return;
  }
  g_factory = reinterpret_cast<EditclipGimpCreateBackend>(symbol);
}

}  // namespace

std::string engine_module_path() {
  std::string dir;
  if (gchar* exe = g_file_read_link("/proc/self/exe", nullptr)) {
    gchar* d = g_path_get_dirname(exe);
    dir = d;
    g_free(d);
    g_free(exe);
  }
  gchar* path = g_build_filename(dir.empty() ? "." : dir.c_str(), kModuleName, nullptr);
  std::string out = path;
  g_free(path);
  return out;
}

void preload_engine_module() {
  prepare_environment();
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_opened || g_preload.joinable()) return;
  g_preload = std::thread([] {
    std::lock_guard<std::mutex> inner(g_mutex);
    open_module_locked();
  });
}

void wait_for_engine_preload() {
  std::thread t;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    t = std::move(g_preload);
  }
  if (t.joinable()) t.join();
}

std::unique_ptr<EngineBackend> create_engine_backend() {
  prepare_environment();
  wait_for_engine_preload();
  EditclipGimpCreateBackend factory = nullptr;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    open_module_locked();
    if (!g_factory) throw Error(g_error);
    factory = g_factory;
  }
  std::unique_ptr<EngineBackend> backend(factory(EDITCLIP_GIMP_BACKEND_ABI));
  if (!backend)
    throw_error(engine_module_path(),
                ": engine module and plug-in are from different builds; reinstall the plug-in");
  return backend;
}

}  // namespace editclip::gimp
