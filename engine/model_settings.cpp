// Where the weights are: the settings file shared by the CLI and the GIMP plug-in.
//
// Kept free of LibTorch (standard library, nlohmann/json and the header-only error.h only): the
// plug-in binary compiles this file directly, so GIMP can show the settings dialog and explain
// missing models without ever loading the engine library.
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/core/error.h"
#include "engine/editclip.h"

namespace fs = std::filesystem;

namespace editclip {

namespace {

enum class Kind { Folder, Choice, Count };

struct Field {
  const char* key;
  const char* env;
  Kind kind;
  std::string ModelSettings::*text;  // Folder / Choice
  std::vector<std::string> choices;  // Choice
};

const std::vector<Field>& fields() {
  static const std::vector<Field> all{
      {"editclip_dir", "EDITCLIP_CLIP_DIR", Kind::Folder, &ModelSettings::editclip_dir, {}},
      {"editor_dir", "EDITCLIP_EDITOR_DIR", Kind::Folder, &ModelSettings::editor_dir, {}},
      {"clip_baseline_dir",
       "EDITCLIP_CLIP_BASELINE_DIR",
       Kind::Folder,
       &ModelSettings::clip_baseline_dir,
       {}},
      {"lpips_dir", "EDITCLIP_LPIPS_DIR", Kind::Folder, &ModelSettings::lpips_dir, {}},
      // The same spellings the engine accepts (engine/core/runtime.cpp), checked here so a typo
      // is reported against the file or variable rather than as a bad --device.
      {"device",
       "EDITCLIP_DEVICE",
       Kind::Choice,
       &ModelSettings::device,
       {"auto", "cpu", "cuda", "gpu"}},
      {"precision",
       "EDITCLIP_PRECISION",
       Kind::Choice,
       &ModelSettings::precision,
       {"fp32", "float32", "fp16", "float16", "half", "bf16", "bfloat16"}},
      {"threads", "EDITCLIP_THREADS", Kind::Count, nullptr, {}},
  };
  return all;
}

std::string key_list() {
  std::string out;
  for (const auto& f : fields()) out += (out.empty() ? "" : ", ") + std::string(f.key);
  return out;
}

const Field* find_field(const std::string& key) {
  for (const auto& f : fields())
    if (key == f.key) return &f;
  return nullptr;
}

std::string home_dir() {
  if (const char* home = std::getenv("HOME"); home && *home) return home;
  if (const passwd* pw = getpwuid(getuid()); pw && pw->pw_dir) return pw->pw_dir;
  return "";
}

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// "~" and "~/x" -> $HOME/x; relative paths against `base` when given.
std::string expand_folder(const std::string& path, const fs::path& base) {
  if (path.empty()) return path;
  if (path == "~" || path.rfind("~/", 0) == 0) {
    const std::string home = home_dir();
    if (!home.empty()) return home + path.substr(1);
  }
  const fs::path p(path);
  if (p.is_relative() && !base.empty()) return (base / p).lexically_normal().string();
  return path;
}

// `where` names the source for messages: a file and key, or an environment variable.
void assign(ModelSettings& s, const Field& f, const std::string& value, const std::string& where,
            const fs::path& base) {
  switch (f.kind) {
    case Kind::Folder:
      s.*f.text = expand_folder(value, base);
      return;
    case Kind::Choice: {
      for (const auto& c : f.choices)
        if (value == c) {
          s.*f.text = value;
          return;
        }
      std::string list;
      for (const auto& c : f.choices) list += (list.empty() ? "" : ", ") + c;
      throw_error(where, ": '", value, "' is not a valid ", f.key, " (expected one of ", list, ")");
    }
    case Kind::Count: {
      size_t used = 0;
      long v = -1;
      try {
        v = std::stol(value, &used);
      } catch (...) {
        used = 0;
      }
      if (used == 0 || used != value.size() || v < 0 || v > 4096)
        throw_error(where, ": '", value, "' is not a valid ", f.key,
                    " (expected a whole number >= 0; 0 = all cores)");
      s.threads = static_cast<int>(v);
      return;
    }
  }
}

nlohmann::ordered_json parse_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_error(path, ": cannot read the settings file (", std::strerror(errno), ")");
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::ordered_json j;
  try {
    j = nlohmann::ordered_json::parse(text.str());
  } catch (const std::exception& e) {
    throw_error(path, ": not valid JSON (", first_line(e.what()),
                "); fix it, delete it, or rewrite it with `editclip config --set KEY=VALUE`");
  }
  if (!j.is_object())
    throw_error(path,
                ": the settings file must hold one JSON object, e.g. {\"editclip_dir\": "
                "\"/path/to/EditCLIP\"}");
  return j;
}

bool is_lfs_pointer(const fs::path& file) {
  std::error_code ec;
  if (fs::file_size(file, ec) > 1024 || ec) return false;
  std::ifstream in(file, std::ios::binary);
  std::string head(40, '\0');
  in.read(&head[0], static_cast<std::streamsize>(head.size()));
  return head.rfind("version https://git-lfs", 0) == 0;
}

// Problems with one weight file choice: empty when one of `names` exists in `dir` and holds data.
std::string check_weights(const fs::path& dir, const std::vector<std::string>& names,
                          const std::string& what) {
  for (const auto& n : names) {
    const fs::path p = dir / n;
    if (!fs::exists(p)) continue;
    if (is_lfs_pointer(p))
      return concat(p.string(),
                    " is a Git LFS pointer, not the weights (run `git lfs pull` in the download, "
                    "or download with huggingface-cli)");
    return "";
  }
  return concat((dir / names.front()).string(), " is missing (", what, ")");
}

std::vector<std::string> editclip_problems(const std::string& dir) {
  if (dir.empty()) return {"not set"};
  const fs::path d(dir);
  if (!fs::is_directory(d)) return {concat(dir, " is not a folder")};
  std::vector<std::string> out;
  if (!fs::exists(d / "config.json"))
    out.push_back(concat((d / "config.json").string(),
                         " is missing (it should be the HF CLIPModel folder of QWW/EditCLIP)"));
  const std::string w =
      check_weights(d, {"model.safetensors", "model.safetensors.index.json", "pytorch_model.bin"},
                    "the EditCLIP weights");
  if (!w.empty()) out.push_back(w);
  return out;
}

std::vector<std::string> editor_problems(const std::string& dir) {
  if (dir.empty()) return {"not set"};
  const fs::path d(dir);
  if (!fs::is_directory(d)) return {concat(dir, " is not a folder")};
  std::vector<std::string> out;
  const std::vector<std::string> diffusers{"diffusion_pytorch_model.safetensors",
                                           "diffusion_pytorch_model.fp16.safetensors",
                                           "diffusion_pytorch_model.bin"};
  struct Part {
    const char* sub;
    const char* from;
  };
  for (Part part : {Part{"unet", "QWW/EditCLIP-IP2P"}, Part{"vae", "timbrooks/instruct-pix2pix"}}) {
    const fs::path sub = d / part.sub;
    if (!fs::is_directory(sub)) {
      out.push_back(concat((d / part.sub).string(), "/ is missing (copy ", part.sub, "/ from ",
                           part.from, ")"));
      continue;
    }
    if (!fs::exists(sub / "config.json"))
      out.push_back(concat((sub / "config.json").string(), " is missing (from ", part.from, ")"));
    const std::string w = check_weights(sub, diffusers, concat("from ", part.from));
    if (!w.empty()) out.push_back(w);
  }
  if (!fs::is_directory(d / "scheduler"))
    out.push_back(concat((d / "scheduler").string(),
                         "/ is missing (copy scheduler/ from timbrooks/instruct-pix2pix)"));
  else if (!fs::exists(d / "scheduler" / "scheduler_config.json"))
    out.push_back(concat((d / "scheduler" / "scheduler_config.json").string(),
                         " is missing (from timbrooks/instruct-pix2pix)"));
  const std::string proj = check_weights(d, {"image_proj_model.pt", "image_proj_model.safetensors"},
                                         "the projection, from QWW/EditCLIP-IP2P");
  if (!proj.empty()) out.push_back(proj);
  return out;
}

}  // namespace

