#!/usr/bin/env python3
"""Loads a torch.save zip checkpoint the way torch.load(weights_only=True) does, without PyTorch,
and compares its tensors with a safetensors file.

    torch_load_check.py CHECKPOINT.pt [REFERENCE.safetensors]

The unpickler allows only the globals weights_only loading allows for a plain float32 state dict
(collections.OrderedDict, torch._utils._rebuild_tensor_v2, torch.FloatStorage); storages are read
from the archive's data/ records. Checks the archive layout torch.load relies on (one top-level
folder, data.pkl, version, records aligned to 64 bytes as torch.save writes them). Exit 0 when the
checkpoint loads (and equals the reference), 1 with a message otherwise. Python standard library
only: used by the tests, never at run time.
"""
import array
import collections
import io
import json
import pickle
import struct
import sys
import zipfile


def fail(message):
    print(f"FAIL {message}")
    sys.exit(1)


class Storage:
    def __init__(self, kind, key, numel):
        self.kind, self.key, self.numel = kind, key, numel


def load_checkpoint(path):
    raw = open(path, "rb").read()
    try:
        z = zipfile.ZipFile(io.BytesIO(raw))
        z.testzip()  # every record's CRC
    except zipfile.BadZipFile as e:
        fail(f"{path}: not a readable zip archive ({e})")
    names = z.namelist()
    roots = {n.split("/")[0] for n in names}
    if len(roots) != 1:
        fail(f"{path}: expected one top-level folder, found {sorted(roots)}")
    root = roots.pop()
    for required in ("data.pkl", "version"):
        if f"{root}/{required}" not in names:
            fail(f"{path}: no {root}/{required}")
    if z.read(f"{root}/version").strip() not in (b"2", b"3"):
        fail(f"{path}: unexpected version {z.read(f'{root}/version')!r}")
    for info in z.infolist():
        if info.compress_type != zipfile.ZIP_STORED:
            fail(f"{path}: {info.filename} is compressed; torch.save stores records")
        o = info.header_offset
        name_len, extra_len = struct.unpack("<HH", raw[o + 26:o + 30])
        if info.filename.startswith(f"{root}/data/") and (o + 30 + name_len + extra_len) % 64:
            fail(f"{path}: {info.filename} is not 64-byte aligned")

    def rebuild_tensor(storage, offset, size, stride, requires_grad, hooks):
        data = array.array("f")
        data.frombytes(z.read(f"{root}/data/{storage.key}"))
        if len(data) != storage.numel:
            fail(f"{path}: storage {storage.key} holds {len(data)} floats, pickle says {storage.numel}")
        numel = 1
        for s in size:
            numel *= s
        expected = [1] * len(size)
        for i in range(len(size) - 2, -1, -1):
            expected[i] = expected[i + 1] * size[i + 1]
        if tuple(stride) != tuple(expected) or offset + numel > len(data):
            fail(f"{path}: tensor {tuple(size)} has stride {tuple(stride)}, offset {offset}")
        return (tuple(size), list(data[offset:offset + numel]))

    allowed = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): rebuild_tensor,
        ("torch", "FloatStorage"): "FloatStorage",
    }

    class Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            if (module, name) not in allowed:
                fail(f"{path}: global {module}.{name} is not allowed by weights_only loading")
            return allowed[(module, name)]

        def persistent_load(self, pid):
            if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
                fail(f"{path}: unexpected persistent id {pid!r}")
            _, kind, key, location, numel = pid
            if location != "cpu":
                fail(f"{path}: storage {key} on {location!r}, expected 'cpu'")
            return Storage(kind, key, numel)

    state = Unpickler(io.BytesIO(z.read(f"{root}/data.pkl"))).load()
    if not isinstance(state, dict):
        fail(f"{path}: the pickle is a {type(state).__name__}, not a state dict")
    return state


def load_safetensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if entry["dtype"] != "F32":
            fail(f"{path}: {name} is {entry['dtype']}, this check reads F32")
        begin, end = entry["data_offsets"]
        data = array.array("f")
        data.frombytes(raw[8 + n + begin:8 + n + end])
        out[name] = (tuple(entry["shape"]), list(data))
    return out


def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__)
        sys.exit(2)
    state = load_checkpoint(sys.argv[1])
    if len(sys.argv) == 3:
        reference = load_safetensors(sys.argv[2])
        if set(state) != set(reference):
            fail(f"tensor names differ: {sorted(state)} vs {sorted(reference)}")
        for name, (shape, values) in reference.items():
            if state[name] != (shape, values):
                fail(f"{name} differs from {sys.argv[2]}")
    print(f"OK {sys.argv[1]}: {len(state)} tensors " +
          ", ".join(f"{k} {list(v[0])}" for k, v in state.items()))


if __name__ == "__main__":
    main()
