#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "engine/core/error.h"
#include "engine/io/safetensors_reader.h"
#include "engine/io/torch_checkpoint_reader.h"
#include "engine/io/weight_store.h"
#include "models/image_proj/image_proj.h"
#include "tests/test_support.h"

using namespace editclip;
namespace fs = std::filesystem;

namespace {

using editclip::test::contains;
using editclip::test::TempDir;

const fs::path kFixtures = EDITCLIP_TEST_FIXTURES;
const fs::path kBroken = fs::path(EDITCLIP_TEST_DATA) / "broken";

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string u64le(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

// Runs `fn`, which must throw editclip::Error; returns the message.
template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw a non-editclip exception: " << e.what();
    return {};
  }
  ADD_FAILURE() << "did not throw";
  return {};
}

// A string literal with embedded NUL bytes.
template <size_t N>
std::string lit(const char (&s)[N]) {
  return std::string(s, N - 1);
}

void expect_same_tensors(const std::map<std::string, at::Tensor>& a,
                         const std::map<std::string, at::Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (auto& [name, t] : a) {
    ASSERT_TRUE(b.count(name)) << name;
    const at::Tensor& u = b.at(name);
    EXPECT_EQ(t.scalar_type(), u.scalar_type()) << name;
    EXPECT_EQ(t.sizes(), u.sizes()) << name;
    EXPECT_TRUE(at::equal(t, u)) << name;
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Writing and reading back.

TEST(Safetensors, RoundTripsEveryDtype) {
  TempDir dir;
  std::vector<std::pair<std::string, at::Tensor>> tensors = {
      {"f64", at::randn({3, 5}, at::kDouble)},
      {"f32", at::randn({2, 3, 4})},
      {"f16", at::randn({7}).to(at::kHalf)},
      {"bf16", at::randn({2, 2}).to(at::kBFloat16)},
      {"i64", at::arange(-5, 7, at::kLong).reshape({3, 4})},
      {"i32", at::arange(-3, 3, at::kInt)},
      {"i16", at::arange(-300, 300, 7, at::kShort)},
      {"i8", at::arange(-128, 128, at::kChar)},
      {"u8", at::arange(0, 256, at::kByte)},
      {"bool", at::rand({9}) > 0.5},
      {"scalar", at::scalar_tensor(3.5)},
      {"empty", at::empty({0, 4})},
  };
  const std::map<std::string, std::string> meta = {{"format", "pt"}, {"note", "round trip"}};
  const std::string path = dir.file("all.safetensors");
  write_safetensors(path, tensors, meta);
  EXPECT_FALSE(fs::exists(path + ".tmp"));

  SafetensorsReader reader(path);
  EXPECT_EQ(reader.metadata(), meta);
  EXPECT_EQ(reader.names().size(), tensors.size());
  const std::map<std::string, std::string> dtype_names = {
      {"f64", "F64"}, {"f32", "F32"},   {"f16", "F16"},    {"bf16", "BF16"},
      {"i64", "I64"}, {"i32", "I32"},   {"i16", "I16"},    {"i8", "I8"},
      {"u8", "U8"},   {"bool", "BOOL"}, {"scalar", "F32"}, {"empty", "F32"}};
  uint64_t previous_end = 0;
  for (auto& [name, t] : tensors) {
    const auto& e = reader.entry(name);
    EXPECT_EQ(e.dtype, dtype_names.at(name)) << name;
    EXPECT_EQ(e.scalar_type, t.scalar_type()) << name;
    EXPECT_EQ(e.begin, previous_end) << name << ": data must follow the given order";
    previous_end = e.end;
    at::Tensor back = reader.tensor(name);
    EXPECT_EQ(back.sizes(), t.sizes()) << name;
    EXPECT_TRUE(at::equal(back, t)) << name;
  }
  // The data section starts 8-byte aligned.
  const std::string bytes = read_bytes(path);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<uint8_t>(bytes[i]);
  EXPECT_EQ(header_len % 8, 0u);
  EXPECT_EQ(bytes.size(), 8 + header_len + previous_end);
}

TEST(Safetensors, WritesNonContiguousTensorsAndMapOverload) {
  TempDir dir;
  at::Tensor base = at::arange(12, at::kFloat).reshape({3, 4});
  const std::string path = dir.file("map.safetensors");
  write_safetensors(path, std::map<std::string, at::Tensor>{{"t", base.t()}, {"s", base[1]}});
  SafetensorsReader reader(path);
  EXPECT_TRUE(at::equal(reader.tensor("t"), base.t().contiguous()));
  EXPECT_TRUE(at::equal(reader.tensor("s"), base[1]));
  EXPECT_TRUE(reader.metadata().empty());
}

TEST(Safetensors, RefusesToWriteBadInput) {
  TempDir dir;
  const std::string path = dir.file("bad.safetensors");
  auto msg = error_of([&] {
    write_safetensors(path, {{"x", at::ones({2})}, {"x", at::ones({2})}});
  });
  EXPECT_TRUE(contains(msg, "'x'")) << msg;
  msg = error_of([&] { write_safetensors(path, {{"c", at::ones({2}, at::kComplexFloat)}}); });
  EXPECT_TRUE(contains(msg, path) && contains(msg, "'c'")) << msg;
  EXPECT_FALSE(fs::exists(path));
}

TEST(Safetensors, AlignedF32IsAZeroCopyViewOfTheMapping) {
  TempDir dir;
  const std::string path = dir.file("view.safetensors");
  write_safetensors(path, {{"a", at::randn({5, 3})}, {"b", at::randn({16})}});
  at::Tensor a, b, a_again;
  {
    SafetensorsReader reader(path);
    a = reader.tensor("a");
    b = reader.tensor("b");
    a_again = reader.tensor("a");
    // Two reads share memory, and tensors sit at their file offsets from each other: both are
    // views of one mapping, not copies.
    EXPECT_EQ(a.data_ptr(), a_again.data_ptr());
    const auto* pa = static_cast<const uint8_t*>(a.data_ptr());
    const auto* pb = static_cast<const uint8_t*>(b.data_ptr());
    EXPECT_EQ(static_cast<uint64_t>(pb - pa), reader.entry("b").begin - reader.entry("a").begin);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(pa) % 4, 0u);
  }
  // The mapping outlives the reader while tensors use it.
  SafetensorsReader again(path);
  EXPECT_TRUE(at::equal(a, again.tensor("a")));
  EXPECT_TRUE(at::equal(b, again.tensor("b")));
}

TEST(Safetensors, MisalignedDataIsCopiedCorrectly) {
  TempDir dir;
  // Header of 9 bytes ("{ ... }" padded to odd length) puts F32 data at file offset 17.
  const std::string header =
      R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"__metadata__":{"k":"v"}} )";
  ASSERT_NE((8 + header.size()) % 4, 0u);
  std::string bytes = u64le(header.size()) + header;
  const float values[3] = {1.5f, -2.25f, 1e-3f};
  bytes.append(reinterpret_cast<const char*>(values), sizeof(values));
  const std::string path = dir.file("odd.safetensors");
  write_bytes(path, bytes);
  SafetensorsReader reader(path);
  at::Tensor x = reader.tensor("x");
  EXPECT_EQ(reinterpret_cast<uintptr_t>(x.data_ptr()) % 4, 0u);
  EXPECT_TRUE(at::equal(x, at::tensor({1.5f, -2.25f, 1e-3f})));
  EXPECT_EQ(reader.metadata().at("k"), "v");
}

