// editclip_parity [FIXTURES_ROOT] [--verbose] [--only SUBSTRING]
// Discovers every case folder (one holding case.json) under the root, checks it with the handler
// of its kind, prints "PASS <case> <max abs err>" or "FAIL <case> <why>", then "N passed, M
// failed". A case of unknown kind, or one whose expected tensors were not all checked, fails.
#include <ATen/Parallel.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <thread>

#include "engine/core/error.h"
#include "tests/parity/parity_case.h"

namespace fs = std::filesystem;
using namespace editclip;
using namespace editclip::parity;

int main(int argc, char** argv) {
  std::string root;
  bool verbose = false;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--verbose" || a == "-v") {
      verbose = true;
    } else if (a == "--only" && i + 1 < argc) {
      only = argv[++i];
    } else if (a == "--help" || a == "-h") {
      std::cout << "usage: editclip_parity [FIXTURES_ROOT] [--verbose] [--only SUBSTRING]\n";
      return 0;
    } else {
      root = a;
    }
  }
  if (root.empty()) {
    const char* env = std::getenv("EDITCLIP_FIXTURES");
    root = (env && *env) ? env : EDITCLIP_DEFAULT_FIXTURES;
  }
  if (!fs::is_directory(root)) {
    std::cerr << "editclip_parity: fixtures root '" << root << "' is not a folder\n";
    return 2;
  }
  at::set_num_threads(std::max(1u, std::thread::hardware_concurrency()));

  std::vector<fs::path> cases;
  for (auto it =
           fs::recursive_directory_iterator(root, fs::directory_options::follow_directory_symlink);
       it != fs::recursive_directory_iterator(); ++it) {
    if (it->is_regular_file() && it->path().filename() == "case.json")
      cases.push_back(it->path().parent_path());
  }
  std::sort(cases.begin(), cases.end());

  int passed = 0, failed = 0;
  for (auto& dir : cases) {
    if (!only.empty() && dir.filename().string().find(only) == std::string::npos) continue;
    const std::string label = dir.filename().string();
    auto t0 = std::chrono::steady_clock::now();
    try {
      ParityCase c(dir, root);
      if (!c.spec().is_object() || !c.spec().contains("kind") || !c.spec()["kind"].is_string()) {
        std::cout << "FAIL " << label << " case.json has no \"kind\" string" << std::endl;
        ++failed;
        continue;
      }
      auto it = kind_registry().find(c.kind());
      if (it == kind_registry().end()) {
        std::cout << "FAIL " << label << " unknown case kind '" << c.kind() << "'" << std::endl;
        ++failed;
        continue;
      }
      it->second(c);
      std::vector<std::string> unchecked;
      for (auto& n : c.expected_names())
        if (!c.checked().count(n)) unchecked.push_back(n);
      if (!unchecked.empty()) {
        std::string list;
        for (size_t i = 0; i < unchecked.size() && i < 6; ++i)
          list += (i ? ", " : "") + unchecked[i];
        c.fail(concat(unchecked.size(), " expected tensor(s) not checked: ", list));
      }
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (verbose)
        for (auto& l : c.report_lines()) std::cout << l << "\n";
      if (c.failures().empty() && !c.checked().empty()) {
        std::cout << "PASS " << label << " " << c.max_abs_error() << std::endl;
        ++passed;
      } else {
        std::string why = c.failures().empty() ? "nothing was checked" : c.failures().front();
        if (c.failures().size() > 1) why += concat(" (+", c.failures().size() - 1, " more)");
        std::cout << "FAIL " << label << " " << why << std::endl;
        if (verbose)
          for (auto& f : c.failures()) std::cout << "  failure: " << f << "\n";
        ++failed;
      }
      if (verbose) std::cout << "  (" << secs << " s)\n";
    } catch (const std::exception& e) {
      std::cout << "FAIL " << label << " " << first_line(e.what()) << std::endl;
      ++failed;
    }
  }
  if (passed + failed == 0) {
    std::cout << "no case folders found under " << root << "\n";
    std::cout << "0 passed, 1 failed" << std::endl;
    return 1;
  }
  std::cout << passed << " passed, " << failed << " failed" << std::endl;
  return failed ? 1 : 0;
}