std::string settings_path() {
  if (const std::string p = env("EDITCLIP_SETTINGS"); !p.empty()) return p;
  // The XDG spec says a relative XDG_CONFIG_HOME is invalid and must be ignored.
  if (const std::string x = env("XDG_CONFIG_HOME"); !x.empty() && x[0] == '/')
    return (fs::path(x) / "editclip" / "settings.json").string();
  const std::string home = home_dir();
  if (home.empty())
    throw_error(
        "cannot find the settings file: neither $HOME nor $XDG_CONFIG_HOME is set (set "
        "EDITCLIP_SETTINGS to a file path)");
  return (fs::path(home) / ".config" / "editclip" / "settings.json").string();
}

ModelSettings read_model_settings_file(const std::string& path) {
  ModelSettings s;
  if (!fs::exists(path)) return s;
  const nlohmann::ordered_json j = parse_file(path);
  const fs::path base = fs::absolute(fs::path(path)).parent_path();
  // Unknown keys are ignored on purpose: newer versions and users' own notes may add some.
  for (const auto& f : fields()) {
    if (!j.contains(f.key) || j[f.key].is_null()) continue;
    const auto& v = j[f.key];
    const std::string where = concat(path, ": key '", f.key, "'");
    if (f.kind == Kind::Count) {
      if (!v.is_number_integer())
        throw_error(where, " must be a whole number (0 = all cores), not ", v.type_name(), " ",
                    v.dump());
      assign(s, f, std::to_string(v.get<int64_t>()), where, base);
    } else {
      if (!v.is_string())
        throw_error(where, " must be a string", f.kind == Kind::Folder ? " (a folder path)" : "",
                    ", not ", v.type_name(), " ", v.dump());
      assign(s, f, v.get<std::string>(), where, base);
    }
  }
  return s;
}