TEST(Safetensors, InPlaceUpdatesNeverReachTheFile) {
  TempDir dir;
  const std::string path = dir.file("cow.safetensors");
  at::Tensor original = at::randn({64, 64});
  write_safetensors(path, {{"w", original}});
  const std::string before = read_bytes(path);
  {
    SafetensorsReader reader(path);
    at::Tensor w = reader.tensor("w");
    w.add_(1.0);
    EXPECT_TRUE(at::allclose(w, original + 1.0));
    // A second reader maps the file again and must see the original bytes.
    SafetensorsReader other(path);
    EXPECT_TRUE(at::equal(other.tensor("w"), original));
  }
  EXPECT_EQ(read_bytes(path), before);
}

TEST(Safetensors, UnknownTensorNameIsAnError) {
  TempDir dir;
  const std::string path = dir.file("one.safetensors");
  write_safetensors(path, {{"w", at::ones({1})}});
  SafetensorsReader reader(path);
  auto msg = error_of([&] { reader.tensor("nope"); });
  EXPECT_TRUE(contains(msg, path) && contains(msg, "'nope'")) << msg;
}

// ---------------------------------------------------------------------------------------------
// Broken files: every refusal names the file (and the tensor where there is one).

struct BrokenCase {
  const char* file;
  const char* tensor;  // expected in the message, or nullptr
  const char* words;   // a word the explanation must contain
};

class BrokenSafetensors : public ::testing::TestWithParam<BrokenCase> {};

