// Two container layouts exist for torch.save output:
//  - zip (torch >= 1.6 default): <archive>/data.pkl holds the pickle, <archive>/data/<key> the
//    raw bytes of each storage, all entries stored uncompressed;
//  - legacy (older torch, e.g. the LPIPS v0.1 weights): a sequence of pickles (magic number,
//    protocol version, system info, the object, the list of storage keys) followed by each
//    storage as an int64 element count and its raw bytes.
// Both pickle the state dict with the same small vocabulary; the interpreter below accepts only
// that vocabulary and never imports anything, so a hostile file cannot run code.
#include "engine/io/torch_checkpoint_reader.h"

#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <unordered_map>
#include <vector>

#include "engine/core/error.h"
#include "engine/io/mapped_file.h"

namespace editclip {

namespace {

const char* const kUnsupportedHint =
    " (only plain state dicts of tensors saved with torch.save are supported; convert the file "
    "to .safetensors)";
const char* const kCorrupt = " (the file is truncated or corrupt; download it again)";

// ------------------------------------------------------------------------------------------------
// Python objects the state-dict pickles are made of.

struct PyObj;
using Obj = std::shared_ptr<PyObj>;

struct PyObj {
  enum class Kind {
    None,
    Bool,
    Int,
    BigInt,
    Float,
    Str,
    Tuple,
    List,
    Dict,
    Global,
    Storage,
    Tensor
  };
  Kind kind = Kind::None;
  int64_t i = 0;
  double f = 0;
  std::string s;           // Str; BigInt (little-endian two's complement bytes); Global module
  std::string name;        // Global name
  std::vector<Obj> items;  // Tuple, List
  std::vector<std::pair<Obj, Obj>> dict;
  // Storage (from a persistent id).
  std::string key;
  at::ScalarType dtype = at::kFloat;
  int64_t numel = 0;        // elements in the storage (or in the view of a legacy view storage)
  int64_t base_offset = 0;  // legacy view storages: element offset inside the root storage
  // Tensor (from _rebuild_tensor*).
  Obj storage;
  int64_t storage_offset = 0;
  std::vector<int64_t> size, stride;
};

Obj make(PyObj::Kind kind) {
  auto o = std::make_shared<PyObj>();
  o->kind = kind;
  return o;
}

const char* kind_name(PyObj::Kind k) {
  switch (k) {
    case PyObj::Kind::None:
      return "None";
    case PyObj::Kind::Bool:
      return "bool";
    case PyObj::Kind::Int:
      return "int";
    case PyObj::Kind::BigInt:
      return "int";
    case PyObj::Kind::Float:
      return "float";
    case PyObj::Kind::Str:
      return "str";
    case PyObj::Kind::Tuple:
      return "tuple";
    case PyObj::Kind::List:
      return "list";
    case PyObj::Kind::Dict:
      return "dict";
    case PyObj::Kind::Global:
      return "class/function";
    case PyObj::Kind::Storage:
      return "storage";
    case PyObj::Kind::Tensor:
      return "tensor";
  }
  return "object";
}

struct StorageType {
  const char* name;
  at::ScalarType type;
};
const StorageType kStorageTypes[] = {
    {"FloatStorage", at::kFloat},       {"DoubleStorage", at::kDouble}, {"HalfStorage", at::kHalf},
    {"BFloat16Storage", at::kBFloat16}, {"LongStorage", at::kLong},     {"IntStorage", at::kInt},
    {"ShortStorage", at::kShort},       {"CharStorage", at::kChar},     {"ByteStorage", at::kByte},
    {"BoolStorage", at::kBool},
};

bool storage_type(const std::string& module, const std::string& name, at::ScalarType& out) {
  if (module != "torch") return false;
  for (auto& st : kStorageTypes)
    if (name == st.name) {
      out = st.type;
      return true;
    }
  return false;
}

bool allowed_function(const std::string& module, const std::string& name) {
  if (module == "collections" && name == "OrderedDict") return true;
  if (module == "torch._utils" &&
      (name == "_rebuild_tensor_v2" || name == "_rebuild_tensor" || name == "_rebuild_parameter"))
    return true;
  return false;
}

// ------------------------------------------------------------------------------------------------
// The pickle interpreter.

using PersistentLoad = std::function<Obj(const Obj& pid)>;

class Unpickler {
 public:
  Unpickler(std::string where, const uint8_t* data, size_t size, PersistentLoad persistent_load)
      : where_(std::move(where)),
        p_(data),
        end_(data + size),
        begin_(data),
        persistent_load_(std::move(persistent_load)) {}