ModelSettings load_model_settings() {
  ModelSettings s = read_model_settings_file(settings_path());
  for (const auto& f : fields()) {
    const std::string v = env(f.env);
    if (!v.empty()) assign(s, f, v, concat("environment variable ", f.env), {});
  }
  return s;
}

void save_model_settings(const ModelSettings& settings, const std::string& path_in) {
  const std::string path = path_in.empty() ? settings_path() : path_in;
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  if (fs::exists(path)) {
    try {
      j = parse_file(path);
    } catch (const Error&) {
      j = nlohmann::ordered_json::object();  // a broken file is replaced, not merged
    }
  }
  for (const auto& [key, value] : model_settings_entries(settings)) {
    if (key == "threads")
      j[key] = settings.threads;
    else
      j[key] = value;
  }
  const fs::path target(path);
  std::error_code ec;
  if (target.has_parent_path()) fs::create_directories(target.parent_path(), ec);
  if (ec)
    throw_error(target.parent_path().string(), ": cannot create the settings folder (",
                ec.message(), ")");
  const std::string tmp = concat(path, ".tmp-", ::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw_error(tmp, ": cannot write the settings file (", std::strerror(errno), ")");
    out << j.dump(2) << "\n";
    out.flush();
    if (!out) {
      fs::remove(tmp, ec);
      throw_error(tmp, ": write failed (disk full?)");
    }
  }
  // rename() replaces the old file in one step, so a reader never sees half a file.
  fs::rename(tmp, target, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw_error(path, ": cannot replace the settings file (", ec.message(), ")");
  }
}

std::vector<std::pair<std::string, std::string>> model_settings_entries(const ModelSettings& s) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& f : fields())
    out.emplace_back(f.key, f.kind == Kind::Count ? std::to_string(s.threads) : s.*f.text);
  return out;
}

void set_model_setting(ModelSettings& settings, const std::string& key, const std::string& value) {
  const Field* f = find_field(key);
  if (!f) throw_error("unknown setting '", key, "' (settings are: ", key_list(), ")");
  // Relative folders given on a command line mean the current folder, as everywhere else.
  std::string v = value;
  if (f->kind == Kind::Folder && !v.empty() && v != "~" && v.rfind("~/", 0) != 0 &&
      fs::path(v).is_relative())
    v = fs::absolute(v).lexically_normal().string();
  assign(settings, *f, v, concat("setting ", key), {});
}