TEST_P(BrokenSafetensors, ThrowsErrorNamingFileAndTensor) {
  const BrokenCase& bc = GetParam();
  const std::string path = (kBroken / bc.file).string();
  ASSERT_TRUE(fs::exists(path)) << path;
  const std::string msg = error_of([&] { SafetensorsReader reader(path); });
  EXPECT_TRUE(contains(msg, path)) << msg;
  if (bc.tensor) {
    EXPECT_TRUE(contains(msg, concat("tensor '", bc.tensor, "'"))) << msg;
  }
  EXPECT_TRUE(contains(msg, bc.words)) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << "one-line messages: " << msg;
}

INSTANTIATE_TEST_SUITE_P(
    BrokenFiles, BrokenSafetensors,
    ::testing::Values(BrokenCase{"truncated.safetensors", "weight", "truncated"},
                      BrokenCase{"bad_header_len.safetensors", nullptr, "header length"},
                      BrokenCase{"bad_json.safetensors", nullptr, "JSON"},
                      BrokenCase{"bad_dtype.safetensors", "weight", "Q7"},
                      BrokenCase{"overlap.safetensors", "b", "overlaps"},
                      BrokenCase{"shape_mismatch.safetensors", "weight", "bytes"},
                      BrokenCase{"empty.safetensors", nullptr, "empty"},
                      BrokenCase{"gap_start.safetensors", "weight", "unused"},
                      BrokenCase{"gap_between.safetensors", "b", "unused bytes between"},
                      BrokenCase{"trailing.safetensors", nullptr, "trailing bytes"},
                      BrokenCase{"duplicate.safetensors", "weight", "twice"},
                      BrokenCase{"not_an_image.png", nullptr, "header length"}),
    [](const ::testing::TestParamInfo<BrokenCase>& info) {
      std::string name = info.param.file;
      for (auto& ch : name)
        if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return name;
    });

TEST(Safetensors, MissingFileSaysSo) {
  const std::string path = (kBroken / "does_not_exist.safetensors").string();
  const std::string msg = error_of([&] { SafetensorsReader reader(path); });
  EXPECT_EQ(msg, path + ": no such file");
}

TEST(Safetensors, HeaderEdgeCasesAreRefused) {
  TempDir dir;
  const std::string path = dir.file("edge.safetensors");
  auto refuse = [&](const std::string& header, uint64_t ndata, const std::string& word) {
    write_bytes(path, u64le(header.size()) + header + std::string(ndata, '\1'));
    const std::string msg = error_of([&] { SafetensorsReader reader(path); });
    EXPECT_TRUE(contains(msg, path) && contains(msg, word)) << header << " -> " << msg;
  };
  refuse(R"([1, 2])", 0, "not a JSON object");
  refuse(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4, "'w'");
  refuse(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8, "'w'");
  refuse(R"({"w":{"shape":[2],"data_offsets":[0,8]}})", 8, "'dtype'");
  refuse(R"({"w":{"dtype":"F32","data_offsets":[0,8]}})", 8, "'shape'");
  refuse(R"({"w":{"dtype":"F32","shape":[2]}})", 8, "'data_offsets'");
  refuse(R"({"__metadata__":{"a":1}})", 0, "__metadata__");
  // A shape whose byte count overflows 64 bits.
  refuse(R"({"w":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", 0, "'w'");
  write_bytes(path, std::string(5, '\0'));
  EXPECT_TRUE(contains(error_of([&] { SafetensorsReader reader(path); }), "too small"));
}