  size_t consumed() const { return static_cast<size_t>(p_ - begin_); }

  Obj load() {
    stack_.clear();
    marks_.clear();
    memo_.clear();
    for (;;) {
      op_pos_ = consumed();
      const uint8_t op = u8();
      switch (op) {
        case 0x80:
          u8();
          break;  // PROTO
        case 0x95:
          u64();
          break;     // FRAME: framing is only a read-ahead hint
        case '.': {  // STOP
          if (stack_.size() != 1 || !marks_.empty()) fail("ends with an unbalanced stack");
          return pop();
        }
        case '(':
          marks_.push_back(stack_.size());
          break;  // MARK
        case '0':
          pop();
          break;  // POP
        case '1':
          pop_mark();
          break;  // POP_MARK
        case 'N':
          push(make(PyObj::Kind::None));
          break;
        case 0x88:
          push_bool(true);
          break;  // NEWTRUE
        case 0x89:
          push_bool(false);
          break;  // NEWFALSE
        case 'J':
          push_int(static_cast<int32_t>(u32()));
          break;  // BININT
        case 'K':
          push_int(u8());
          break;  // BININT1
        case 'M':
          push_int(u16());
          break;  // BININT2
        case 0x8a:
          push_long(u8());
          break;     // LONG1
        case 'G': {  // BINFLOAT (big-endian)
          uint64_t bits = 0;
          for (int i = 0; i < 8; ++i) bits = (bits << 8) | u8();
          auto o = make(PyObj::Kind::Float);
          std::memcpy(&o->f, &bits, 8);
          push(o);
          break;
        }
        case 'X':
          push_str(u32());
          break;  // BINUNICODE
        case 0x8c:
          push_str(u8());
          break;  // SHORT_BINUNICODE
        case 0x8d:
          push_str(u64());
          break;  // BINUNICODE8
        case 'T':
          push_str(u32());
          break;  // BINSTRING (Python 2 str; names are ASCII)
        case 'U':
          push_str(u8());
          break;  // SHORT_BINSTRING
        case 'q':
          memo_[u8()] = top();
          break;  // BINPUT
        case 'r':
          memo_[u32()] = top();
          break;  // LONG_BINPUT
        case 0x94:
          memo_[static_cast<uint32_t>(memo_.size())] = top();
          break;  // MEMOIZE
        case 'h':
          push(get_memo(u8()));
          break;  // BINGET
        case 'j':
          push(get_memo(u32()));
          break;  // LONG_BINGET
        case ')':
          push(make(PyObj::Kind::Tuple));
          break;  // EMPTY_TUPLE
        case ']':
          push(make(PyObj::Kind::List));
          break;  // EMPTY_LIST
        case '}':
          push(make(PyObj::Kind::Dict));
          break;     // EMPTY_DICT
        case 't': {  // TUPLE
          auto o = make(PyObj::Kind::Tuple);
          o->items = pop_mark();
          push(o);
          break;
        }
        case 0x85:
        case 0x86:
        case 0x87: {  // TUPLE1..3
          const size_t n = op - 0x84;
          if (stack_.size() < n + stack_floor()) fail("tuple of missing items");
          auto o = make(PyObj::Kind::Tuple);
          o->items.assign(stack_.end() - n, stack_.end());
          stack_.resize(stack_.size() - n);
          push(o);
          break;
        }
        case 'a': {  // APPEND
          Obj v = pop();
          append(top(), {v});
          break;
        }
        case 'e': {  // APPENDS
          auto items = pop_mark();
          append(top(), items);
          break;
        }
        case 's': {  // SETITEM
          Obj v = pop();
          Obj k = pop();
          setitems(top(), {k, v});
          break;
        }
        case 'u': {  // SETITEMS
          auto items = pop_mark();
          setitems(top(), items);
          break;
        }
        case 'c': {  // GLOBAL
          std::string module = line();
          std::string name = line();
          push(global(module, name));
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          Obj name = pop();
          Obj module = pop();
          if (module->kind != PyObj::Kind::Str || name->kind != PyObj::Kind::Str)
            fail("STACK_GLOBAL without module and name strings");
          push(global(module->s, name->s));
          break;
        }
        case 'Q': {  // BINPERSID
          Obj pid = pop();
          push(persistent_load_(pid));
          break;
        }
        case 'R': {  // REDUCE
          Obj args = pop();
          Obj fn = pop();
          push(reduce(fn, args));
          break;
        }
        case 'b': {  // BUILD
          Obj state = pop();
          Obj obj = top();
          // OrderedDict state is the module's _metadata (version numbers), not weights.
          if (obj->kind != PyObj::Kind::Dict && obj->kind != PyObj::Kind::Tensor)
            fail(concat("sets the state of a ", kind_name(obj->kind)));
          break;
        }
        default:
          fail(concat("uses pickle opcode 0x", hex(op)));
      }
    }
  }

