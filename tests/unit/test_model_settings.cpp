// Where the weights are: the settings file, environment overrides and the first-run explanation.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/core/error.h"
#include "engine/editclip.h"
#include "tests/test_support.h"

using namespace editclip;
namespace fs = std::filesystem;

namespace {

using namespace editclip::test;

const fs::path kFixtures = EDITCLIP_TEST_FIXTURES;

// Clears every variable the settings read (HOME is only saved: tests set it), so the tests
// neither see the developer's own settings nor leak into other tests.
struct CleanEnvironment : ScopedEnv {
  CleanEnvironment() {
    for (const char* name :
         {"EDITCLIP_SETTINGS", "XDG_CONFIG_HOME", "EDITCLIP_CLIP_DIR", "EDITCLIP_EDITOR_DIR",
          "EDITCLIP_CLIP_BASELINE_DIR", "EDITCLIP_LPIPS_DIR", "EDITCLIP_DEVICE",
          "EDITCLIP_PRECISION", "EDITCLIP_THREADS"})
      unset(name);
    save("HOME");
  }
};

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

}  // namespace

TEST(ModelSettings, SettingsPathFollowsEnvironment) {
  CleanEnvironment env;
  setenv("HOME", "/home/someone", 1);
  EXPECT_EQ(settings_path(), "/home/someone/.config/editclip/settings.json");
  setenv("XDG_CONFIG_HOME", "/xdg", 1);
  EXPECT_EQ(settings_path(), "/xdg/editclip/settings.json");
  setenv("XDG_CONFIG_HOME", "relative/is/ignored", 1);
  EXPECT_EQ(settings_path(), "/home/someone/.config/editclip/settings.json");
  setenv("EDITCLIP_SETTINGS", "/somewhere/my.json", 1);
  EXPECT_EQ(settings_path(), "/somewhere/my.json");
}

TEST(ModelSettings, MissingFileGivesDefaults) {
  CleanEnvironment env;
  TempDir tmp;
  setenv("EDITCLIP_SETTINGS", tmp.file("none.json").c_str(), 1);
  ModelSettings s = load_model_settings();
  EXPECT_EQ(s.editclip_dir, "");
  EXPECT_EQ(s.editor_dir, "");
  EXPECT_EQ(s.device, "auto");
  EXPECT_EQ(s.precision, "fp32");
  EXPECT_EQ(s.threads, 0);
  EXPECT_FALSE(fs::exists(tmp / "none.json"));  // reading never creates it
}

TEST(ModelSettings, RoundTripKeepsUnknownKeys) {
  CleanEnvironment env;
  TempDir tmp;
  const std::string path = (tmp / "sub/dir/settings.json").string();
  ModelSettings s;
  s.editclip_dir = "/models/EditCLIP";
  s.editor_dir = "/models/EditCLIP-IP2P";
  s.clip_baseline_dir = "/models/clip";
  s.lpips_dir = "/models/lpips";
  s.device = "cpu";
  s.precision = "fp16";
  s.threads = 3;
  save_model_settings(s, path);  // creates the folders
  ModelSettings r = read_model_settings_file(path);
  EXPECT_EQ(r.editclip_dir, s.editclip_dir);
  EXPECT_EQ(r.editor_dir, s.editor_dir);
  EXPECT_EQ(r.clip_baseline_dir, s.clip_baseline_dir);
  EXPECT_EQ(r.lpips_dir, s.lpips_dir);
  EXPECT_EQ(r.device, "cpu");
  EXPECT_EQ(r.precision, "fp16");
  EXPECT_EQ(r.threads, 3);
  EXPECT_EQ(model_settings_entries(r), model_settings_entries(s));
  // A key of a newer version (or a user's note) is ignored on read and kept on save.
  nlohmann::json j = nlohmann::json::parse(std::ifstream(path));
  j["comment"] = "my models";
  std::ofstream(path) << j.dump();
  r = read_model_settings_file(path);
  r.threads = 1;
  save_model_settings(r, path);
  j = nlohmann::json::parse(std::ifstream(path));
  EXPECT_EQ(j["comment"], "my models");
  EXPECT_EQ(j["threads"], 1);
  for (auto& e : fs::directory_iterator(tmp / "sub/dir"))
    EXPECT_EQ(e.path().filename(), "settings.json") << "temporary file left behind";
  // The default path is settings_path().
  setenv("EDITCLIP_SETTINGS", tmp.file("default.json").c_str(), 1);
  save_model_settings(s);
  EXPECT_EQ(load_model_settings().editor_dir, s.editor_dir);
}