// HF's reader: offsets contiguous from 0, the last end equal to the data size, unique names.
TEST(Safetensors, DataMustTileTheDataSectionExactly) {
  TempDir dir;
  const std::string path = dir.file("tile.safetensors");
  auto error_for = [&](const std::string& header, uint64_t ndata) {
    write_bytes(path, u64le(header.size()) + header + std::string(ndata, '\1'));
    return error_of([&] { SafetensorsReader reader(path); });
  };
  auto accepts = [&](const std::string& header, uint64_t ndata) {
    write_bytes(path, u64le(header.size()) + header + std::string(ndata, '\1'));
    try {
      SafetensorsReader reader(path);
      return true;
    } catch (const Error& e) {
      ADD_FAILURE() << header << " -> " << e.what();
      return false;
    }
  };
  const std::string a = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  const std::string b = R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]})";
  EXPECT_TRUE(accepts("{" + a + "," + b + "}", 16));
  EXPECT_TRUE(accepts("{" + b + "," + a + "}", 16)) << "header order does not matter";
  // Zero-size tensors take no bytes, wherever their [x, x] lies inside the data.
  const std::string z = R"("z":{"dtype":"F32","shape":[0,3],"data_offsets":[8,8]})";
  const std::string z0 = R"("z0":{"dtype":"I64","shape":[0],"data_offsets":[16,16]})";
  EXPECT_TRUE(accepts("{" + a + "," + z + "," + b + "," + z0 + "}", 16));
  EXPECT_TRUE(contains(error_for("{" + z + "}", 8), "no tensor data but 8 bytes"));
  EXPECT_TRUE(accepts(R"({"z":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}})", 0));
  EXPECT_TRUE(accepts("{}", 0));

  std::string msg = error_for(R"({"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", 16);
  EXPECT_TRUE(contains(msg, path) && contains(msg, "tensor 'b'") &&
              contains(msg, "bytes [0, 8) of the data section unused"))
      << msg;
  msg = error_for("{" + a + R"(,"c":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})", 20);
  EXPECT_TRUE(contains(msg, "tensor 'c'") && contains(msg, "tensor 'a' ends at byte 8") &&
              contains(msg, "4 unused bytes"))
      << msg;
  msg = error_for("{" + a + "}", 11);
  EXPECT_TRUE(contains(msg, path) && contains(msg, "3 trailing bytes") && contains(msg, "'a'"))
      << msg;
  msg = error_for("{}", 4);
  EXPECT_TRUE(contains(msg, "no tensor data but 4 bytes")) << msg;
  msg = error_for("{" + a + "," + R"("a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]})" + "}",
                  16);
  EXPECT_TRUE(contains(msg, path) && contains(msg, "tensor 'a'") && contains(msg, "twice")) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
}

// Everything our writer produces passes the stricter reader, zero-size tensors included.
TEST(Safetensors, WriterOutputIsContiguous) {
  TempDir dir;
  const std::string path = dir.file("w.safetensors");
  write_safetensors(path,
                    {{"empty_first", at::empty({0, 4})},
                     {"x", at::randn({3, 5})},
                     {"h", at::ones({7}, at::kHalf)},
                     {"empty_mid", at::empty({2, 0}, at::kLong)},
                     {"b", at::ones({3}, at::kBool)},
                     {"empty_last", at::empty({0})}},
                    {{"k", "v"}});
  SafetensorsReader reader(path);
  EXPECT_EQ(reader.names().size(), 6u);
  EXPECT_EQ(reader.tensor("empty_mid").sizes(), at::IntArrayRef({2, 0}));
}

// ---------------------------------------------------------------------------------------------
// PyTorch checkpoints.

TEST(TorchCheckpoint, ZipStateDictMatchesSafetensorsTwin) {
  const fs::path dir = kFixtures / "models" / "ip2p_a";
  auto from_pt = read_torch_checkpoint((dir / "image_proj_model.pt").string());
  auto from_st = SafetensorsReader((dir / "image_proj_model.safetensors").string()).tensors();
  std::vector<std::string> names;
  for (auto& kv : from_pt) names.push_back(kv.first);
  EXPECT_EQ(names,
            (std::vector<std::string>{"norm.bias", "norm.weight", "proj.bias", "proj.weight"}));
  expect_same_tensors(from_pt, from_st);
  for (auto& [name, t] : from_pt) EXPECT_TRUE(t.is_contiguous()) << name;
}

TEST(TorchCheckpoint, LegacyLpipsPicklesMatchSafetensorsTwins) {
  const fs::path dir = kFixtures / "models" / "lpips_a";
  for (const char* net : {"vgg", "alex"}) {
    const fs::path pth = dir / concat("lin_", net, "_v0.1.pth");
    if (!fs::exists(pth)) continue;  // the public fixture set only
    auto from_pth = read_torch_checkpoint(pth.string());
    auto from_st =
        SafetensorsReader((dir / concat("lin_", net, "_v0.1.safetensors")).string()).tensors();
    ASSERT_EQ(from_pth.size(), 5u) << net;
    for (int k = 0; k < 5; ++k)
      EXPECT_TRUE(from_pth.count(concat("lin", k, ".model.1.weight"))) << net << " lin" << k;
    expect_same_tensors(from_pth, from_st);
  }
}

TEST(TorchCheckpoint, WeightStoreLoadsTorchCheckpoints) {
  WeightStore store("ip2p");
  store.add_torch_checkpoint((kFixtures / "models" / "ip2p_a" / "image_proj_model.pt").string());
  EXPECT_EQ(store.names().size(), 4u);
  EXPECT_EQ(store.stored_shape("proj.weight"), (std::vector<int64_t>{32, 64}));
  EXPECT_FALSE(store.stored_shape("missing").has_value());
}