std::map<std::string, std::string> model_settings_env_overrides() {
  std::map<std::string, std::string> out;
  for (const auto& f : fields())
    if (!env(f.env).empty()) out[f.key] = f.env;
  return out;
}

std::string describe_missing_models(const ModelSettings& settings) {
  const auto clip = editclip_problems(settings.editclip_dir);
  const auto editor = editor_problems(settings.editor_dir);
  if (clip.empty() && editor.empty()) return "";

  const std::string models = "~/.local/share/editclip/models";
  std::ostringstream os;
  os << "EditCLIP needs two model folders and cannot use them yet:\n";
  auto list = [&](const char* name, const char* key, const std::string& dir,
                  const std::vector<std::string>& problems) {
    os << "  " << name << " (" << key << (dir.empty() ? "" : " = " + dir) << "): ";
    if (problems.empty()) {
      os << "ok\n";
      return;
    }
    os << (problems.size() == 1 ? problems.front() : "") << "\n";
    if (problems.size() > 1)
      for (const auto& p : problems) os << "      - " << p << "\n";
  };
  list("EditCLIP encoder", "editclip_dir", settings.editclip_dir, clip);
  list("editor", "editor_dir", settings.editor_dir, editor);
  os << "\n"
     << "1. Download the weights once (about 5.5 GB, from Hugging Face) into " << models << ":\n"
     << "     huggingface-cli download QWW/EditCLIP --local-dir " << models << "/EditCLIP\n"
     << "     huggingface-cli download QWW/EditCLIP-IP2P --local-dir " << models
     << "/EditCLIP-IP2P\n"
     << "     huggingface-cli download timbrooks/instruct-pix2pix --include 'vae/*' 'scheduler/*' "
        "\\\n"
     << "         --local-dir " << models << "/EditCLIP-IP2P\n"
     << "   (huggingface-cli comes with `pip install huggingface_hub`; or `git lfs install` and\n"
     << "   `git clone https://huggingface.co/<repo>`, then copy the folders).\n"
     << "   The editor folder combines QWW/EditCLIP-IP2P with the VAE and scheduler of\n"
     << "   timbrooks/instruct-pix2pix:\n"
     << "     " << models << "/\n"
     << "       EditCLIP/                  <- QWW/EditCLIP (an HF CLIPModel folder)\n"
     << "         config.json  model.safetensors  preprocessor_config.json\n"
     << "         vocab.json  merges.txt  tokenizer_config.json  special_tokens_map.json\n"
     << "       EditCLIP-IP2P/             <- QWW/EditCLIP-IP2P\n"
     << "         image_proj_model.pt\n"
     << "         unet/       config.json  diffusion_pytorch_model.safetensors\n"
     << "         vae/        config.json  diffusion_pytorch_model.safetensors"
        "   <- timbrooks/instruct-pix2pix\n"
     << "         scheduler/  scheduler_config.json"
        "                              <- timbrooks/instruct-pix2pix\n"
     << "\n"
     << "2. Tell EditCLIP where they are, in any one of these ways:\n"
     << "   - editclip config --set editclip_dir=" << models << "/EditCLIP \\\n"
     << "                     --set editor_dir=" << models << "/EditCLIP-IP2P\n"
     << "   - or edit the settings file " << settings_path() << ":\n"
     << "       {\"editclip_dir\": \"" << models << "/EditCLIP\",\n"
     << "        \"editor_dir\": \"" << models << "/EditCLIP-IP2P\"}\n"
     << "   - or set the environment variables EDITCLIP_CLIP_DIR and EDITCLIP_EDITOR_DIR\n"
     << "   - or in GIMP: Filters > EditCLIP > Settings...\n"
     << "   (the CLI's --clip DIR and --pipeline DIR also work for one run)\n"
     << "\n"
     << "3. Check each folder (every tensor's name, shape and type):\n"
     << "     editclip inspect " << models << "/EditCLIP\n"
     << "     editclip inspect " << models << "/EditCLIP-IP2P\n"
     << "   and then: editclip config --check\n";
  return os.str();
}

}  // namespace editclip