TEST(ModelSettings, EnvironmentOverridesTheFile) {
  CleanEnvironment env;
  TempDir tmp;
  write(tmp / "s.json", R"({"editclip_dir": "/file/clip", "editor_dir": "/file/editor",
                             "device": "cpu", "threads": 2})");
  setenv("EDITCLIP_SETTINGS", tmp.file("s.json").c_str(), 1);
  setenv("EDITCLIP_EDITOR_DIR", "/env/editor", 1);
  setenv("EDITCLIP_THREADS", "5", 1);
  setenv("EDITCLIP_DEVICE", "", 1);  // empty: ignored
  ModelSettings s = load_model_settings();
  EXPECT_EQ(s.editclip_dir, "/file/clip");
  EXPECT_EQ(s.editor_dir, "/env/editor");
  EXPECT_EQ(s.device, "cpu");
  EXPECT_EQ(s.threads, 5);
  auto over = model_settings_env_overrides();
  EXPECT_EQ(over.size(), 2u);
  EXPECT_EQ(over["editor_dir"], "EDITCLIP_EDITOR_DIR");
  EXPECT_EQ(over["threads"], "EDITCLIP_THREADS");
  // The file alone is unaffected by the environment.
  EXPECT_EQ(read_model_settings_file(tmp.file("s.json")).editor_dir, "/file/editor");
  setenv("EDITCLIP_PRECISION", "fp8", 1);
  std::string e = error_of([] { load_model_settings(); });
  EXPECT_TRUE(contains(e, "EDITCLIP_PRECISION")) << e;
  EXPECT_TRUE(contains(e, "fp8")) << e;
}

TEST(ModelSettings, MalformedFilesNameTheFileAndKey) {
  CleanEnvironment env;
  TempDir tmp;
  const std::string path = tmp.file("s.json");
  setenv("EDITCLIP_SETTINGS", path.c_str(), 1);
  write(path, "{ \"editclip_dir\": ");
  std::string e = error_of([] { load_model_settings(); });
  EXPECT_TRUE(contains(e, path)) << e;
  EXPECT_TRUE(contains(e, "JSON")) << e;
  write(path, "[1, 2]");
  EXPECT_TRUE(contains(error_of([] { load_model_settings(); }), path));
  write(path, R"({"threads": "4"})");
  e = error_of([] { load_model_settings(); });
  EXPECT_TRUE(contains(e, path) && contains(e, "'threads'")) << e;
  write(path, R"({"editor_dir": 7})");
  e = error_of([] { load_model_settings(); });
  EXPECT_TRUE(contains(e, path) && contains(e, "'editor_dir'")) << e;
  write(path, R"({"device": "tpu"})");
  e = error_of([] { load_model_settings(); });
  EXPECT_TRUE(contains(e, path) && contains(e, "tpu") && contains(e, "cuda")) << e;
  write(path, R"({"threads": -1})");
  EXPECT_NE(error_of([] { load_model_settings(); }), "");
  // Unknown keys and nulls are fine.
  write(path, R"({"future_option": {"x": 1}, "lpips_dir": null, "device": "cuda"})");
  EXPECT_EQ(load_model_settings().device, "cuda");
}