TEST(TorchCheckpoint, BadFilesThrowErrorsNamingTheFile) {
  TempDir dir;
  const std::string missing = dir.file("missing.pt");
  EXPECT_EQ(error_of([&] { read_torch_checkpoint(missing); }), missing + ": no such file");

  const std::string text = (kBroken / "not_an_image.png").string();
  EXPECT_TRUE(contains(error_of([&] { read_torch_checkpoint(text); }), text));

  const std::string empty = (kBroken / "empty.safetensors").string();
  EXPECT_TRUE(contains(error_of([&] { read_torch_checkpoint(empty); }), empty));

  // Cut archives and cut legacy pickles at several places.
  const std::string pt =
      read_bytes((kFixtures / "models" / "ip2p_a" / "image_proj_model.pt").string());
  const std::string cut = dir.file("cut.pt");
  for (size_t len : {size_t{10}, size_t{600}, pt.size() / 2, pt.size() - 30}) {
    write_bytes(cut, pt.substr(0, len));
    EXPECT_TRUE(contains(error_of([&] { read_torch_checkpoint(cut); }), cut)) << len;
  }
  const fs::path pth = kFixtures / "models" / "lpips_a" / "lin_vgg_v0.1.pth";
  if (fs::exists(pth)) {
    const std::string legacy = read_bytes(pth.string());
    for (size_t len : {size_t{30}, size_t{500}, size_t{1300}, legacy.size() - 1}) {
      write_bytes(cut, legacy.substr(0, len));
      EXPECT_TRUE(contains(error_of([&] { read_torch_checkpoint(cut); }), cut)) << len;
    }
  }
}

TEST(TorchCheckpoint, RefusesObjectsOtherThanStateDicts) {
  TempDir dir;
  const std::string path = dir.file("evil.pkl");
  // Legacy header pickles, then a pickle calling os.system.
  const std::string bytes = lit("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.") +
                            lit("\x80\x02M\xe9\x03.") + lit("\x80\x02}.") +
                            lit("\x80\x02"
                                "cos\nsystem\nX\x02\x00\x00\x00"
                                "lsR.");
  write_bytes(path, bytes);
  const std::string msg = error_of([&] { read_torch_checkpoint(path); });
  EXPECT_TRUE(contains(msg, path) && contains(msg, "os.system")) << msg;
}

// ---------------------------------------------------------------------------------------------
// ImageProj loads both release formats identically.

TEST(ImageProj, LoadsPtAndSafetensorsAndFolder) {
  const fs::path dir = kFixtures / "models" / "ip2p_a";
  ImageProj from_pt = ImageProj::load((dir / "image_proj_model.pt").string(), 64, 32);
  ImageProj from_st = ImageProj::load((dir / "image_proj_model.safetensors").string(), 64, 32);
  ImageProj from_dir = ImageProj::load(dir.string(), 64, 32);
  EXPECT_EQ(from_pt.extra_tokens(), 1);
  at::Tensor x = at::randn({2, 5, 64});
  at::Tensor y = from_pt(x);
  EXPECT_EQ(y.sizes(), at::IntArrayRef({2, 5, 32}));
  EXPECT_TRUE(at::equal(y, from_st(x)));
  EXPECT_TRUE(at::equal(y, from_dir(x)));
  EXPECT_TRUE(at::allclose(from_pt(x[1]), y.slice(0, 1, 2), 1e-5, 1e-6));
  EXPECT_THROW(from_pt(at::randn({2, 5, 63})), Error);
  // A UNet width the rows do not divide.
  EXPECT_THROW(ImageProj::load((dir / "image_proj_model.pt").string(), 64, 24), Error);
}

TEST(ImageProj, InfersExtraTokensAndBuildsInCheckAndRandomModes) {
  WeightStore store("synthetic");
  store.add("proj.weight", at::randn({3 * 8, 16}));
  store.add("proj.bias", at::randn({3 * 8}));
  store.add("norm.weight", at::ones({8}));
  store.add("norm.bias", at::zeros({8}));
  ImageProj m(store, 16, 8);
  store.require_all_used();
  EXPECT_EQ(m.extra_tokens(), 3);
  EXPECT_EQ(m(at::randn({2, 4, 16})).sizes(), at::IntArrayRef({2, 12, 8}));

  WeightStore check("empty", WeightStore::Mode::Check);
  ImageProj c(check, 16, 8);
  EXPECT_EQ(c.extra_tokens(), 1);
  EXPECT_EQ(check.problems().size(), 4u);

  WeightStore random("random", WeightStore::Mode::Random);
  ImageProj r(random, 16, 8);
  EXPECT_EQ(r(at::randn({4, 16})).sizes(), at::IntArrayRef({1, 4, 8}));
}