  [[noreturn]] void fail(const std::string& problem) const {
    throw_error(where_, ": ", problem, " at byte ", op_pos_, kUnsupportedHint);
  }

 private:
  static std::string hex(uint8_t v) {
    const char* digits = "0123456789abcdef";
    return std::string{digits[v >> 4], digits[v & 15]};
  }

  void need(uint64_t n) {
    if (n > static_cast<uint64_t>(end_ - p_))
      throw_error(where_, ": the pickle ends in the middle of an instruction", kCorrupt);
  }
  uint8_t u8() {
    need(1);
    return *p_++;
  }
  uint64_t le(int n) {
    need(n);
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | p_[i];
    p_ += n;
    return v;
  }
  uint16_t u16() { return static_cast<uint16_t>(le(2)); }
  uint32_t u32() { return static_cast<uint32_t>(le(4)); }
  uint64_t u64() { return le(8); }
  std::string line() {
    const uint8_t* nl = static_cast<const uint8_t*>(std::memchr(p_, '\n', end_ - p_));
    if (!nl) throw_error(where_, ": the pickle ends inside a GLOBAL name", kCorrupt);
    std::string out(reinterpret_cast<const char*>(p_), nl - p_);
    p_ = nl + 1;
    return out;
  }

  size_t stack_floor() const { return marks_.empty() ? 0 : marks_.back(); }
  void push(Obj o) { stack_.push_back(std::move(o)); }
  Obj pop() {
    if (stack_.size() <= stack_floor()) fail("pops an empty stack");
    Obj o = std::move(stack_.back());
    stack_.pop_back();
    return o;
  }
  const Obj& top() {
    if (stack_.size() <= stack_floor()) fail("reads an empty stack");
    return stack_.back();
  }
  std::vector<Obj> pop_mark() {
    if (marks_.empty()) fail("has no MARK to pop to");
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<Obj> out(stack_.begin() + m, stack_.end());
    stack_.resize(m);
    return out;
  }
  Obj get_memo(uint32_t i) {
    auto it = memo_.find(i);
    if (it == memo_.end()) fail(concat("refers to memo slot ", i, " that was never stored"));
    return it->second;
  }
  void push_bool(bool v) {
    auto o = make(PyObj::Kind::Bool);
    o->i = v;
    push(o);
  }
  void push_int(int64_t v) {
    auto o = make(PyObj::Kind::Int);
    o->i = v;
    push(o);
  }
  void push_long(size_t n) {
    need(n);
    if (n <= 8) {
      uint64_t v = 0;
      for (size_t i = n; i-- > 0;) v = (v << 8) | p_[i];
      if (n > 0 && n < 8 && (p_[n - 1] & 0x80)) v |= ~uint64_t{0} << (8 * n);  // sign-extend
      p_ += n;
      push_int(static_cast<int64_t>(v));
      return;
    }
    auto o = make(PyObj::Kind::BigInt);
    o->s.assign(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    push(o);
  }
  void push_str(uint64_t n) {
    need(n);
    auto o = make(PyObj::Kind::Str);
    o->s.assign(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    push(o);
  }

  Obj global(const std::string& module, const std::string& name) {
    at::ScalarType t;
    if (!allowed_function(module, name) && !storage_type(module, name, t))
      fail(concat("refers to '", module, ".", name, "', which a state dict does not contain"));
    auto o = make(PyObj::Kind::Global);
    o->s = module;
    o->name = name;
    return o;
  }

  void append(const Obj& list, const std::vector<Obj>& items) {
    if (list->kind != PyObj::Kind::List) fail(concat("appends to a ", kind_name(list->kind)));
    list->items.insert(list->items.end(), items.begin(), items.end());
  }

  void setitems(const Obj& dict, const std::vector<Obj>& kv) {
    if (dict->kind != PyObj::Kind::Dict) fail(concat("sets items of a ", kind_name(dict->kind)));
    if (kv.size() % 2) fail("sets items from an odd number of keys and values");
    for (size_t i = 0; i < kv.size(); i += 2) dict->dict.emplace_back(kv[i], kv[i + 1]);
  }

  int64_t as_int(const Obj& o, const char* what) {
    if (o->kind != PyObj::Kind::Int)
      fail(concat(what, " is a ", kind_name(o->kind), ", not an int"));
    return o->i;
  }
  std::vector<int64_t> as_ints(const Obj& o, const char* what) {
    if (o->kind != PyObj::Kind::Tuple && o->kind != PyObj::Kind::List)
      fail(concat(what, " is a ", kind_name(o->kind), ", not a tuple"));
    std::vector<int64_t> out;
    for (auto& item : o->items) out.push_back(as_int(item, what));
    return out;
  }

  Obj reduce(const Obj& fn, const Obj& args) {
    if (fn->kind != PyObj::Kind::Global) fail(concat("calls a ", kind_name(fn->kind)));
    if (args->kind != PyObj::Kind::Tuple) fail("calls a function without an argument tuple");
    const auto& a = args->items;
    if (fn->s == "collections" && fn->name == "OrderedDict") {
      auto d = make(PyObj::Kind::Dict);
      if (!a.empty()) {
        // OrderedDict([[key, value], ...]) as Python 2 pickled it.
        if (a.size() != 1 || a[0]->kind != PyObj::Kind::List) fail("builds an unusual OrderedDict");
        for (auto& pair : a[0]->items) {
          if ((pair->kind != PyObj::Kind::List && pair->kind != PyObj::Kind::Tuple) ||
              pair->items.size() != 2)
            fail("builds an OrderedDict from something other than pairs");
          d->dict.emplace_back(pair->items[0], pair->items[1]);
        }
      }
      return d;
    }
    if (fn->s == "torch._utils" && fn->name == "_rebuild_parameter") {
      if (a.empty() || a[0]->kind != PyObj::Kind::Tensor) fail("builds a parameter from no tensor");
      return a[0];
    }
    if (fn->s == "torch._utils" &&
        (fn->name == "_rebuild_tensor_v2" || fn->name == "_rebuild_tensor")) {
      if (a.size() < 4) fail(concat(fn->name, " with ", a.size(), " arguments"));
      if (a[0]->kind != PyObj::Kind::Storage) fail("rebuilds a tensor without a storage");
      auto t = make(PyObj::Kind::Tensor);
      t->storage = a[0];
      t->storage_offset = as_int(a[1], "storage offset");
      t->size = as_ints(a[2], "tensor size");
      t->stride = as_ints(a[3], "tensor stride");
      if (t->size.size() != t->stride.size())
        fail("rebuilds a tensor whose size and stride differ in rank");
      return t;
    }
    fail(concat("calls '", fn->s, ".", fn->name, "'"));
  }

  std::string where_;
  const uint8_t* p_;
  const uint8_t* end_;
  const uint8_t* begin_;
  size_t op_pos_ = 0;
  PersistentLoad persistent_load_;
  std::vector<Obj> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint32_t, Obj> memo_;
};

// ------------------------------------------------------------------------------------------------
// Turning the pickled description into tensors.

struct StorageBytes {
  const uint8_t* data = nullptr;
  uint64_t nbytes = 0;
};

// ('storage', StorageType, key, location, numel[, view_metadata]) -> a Storage object.
Obj storage_from_pid(const std::string& where, const Obj& pid,
                     std::map<std::string, at::ScalarType>& types) {
  auto bad = [&](const std::string& why) {
    throw_error(where, ": unexpected persistent id (", why, ")", kUnsupportedHint);
  };
  if (pid->kind != PyObj::Kind::Tuple || pid->items.size() < 5) bad("not a storage tuple");
  const auto& it = pid->items;
  if (it[0]->kind != PyObj::Kind::Str || it[0]->s != "storage") bad("not a storage");
  at::ScalarType type;
  if (it[1]->kind != PyObj::Kind::Global || !storage_type(it[1]->s, it[1]->name, type))
    bad("unknown storage type");
  if (it[2]->kind != PyObj::Kind::Str) bad("storage key is not a string");
  if (it[4]->kind != PyObj::Kind::Int || it[4]->i < 0) bad("storage size is not a count");
  auto s = make(PyObj::Kind::Storage);
  s->key = it[2]->s;
  s->dtype = type;
  s->numel = it[4]->i;
  if (it.size() >= 6 && it[5]->kind != PyObj::Kind::None) {
    // Legacy view storage: (view_key, offset, view_size) inside the root storage.
    const auto& v = it[5];
    if (v->kind != PyObj::Kind::Tuple || v->items.size() != 3 ||
        v->items[1]->kind != PyObj::Kind::Int || v->items[2]->kind != PyObj::Kind::Int ||
        v->items[1]->i < 0 || v->items[2]->i < 0)
      bad("malformed view of a storage");
    s->base_offset = v->items[1]->i;
    const int64_t view_numel = v->items[2]->i;
    if (s->base_offset > s->numel || view_numel > s->numel - s->base_offset)
      bad("storage view outside its storage");
    s->numel = view_numel;
  }
  auto known = types.find(s->key);
  if (known != types.end() && known->second != type)
    bad(concat("storage '", s->key, "' is used with two element types"));
  types[s->key] = type;
  return s;
}

// Copies one pickled tensor out of its storage bytes into an owned contiguous tensor.
at::Tensor materialize(const std::string& file, const std::string& name, const PyObj& t,
                       const StorageBytes& bytes) {
  const PyObj& s = *t.storage;
  const int64_t elem = static_cast<int64_t>(at::elementSize(s.dtype));
  const uint64_t root_numel = bytes.nbytes / elem;
  if (static_cast<uint64_t>(s.base_offset) + static_cast<uint64_t>(s.numel) > root_numel)
    throw_error(file, ": tensor '", name, "': storage '", s.key, "' holds ", root_numel,
                " elements, the pickle expects ", s.base_offset + s.numel, kCorrupt);
  auto options = at::TensorOptions().dtype(s.dtype).device(at::kCPU);
  int64_t numel = 1;
  int64_t last = t.storage_offset;  // highest element index the view touches
  bool overflow = t.storage_offset < 0;
  for (size_t d = 0; d < t.size.size(); ++d) {
    if (t.size[d] < 0 || t.stride[d] < 0)
      throw_error(file, ": tensor '", name, "': negative size or stride", kCorrupt);
    overflow = overflow || __builtin_mul_overflow(numel, t.size[d], &numel);
    if (t.size[d] > 0) {
      int64_t span = 0;
      overflow = overflow || __builtin_mul_overflow(t.size[d] - 1, t.stride[d], &span) ||
                 __builtin_add_overflow(last, span, &last);
    }
  }
  if (overflow) throw_error(file, ": tensor '", name, "': size/stride overflow", kCorrupt);
  if (numel == 0) return at::empty(t.size, options);
  if (last >= s.numel)
    throw_error(file, ": tensor '", name, "': reaches element ", last, " of storage '", s.key,
                "' which has ", s.numel, kCorrupt);
  const uint8_t* base = bytes.data + s.base_offset * elem;
  at::Tensor storage;
  if (reinterpret_cast<uintptr_t>(base) % elem == 0) {
    storage = at::from_blob(const_cast<uint8_t*>(base), {s.numel}, options);
  } else {
    // ATen kernels assume aligned elements (legacy files put storages at arbitrary offsets).
    storage = at::empty({s.numel}, options);
    std::memcpy(storage.data_ptr(), base, static_cast<size_t>(s.numel * elem));
  }
  return storage.as_strided(t.size, t.stride, t.storage_offset).clone(at::MemoryFormat::Contiguous);
}

std::map<std::string, at::Tensor> to_state_dict(
    const std::string& file, const Obj& root,
    const std::function<StorageBytes(const std::string& key)>& storage_bytes) {
  if (root->kind != PyObj::Kind::Dict)
    throw_error(file, ": holds a ", kind_name(root->kind), ", not a state dict", kUnsupportedHint);
  std::map<std::string, at::Tensor> out;
  for (auto& [k, v] : root->dict) {
    if (k->kind != PyObj::Kind::Str)
      throw_error(file, ": has a ", kind_name(k->kind), " key; a state dict has names",
                  kUnsupportedHint);
    if (v->kind != PyObj::Kind::Tensor)
      throw_error(file, ": entry '", k->s, "' is a ", kind_name(v->kind), ", not a tensor",
                  kUnsupportedHint);
    if (out.count(k->s)) throw_error(file, ": tensor '", k->s, "' appears twice", kCorrupt);
    out[k->s] = materialize(file, k->s, *v, storage_bytes(v->storage->key));
  }
  return out;
}

// ------------------------------------------------------------------------------------------------
// Minimal ZIP reader (stored entries, ZIP64 aware).

uint64_t rd(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

struct ZipEntry {
  uint64_t data_offset = 0, size = 0;
  uint16_t method = 0;
};

std::map<std::string, ZipEntry> read_zip_directory(const MappedFile& f) {
  const std::string& path = f.path();
  const uint8_t* d = f.data();
  const uint64_t n = f.size();
  auto corrupt = [&](const std::string& why) -> void {
    throw_error(path, ": broken zip archive (", why, ")", kCorrupt);
  };
  if (n < 22) corrupt("too short");
  // The end-of-central-directory record sits in the last 22 + 65535 (comment) bytes.
  int64_t eocd = -1;
  const uint64_t lowest = n > 22 + 65535 ? n - 22 - 65535 : 0;
  for (uint64_t pos = n - 22 + 1; pos-- > lowest;)
    if (rd(d + pos, 4) == 0x06054b50) {
      eocd = static_cast<int64_t>(pos);
      break;
    }
  if (eocd < 0) corrupt("no end-of-central-directory record");
  uint64_t count = rd(d + eocd + 10, 2);
  uint64_t cd_size = rd(d + eocd + 12, 4);
  uint64_t cd_offset = rd(d + eocd + 16, 4);
  if (count == 0xFFFF || cd_size == 0xFFFFFFFF || cd_offset == 0xFFFFFFFF) {
    if (eocd < 20 || rd(d + eocd - 20, 4) != 0x07064b50) corrupt("missing ZIP64 locator");
    const uint64_t z64 = rd(d + eocd - 20 + 8, 8);
    if (z64 > n || n - z64 < 56 || rd(d + z64, 4) != 0x06064b50) corrupt("bad ZIP64 record");
    count = rd(d + z64 + 32, 8);
    cd_size = rd(d + z64 + 40, 8);
    cd_offset = rd(d + z64 + 48, 8);
  }
  if (cd_offset > n || cd_size > n - cd_offset) corrupt("central directory outside the file");

  std::map<std::string, ZipEntry> out;
  uint64_t pos = cd_offset;
  const uint64_t cd_end = cd_offset + cd_size;
  for (uint64_t i = 0; i < count; ++i) {
    if (cd_end - pos < 46 || rd(d + pos, 4) != 0x02014b50) corrupt("bad central directory entry");
    ZipEntry e;
    e.method = static_cast<uint16_t>(rd(d + pos + 10, 2));
    uint64_t comp = rd(d + pos + 20, 4);
    uint64_t uncomp = rd(d + pos + 24, 4);
    const uint64_t name_len = rd(d + pos + 28, 2);
    const uint64_t extra_len = rd(d + pos + 30, 2);
    const uint64_t comment_len = rd(d + pos + 32, 2);
    uint64_t local = rd(d + pos + 42, 4);
    if (cd_end - pos - 46 < name_len + extra_len + comment_len) corrupt("entry name past the end");
    std::string name(reinterpret_cast<const char*>(d + pos + 46), name_len);
    // ZIP64 extra field: the 64-bit values of whichever fields were saturated, in this order.
    const uint8_t* x = d + pos + 46 + name_len;
    const uint8_t* xend = x + extra_len;
    while (xend - x >= 4) {
      const uint64_t id = rd(x, 2), len = rd(x + 2, 2);
      if (static_cast<uint64_t>(xend - x - 4) < len) break;
      if (id == 0x0001) {
        const uint8_t* v = x + 4;
        const uint8_t* vend = v + len;
        auto take = [&](uint64_t& field) {
          if (field == 0xFFFFFFFF && vend - v >= 8) {
            field = rd(v, 8);
            v += 8;
          }
        };
        take(uncomp);
        take(comp);
        take(local);
      }
      x += 4 + len;
    }
    if (local > n || n - local < 30 || rd(d + local, 4) != 0x04034b50)
      corrupt(concat("bad local header of '", name, "'"));
    const uint64_t data = local + 30 + rd(d + local + 26, 2) + rd(d + local + 28, 2);
    if (e.method == 0 && comp != uncomp) corrupt(concat("'", name, "' has two sizes"));
    if (data > n || comp > n - data)
      throw_error(path, ": zip entry '", name, "' extends past the end of the file", kCorrupt);
    e.data_offset = data;
    e.size = comp;
    out[name] = e;
    pos += 46 + name_len + extra_len + comment_len;
  }
  return out;
}

std::map<std::string, at::Tensor> read_zip_checkpoint(const MappedFile& f) {
  const std::string& path = f.path();
  auto entries = read_zip_directory(f);
  std::string prefix;
  bool found = false;
  for (auto& [name, e] : entries) {
    const std::string suffix = "data.pkl";
    if (name == suffix ||
        (name.size() > suffix.size() &&
         name.compare(name.size() - suffix.size() - 1, suffix.size() + 1, "/" + suffix) == 0)) {
      if (found) throw_error(path, ": the archive holds more than one data.pkl", kUnsupportedHint);
      prefix = name.substr(0, name.size() - suffix.size());
      found = true;
    }
  }
  if (!found)
    throw_error(path, ": zip archive without data.pkl; not a torch.save checkpoint",
                kUnsupportedHint);
  auto bytes_of = [&](const std::string& name) {
    auto it = entries.find(name);
    if (it == entries.end()) throw_error(path, ": archive entry '", name, "' is missing", kCorrupt);
    if (it->second.method != 0)
      throw_error(path, ": archive entry '", name, "' is compressed (method ", it->second.method,
                  "); torch.save stores entries uncompressed, so the archive was repacked: "
                  "re-save it with torch.save or convert it to .safetensors");
    return StorageBytes{f.data() + it->second.data_offset, it->second.size};
  };
  auto bo = entries.find(prefix + "byteorder");
  if (bo != entries.end()) {
    StorageBytes b = bytes_of(prefix + "byteorder");
    std::string order(reinterpret_cast<const char*>(b.data), b.nbytes);
    if (order != "little")
      throw_error(path, ": tensors were saved ", order, "-endian; only little-endian is supported");
  }

  std::map<std::string, at::ScalarType> types;
  StorageBytes pkl = bytes_of(prefix + "data.pkl");
  const std::string where = concat(path, ": ", prefix, "data.pkl");
  Unpickler vm(where, pkl.data, pkl.nbytes,
               [&](const Obj& pid) { return storage_from_pid(where, pid, types); });
  Obj root = vm.load();
  return to_state_dict(path, root,
                       [&](const std::string& key) { return bytes_of(prefix + "data/" + key); });
}

// ------------------------------------------------------------------------------------------------
// Legacy (pre-1.6) format.

std::map<std::string, at::Tensor> read_legacy_checkpoint(const MappedFile& f) {
  const std::string& path = f.path();
  const uint8_t* d = f.data();
  const uint64_t n = f.size();
  uint64_t pos = 0;
  std::map<std::string, at::ScalarType> types;
  auto next = [&](const char* what) {
    Unpickler vm(concat(path, ": ", what), d + pos, n - pos,
                 [&](const Obj& pid) { return storage_from_pid(path, pid, types); });
    Obj o = vm.load();
    pos += vm.consumed();
    return o;
  };
  // 0x1950a86a20f9469cfc6c, little-endian.
  static const char kMagic[] = "\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19";
  Obj magic = next("magic number");
  if (magic->kind != PyObj::Kind::BigInt || magic->s != std::string(kMagic, 10))
    throw_error(path, ": a pickle, but not a torch.save checkpoint", kUnsupportedHint);
  Obj version = next("protocol version");
  if (version->kind != PyObj::Kind::Int || version->i != 1001)
    throw_error(path, ": unsupported legacy checkpoint version", kUnsupportedHint);
  Obj sys_info = next("system info");
  if (sys_info->kind == PyObj::Kind::Dict)
    for (auto& [k, v] : sys_info->dict)
      if (k->kind == PyObj::Kind::Str && k->s == "little_endian" && v->kind == PyObj::Kind::Bool &&
          !v->i)
        throw_error(path, ": tensors were saved big-endian; only little-endian is supported");
  Obj root = next("state dict");
  Obj keys = next("storage keys");
  if (keys->kind != PyObj::Kind::List) throw_error(path, ": storage key list missing", kCorrupt);

  std::map<std::string, StorageBytes> storages;
  for (auto& k : keys->items) {
    if (k->kind != PyObj::Kind::Str) throw_error(path, ": storage key is not a string", kCorrupt);
    auto type = types.find(k->s);
    if (type == types.end())
      throw_error(path, ": storage '", k->s, "' is stored but never used", kCorrupt);
    if (n - pos < 8) throw_error(path, ": storage '", k->s, "' is cut off", kCorrupt);
    const uint64_t count = rd(d + pos, 8);
    pos += 8;
    const uint64_t elem = at::elementSize(type->second);
    if (count > (n - pos) / elem)
      throw_error(path, ": storage '", k->s, "' is cut off (", count, " elements announced)",
                  kCorrupt);
    storages[k->s] = StorageBytes{d + pos, count * elem};
    pos += count * elem;
  }
  return to_state_dict(path, root, [&](const std::string& key) {
    auto it = storages.find(key);
    if (it == storages.end())
      throw_error(path, ": storage '", key, "' is referenced but not stored", kCorrupt);
    return it->second;
  });
}

}  // namespace

std::map<std::string, at::Tensor> read_torch_checkpoint(const std::string& path) {
  MappedFile f(path);
  if (f.size() >= 4 && rd(f.data(), 4) == 0x04034b50) return read_zip_checkpoint(f);
  if (f.size() >= 2 && f.data()[0] == 0x80) return read_legacy_checkpoint(f);
  if (f.size() == 0) throw_error(path, ": the file is empty (0 bytes)", kCorrupt);
  throw_error(path,
              ": not a PyTorch checkpoint (neither a torch.save zip archive nor a pickle); check "
              "the path, or download the file again");
}

}  // namespace editclip
