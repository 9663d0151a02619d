#include "engine/io/torch_checkpoint_writer.h"

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>

#include "engine/core/crc32.h"
#include "engine/core/error.h"

namespace fs = std::filesystem;

namespace editclip {

namespace {

const char* storage_class(at::ScalarType t) {
  switch (t) {
    case at::kFloat:
      return "FloatStorage";
    case at::kDouble:
      return "DoubleStorage";
    case at::kHalf:
      return "HalfStorage";
    case at::kBFloat16:
      return "BFloat16Storage";
    case at::kLong:
      return "LongStorage";
    case at::kInt:
      return "IntStorage";
    case at::kShort:
      return "ShortStorage";
    case at::kChar:
      return "CharStorage";
    case at::kByte:
      return "ByteStorage";
    case at::kBool:
      return "BoolStorage";
    default:
      return nullptr;
  }
}

// Pickle protocol 2, only the opcodes a state dict needs (no memo: every object is used once).
class Pickler {
 public:
  void proto() { out_ += "\x80\x02"; }
  void global(const std::string& module, const std::string& name) {
    out_ += 'c';
    out_ += module + "\n" + name + "\n";
  }
  void mark() { out_ += '('; }
  void tuple() { out_ += 't'; }
  void empty_tuple() { out_ += ')'; }
  void reduce() { out_ += 'R'; }
  void setitems() { out_ += 'u'; }
  void binpersid() { out_ += 'Q'; }
  void boolean(bool v) { out_ += v ? '\x88' : '\x89'; }
  void stop() { out_ += '.'; }
  void str(const std::string& s) {
    out_ += 'X';
    u32(static_cast<uint32_t>(s.size()));
    out_ += s;
  }
  void integer(int64_t v) {
    if (v >= 0 && v < 256) {
      out_ += 'K';
      out_ += static_cast<char>(v);
    } else if (v >= std::numeric_limits<int32_t>::min() &&
               v <= std::numeric_limits<int32_t>::max()) {
      out_ += 'J';
      u32(static_cast<uint32_t>(static_cast<int32_t>(v)));
    } else {  // LONG1: 8 little-endian two's-complement bytes
      out_ += '\x8a';
      out_ += '\x08';
      for (int i = 0; i < 8; ++i)
        out_ += static_cast<char>((static_cast<uint64_t>(v) >> (8 * i)) & 0xFF);
    }
  }
  void int_tuple(at::IntArrayRef v) {
    if (v.empty()) return empty_tuple();
    mark();
    for (int64_t x : v) integer(x);
    tuple();
  }
  const std::string& bytes() const { return out_; }

 private:
  void u32(uint32_t v) {
    for (int i = 0; i < 4; ++i) out_ += static_cast<char>((v >> (8 * i)) & 0xFF);
  }
  std::string out_;
};

class ZipWriter {
 public:
  explicit ZipWriter(std::ofstream& out, std::string path) : out_(out), path_(std::move(path)) {}

  void add(const std::string& name, const std::string& data) {
    if (offset_ + data.size() + 1024 > 0xFFFFFFF0ull)
      throw_error(path_, ": the checkpoint would exceed 4 GiB; write safetensors instead");
    Entry e{name, crc32(data.data(), data.size()), static_cast<uint32_t>(data.size()),
            static_cast<uint32_t>(offset_)};
    // Pad the local header's extra field so the data starts on a 64-byte boundary, as PyTorch's
    // writer does (readers may then map tensors in place).
    const uint64_t header_end = offset_ + 30 + name.size() + 4;
    const uint64_t pad = (64 - header_end % 64) % 64;
    std::string h;
    le(h, 0x04034b50, 4);
    le(h, 20, 2);    // version needed
    le(h, 0, 2);     // flags
    le(h, 0, 2);     // stored
    le(h, 0, 2);     // time
    le(h, 0x21, 2);  // date 1980-01-01
    le(h, e.crc, 4);
    le(h, e.size, 4);
    le(h, e.size, 4);
    le(h, name.size(), 2);
    le(h, 4 + pad, 2);
    h += name;
    le(h, 0x4246, 2);  // "FB": PyTorch's padding field
    le(h, pad, 2);
    h.append(pad, 'Z');
    write(h);
    write(data);
    entries_.push_back(e);
  }