TEST(ModelSettings, FolderPathsExpandHomeAndFileRelativePaths) {
  CleanEnvironment env;
  TempDir tmp;
  setenv("HOME", "/home/someone", 1);
  write(tmp / "conf/s.json", R"({"editclip_dir": "~/models/EditCLIP", "editor_dir": "ip2p"})");
  ModelSettings s = read_model_settings_file((tmp / "conf/s.json").string());
  EXPECT_EQ(s.editclip_dir, "/home/someone/models/EditCLIP");
  EXPECT_EQ(s.editor_dir, (tmp / "conf/ip2p").string());
}

TEST(ModelSettings, SetBySettingName) {
  ModelSettings s;
  set_model_setting(s, "editclip_dir", "/m/clip");
  set_model_setting(s, "device", "cuda");
  set_model_setting(s, "threads", "4");
  EXPECT_EQ(s.editclip_dir, "/m/clip");
  EXPECT_EQ(s.device, "cuda");
  EXPECT_EQ(s.threads, 4);
  set_model_setting(s, "editor_dir", "relative/dir");
  EXPECT_TRUE(fs::path(s.editor_dir).is_absolute()) << s.editor_dir;
  std::string e = error_of([&] { set_model_setting(s, "clip_dir", "/x"); });
  EXPECT_TRUE(contains(e, "clip_dir") && contains(e, "editclip_dir")) << e;
  EXPECT_NE(error_of([&] { set_model_setting(s, "threads", "many"); }), "");
  EXPECT_NE(error_of([&] { set_model_setting(s, "precision", "fp8"); }), "");
}

TEST(ModelSettings, DescribeMissingModels) {
  CleanEnvironment env;
  ModelSettings ok;
  ok.editclip_dir = (kFixtures / "models/editclip_a/clip").string();
  ok.editor_dir = (kFixtures / "models/ip2p_a").string();
  EXPECT_EQ(describe_missing_models(ok), "");

  const std::string none = describe_missing_models(ModelSettings{});
  for (const char* part :
       {"QWW/EditCLIP", "QWW/EditCLIP-IP2P", "timbrooks/instruct-pix2pix", "unet/", "vae/",
        "scheduler/", "image_proj_model.pt", "~/.local/share/editclip/models", "editclip_dir",
        "editor_dir", "EDITCLIP_CLIP_DIR", "EDITCLIP_EDITOR_DIR", "Filters > EditCLIP > Settings",
        "editclip inspect", "editclip config --set", "not set"})
    EXPECT_TRUE(contains(none, part)) << "missing '" << part << "' in:\n" << none;
  EXPECT_TRUE(contains(none, settings_path()));

  // An editor folder without vae/: named precisely; the complete EditCLIP folder is "ok".
  TempDir tmp;
  fs::path ip2p = tmp / "ip2p";
  fs::create_directories(ip2p);
  for (const char* part : {"unet", "scheduler", "image_proj_model.pt"})
    fs::create_symlink(kFixtures / "models/ip2p_a" / part, ip2p / part);
  ModelSettings no_vae = ok;
  no_vae.editor_dir = ip2p.string();
  std::string text = describe_missing_models(no_vae);
  EXPECT_TRUE(contains(text, (ip2p / "vae").string() + "/ is missing")) << text;
  EXPECT_TRUE(contains(text, "editclip_dir = " + ok.editclip_dir + "): ok")) << text;

  // A folder cloned without git-lfs holds pointer files, not weights.
  fs::path clip = tmp / "clip";
  fs::create_directories(clip);
  fs::copy_file(kFixtures / "models/editclip_a/clip/config.json", clip / "config.json");
  write(clip / "model.safetensors",
        "version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 1710000000\n");
  ModelSettings lfs = ok;
  lfs.editclip_dir = clip.string();
  text = describe_missing_models(lfs);
  EXPECT_TRUE(contains(text, "Git LFS pointer")) << text;

  ModelSettings missing = ok;
  missing.editclip_dir = "/no/such/folder";
  EXPECT_TRUE(contains(describe_missing_models(missing), "/no/such/folder is not a folder"));
}