  void finish() {
    const uint64_t cd_offset = offset_;
    std::string cd;
    for (const auto& e : entries_) {
      le(cd, 0x02014b50, 4);
      le(cd, 20, 2);  // made by
      le(cd, 20, 2);  // needed
      le(cd, 0, 2);
      le(cd, 0, 2);
      le(cd, 0, 2);
      le(cd, 0x21, 2);
      le(cd, e.crc, 4);
      le(cd, e.size, 4);
      le(cd, e.size, 4);
      le(cd, e.name.size(), 2);
      le(cd, 0, 2);  // extra
      le(cd, 0, 2);  // comment
      le(cd, 0, 2);  // disk
      le(cd, 0, 2);  // internal attributes
      le(cd, 0, 4);  // external attributes
      le(cd, e.offset, 4);
      cd += e.name;
    }
    write(cd);
    std::string end;
    le(end, 0x06054b50, 4);
    le(end, 0, 2);
    le(end, 0, 2);
    le(end, entries_.size(), 2);
    le(end, entries_.size(), 2);
    le(end, cd.size(), 4);
    le(end, cd_offset, 4);
    le(end, 0, 2);
    write(end);
  }

 private:
  struct Entry {
    std::string name;
    uint32_t crc, size, offset;
  };
  static void le(std::string& s, uint64_t v, int n) {
    for (int i = 0; i < n; ++i) s += static_cast<char>((v >> (8 * i)) & 0xFF);
  }
  void write(const std::string& s) {
    out_.write(s.data(), static_cast<std::streamsize>(s.size()));
    offset_ += s.size();
  }
  std::ofstream& out_;
  std::string path_;
  uint64_t offset_ = 0;
  std::vector<Entry> entries_;
};

}  // namespace

void write_torch_checkpoint(const std::string& path,
                            const std::vector<std::pair<std::string, at::Tensor>>& tensors) {
  std::string stem = fs::path(path).stem().string();
  if (stem.empty()) stem = "archive";

  Pickler p;
  std::vector<std::string> storages;
  p.proto();
  p.global("collections", "OrderedDict");
  p.empty_tuple();
  p.reduce();
  p.mark();
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& [name, tensor] = tensors[i];
    const char* cls = storage_class(tensor.scalar_type());
    if (!cls)
      throw_error(path, ": tensor '", name, "' has dtype ", c10::toString(tensor.scalar_type()),
                  ", which this writer does not store");
    at::Tensor t = tensor.detach().to(at::kCPU).contiguous();
    p.str(name);
    p.global("torch._utils", "_rebuild_tensor_v2");
    p.mark();
    {  // persistent id ('storage', torch.<Type>Storage, key, 'cpu', numel)
      p.mark();
      p.str("storage");
      p.global("torch", cls);
      p.str(std::to_string(i));
      p.str("cpu");
      p.integer(t.numel());
      p.tuple();
      p.binpersid();
    }
    p.integer(0);  // storage offset
    p.int_tuple(t.sizes());
    p.int_tuple(t.strides());
    p.boolean(false);                        // requires_grad
    p.global("collections", "OrderedDict");  // backward hooks
    p.empty_tuple();
    p.reduce();
    p.tuple();
    p.reduce();
    storages.emplace_back(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size());
  }
  p.setitems();
  p.stop();

  const fs::path target(path);
  const fs::path tmp = target.parent_path() / (target.filename().string() + ".tmp");
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw_error(path, ": cannot write (check the folder exists and is writable)");
    ZipWriter zip(out, path);
    zip.add(stem + "/data.pkl", p.bytes());
    zip.add(stem + "/byteorder", "little");
    for (size_t i = 0; i < storages.size(); ++i)
      zip.add(stem + "/data/" + std::to_string(i), storages[i]);
    zip.add(stem + "/version", "3\n");
    zip.finish();
    out.flush();
    if (!out) {
      std::error_code ec;
      fs::remove(tmp, ec);
      throw_error(path, ": write failed (disk full?)");
    }
  }
  fs::rename(tmp, target);
}

}  // namespace editclip
