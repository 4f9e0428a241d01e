#!/usr/bin/env python3
"""Writes the checkpoint fixtures for Tests/VocaSegCheckpointTests/Fixtures.

Good files are written by torch.save / safetensors themselves, and expected.json records what torch sees in them
(names, dtypes, shapes, strides, storage offsets, values as lists). Hostile files are either hand-assembled torch zips
(stored entries, like torch writes) or byte-patched copies of a good file. Everything stays a few KB.

Run from the repository root:  python3 Scripts/reference/make_checkpoint_fixtures.py
Needs torch; uses the safetensors package when installed, else writes safetensors by hand per its spec.

For the memory measurement (never committed):
  python3 Scripts/reference/make_checkpoint_fixtures.py --large /tmp/errseg-L-like.pth \
      --spec ../shared/specs/errseg-statedict-L.txt --optimizer
writes a checkpoint with the official key list and shapes (random values) in a detectron2 wrapper, optionally
with AdamW-style moments for every parameter as a raw training checkpoint carries them.
"""
import collections
import io
import json
import os
import pickle
import struct
import zipfile

import torch

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "VocaSegCheckpointTests", "Fixtures")
OUT = os.path.normpath(OUT)
PWNED_MARKER = "/tmp/vocaseg-pwned-checkpoint-fixture"

DTYPE_NAMES = {
    torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16", torch.float64: "float64",
    torch.int64: "int64", torch.int32: "int32", torch.int16: "int16", torch.int8: "int8", torch.uint8: "uint8",
    torch.bool: "bool",
}


def describe(name, t):
    """What torch sees for one tensor: values are the row-major contents, exact for every dtype used here."""
    if t.dtype == torch.bool:
        values = [int(v) for v in t.reshape(-1).tolist()]
    elif t.dtype.is_floating_point:
        values = t.float().reshape(-1).tolist() if t.dtype != torch.float64 else t.reshape(-1).tolist()
    else:
        values = t.reshape(-1).tolist()
    return {
        "name": name, "dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape), "strides": list(t.stride()),
        "storage_offset": t.storage_offset(), "values": values,
    }


def flatten(d, prefix=""):
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, torch.Tensor):
            yield key, v
        elif isinstance(v, dict):
            yield from flatten(v, key + ".")


def save_and_describe(filename, obj, model_part):
    path = os.path.join(OUT, filename)
    torch.save(obj, path)
    loaded = torch.load(path, weights_only=True)
    part = loaded
    for k in model_part:
        part = part[k]
    return [describe(k, v) for k, v in flatten(part)]


# ---- hand-assembled torch zips, for the hostile cases -------------------------------------------------------------

def torch_zip(pkl: bytes, storages: dict, compress=False) -> bytes:
    """A zip laid out like torch.save's: archive/data.pkl, archive/byteorder, archive/data/<key>, archive/version."""
    buf = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(buf, "w", method) as z:
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/byteorder", "little")
        for key, data in storages.items():
            z.writestr(f"archive/data/{key}", data)
        z.writestr("archive/version", "3\n")
    return buf.getvalue()


def zip64_everywhere(source_path: str) -> bytes:
    """Rewrites a torch zip so that every size and offset goes through zip64 fields (as files > 4 GB need)."""
    src = zipfile.ZipFile(source_path)
    out, central = bytearray(), bytearray()
    for info in src.infolist():
        data, name = src.read(info.filename), info.filename.encode()
        crc = zipfile.crc32(data)
        offset = len(out)
        local_extra = struct.pack("<HHQQ", 1, 16, len(data), len(data))
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0, crc, 0xFFFFFFFF, 0xFFFFFFFF,
                           len(name), len(local_extra)) + name + local_extra + data
        extra = struct.pack("<HHQQQ", 1, 24, len(data), len(data), offset)
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0, crc, 0xFFFFFFFF,
                               0xFFFFFFFF, len(name), len(extra), 0, 0, 0, 0, 0xFFFFFFFF) + name + extra
    cd_offset, count = len(out), len(src.infolist())
    out += central
    eocd64 = len(out)
    out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, count, count, len(central), cd_offset)
    out += struct.pack("<IIQI", 0x07064B50, 0, eocd64, 1)
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return bytes(out)


def unicode(s: str) -> bytes:
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def binint(v: int) -> bytes:
    return b"J" + struct.pack("<i", v)


def long1(v: int) -> bytes:
    n = (v.bit_length() + 8) // 8
    return b"\x8a" + bytes([n]) + v.to_bytes(n, "little", signed=True)


def tensor_pickle(shape, stride, numel, offset=0, key="0"):
    """Pickle opcodes for one float tensor rebuilt by _rebuild_tensor_v2, as torch writes them (protocol 2)."""
    tup = lambda items: b"(" + b"".join(items) + b"t"
    return (b"ctorch._utils\n_rebuild_tensor_v2\n" + b"(" +
            tup([unicode("storage"), b"ctorch\nFloatStorage\n", unicode(key), unicode("cpu"), long1(numel)]) + b"Q" +
            long1(offset) + tup([long1(s) for s in shape]) + tup([long1(s) for s in stride]) + b"\x89" +
            b"ccollections\nOrderedDict\n)R" + b"tR")


def model_dict_pickle(entries: dict) -> bytes:
    """{'model': {name: <opcodes>}} followed by STOP."""
    body = b"".join(unicode(k) + v for k, v in entries.items())
    return b"\x80\x02}(" + unicode("model") + b"}(" + body + b"uu."


def patch_central(data: bytes, entry_name: str, **fields) -> bytes:
    """Overwrites fields of one central-directory record: method, csize, usize, local_offset."""
    data = bytearray(data)
    pos = data.rfind(b"PK\x05\x06")
    cd_offset = struct.unpack_from("<I", data, pos + 16)[0]
    p = cd_offset
    while data[p:p + 4] == b"PK\x01\x02":
        nlen, elen, clen = struct.unpack_from("<HHH", data, p + 28)
        name = bytes(data[p + 46:p + 46 + nlen]).decode()
        if name.endswith(entry_name):
            layout = {"method": (10, "<H"), "csize": (20, "<I"), "usize": (24, "<I"), "local_offset": (42, "<I")}
            for field, value in fields.items():
                off, fmt = layout[field]
                struct.pack_into(fmt, data, p + off, value)
            return bytes(data)
        p += 46 + nlen + elen + clen
    raise KeyError(entry_name)


class RunsShellOnLoad:
    """Unpickling this under torch.load(weights_only=False) runs a shell command: the classic pickle attack."""

    def __reduce__(self):
        return (os.system, (f"touch {PWNED_MARKER}",))


class EvalsOnLoad:
    def __reduce__(self):
        return (eval, (f"open('{PWNED_MARKER}', 'w').close()",))


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(1234)
    expected = {}

    # 1. Every dtype, a scalar and an empty tensor.
    basic = collections.OrderedDict()
    basic["f32"] = torch.randn(3, 4)
    basic["f16"] = torch.randn(2, 3).half()
    basic["bf16"] = torch.randn(5).bfloat16()
    basic["f64"] = torch.randn(2, 2).double()
    basic["i64"] = torch.tensor([-(2 ** 40), -3, 0, 7, 2 ** 50], dtype=torch.int64)
    basic["i32"] = torch.tensor([[-7, 0], [5, 2 ** 30]], dtype=torch.int32)
    basic["u8"] = torch.tensor([0, 1, 200, 255], dtype=torch.uint8)
    basic["flags"] = torch.tensor([True, False, True])
    basic["scalar"] = torch.tensor(3.5)
    basic["empty"] = torch.zeros(0, 3)
    # fp16 edge values: subnormal, max, negative zero, smallest normal.
    basic["f16_edges"] = torch.tensor([6e-8, 65504.0, -0.0, 6.103515625e-05, -2.5], dtype=torch.float16)
    expected["basic.pth"] = save_and_describe("basic.pth", basic, [])

    # zip64 records everywhere (torch switches to them for large files): the same tensors as basic.pth.
    with open(os.path.join(OUT, "zip64.pth"), "wb") as f:
        f.write(zip64_everywhere(os.path.join(OUT, "basic.pth")))
    reloaded = torch.load(os.path.join(OUT, "zip64.pth"), weights_only=True)
    assert all(torch.equal(reloaded[k], v) for k, v in basic.items())
    expected["zip64.pth"] = expected["basic.pth"]

    # 2. Views: non-contiguous tensors and tensors sharing one storage at different offsets.
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    shared = torch.arange(20, dtype=torch.float32) * 0.5
    views = collections.OrderedDict()
    views["transposed"] = base.t()
    views["strided"] = base[1:, ::2]
    views["shared_a"] = shared[2:8]
    views["shared_b"] = shared[10:16].view(2, 3)
    views["shared_all"] = shared
    views["expanded"] = torch.tensor([1.0, 2.0]).unsqueeze(0).expand(3, 2)
    # Rank 3 and matrices larger than the 64-row copy tiles, in two dtypes.
    views["permuted3d"] = torch.randn(3, 70, 9).permute(2, 0, 1)
    views["big_transposed"] = torch.randn(130, 70).t()
    views["half_transposed"] = torch.randn(5, 3).half().t()
    expected["views.pth"] = save_and_describe("views.pth", views, [])
    assert views["shared_a"].untyped_storage().data_ptr() == views["shared_b"].untyped_storage().data_ptr()

    # 3. Nested dicts flatten to dotted names.
    nested = {"encoder": {"layer0": {"weight": torch.randn(2, 2)}, "norm": torch.randn(2)}, "head.bias": torch.randn(3)}
    expected["nested.pth"] = save_and_describe("nested.pth", nested, [])

    # 4. A detectron2 DetectionCheckpointer-style file: only "model" is the state dict.
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3), torch.nn.Linear(3, 2))
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    net(torch.randn(5, 4)).sum().backward()
    opt.step()
    wrapper = {"model": net.state_dict(), "optimizer": opt.state_dict(),
               "scheduler": {"base_lrs": [0.1], "last_epoch": 5}, "iteration": 5}
    expected["detectron2.pth"] = save_and_describe("detectron2.pth", wrapper, ["model"])

    # A state dict holding non-tensor values next to a tensor.
    extra = collections.OrderedDict([("layer.weight", torch.ones(2)), ("layer._extra_state", {"mode": "fast"}),
                                     ("version", 3)])
    expected["with_extra_state.pth"] = save_and_describe("with_extra_state.pth", extra, [])

    # 5. safetensors written by Python.
    st = collections.OrderedDict()
    st["weight"] = torch.randn(3, 2)
    st["half"] = torch.randn(4).half()
    st["brain"] = torch.randn(2, 2).bfloat16()
    st["index"] = torch.tensor([3, -1, 4], dtype=torch.int64)
    st["scalar"] = torch.tensor(-1.25)
    st_path = os.path.join(OUT, "python.safetensors")
    try:
        from safetensors.torch import save_file
        save_file(st, st_path, metadata={"format": "pt", "writer": "make_checkpoint_fixtures"})
    except ImportError:
        write_safetensors_by_hand(st_path, st, {"format": "pt", "writer": "make_checkpoint_fixtures"})
    expected["python.safetensors"] = [describe(k, v) for k, v in st.items()]

    # 6. The legacy (pre-1.6, non-zip) torch format: refused with a clear message.
    torch.save({"w": torch.zeros(2)}, os.path.join(OUT, "legacy.pth"), _use_new_zipfile_serialization=False)

    write_hostile(basic)
    write_protocol_samples()

    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f)
        f.write("\n")


def write_protocol_samples():
    """The same plain object pickled with every protocol 0-5, so the unpickler's text, binary, framed and
    STACK_GLOBAL opcodes are all exercised against Python's own pickler."""
    sample = {
        "int": 7, "neg": -300, "big": 2 ** 40, "huge_neg": -(2 ** 62), "float": 1.5, "str": "h\u00e9llo \u2603",
        "list": [1, 2, "x"], "tuple": (True, False, None), "nested": {"k": [0.25, -1e300]}, "empty": {},
        "od": collections.OrderedDict([("a", 1), ("b", 2)]), "shared": None,
    }
    inner = [1, 2]
    sample["shared"] = [inner, inner]  # memo GET of a list
    samples = {str(p): pickle.dumps(sample, protocol=p).hex() for p in range(6)}
    with open(os.path.join(OUT, "protocols.json"), "w") as f:
        json.dump(samples, f)
        f.write("\n")


def write_safetensors_by_hand(path, tensors, metadata):
    names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64"}
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for k, t in tensors.items():
        raw = t.contiguous().view(torch.uint8).numpy().tobytes() if t.dim() else t.reshape(1).view(torch.uint8).numpy().tobytes()
        header[k] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def write_hostile(basic):
    def put(name, data):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)

    # Code execution through REDUCE. Verified below that torch.load(weights_only=False) really runs them.
    good = {"w": torch.ones(2)}
    torch.save({"model": good, "evil": RunsShellOnLoad()}, os.path.join(OUT, "malicious_system.pth"))
    torch.save({"model": {"w": torch.ones(2), "x": EvalsOnLoad()}}, os.path.join(OUT, "malicious_eval.pth"))
    for name in ["malicious_system.pth", "malicious_eval.pth"]:
        if os.path.exists(PWNED_MARKER):
            os.remove(PWNED_MARKER)
        torch.load(os.path.join(OUT, name), weights_only=False)
        assert os.path.exists(PWNED_MARKER), f"{name} did not run its payload under torch.load"
        os.remove(PWNED_MARKER)

    basic_bytes = open(os.path.join(OUT, "basic.pth"), "rb").read()
    size = len(basic_bytes)
    put("truncated.pth", basic_bytes[: size // 2])
    put("local_offset_past_eof.pth", patch_central(basic_bytes, "data/0", local_offset=size + 4096))
    put("entry_size_past_eof.pth", patch_central(basic_bytes, "data/0", csize=0xFFFFFFF0, usize=0xFFFFFFF0))
    put("compressed_entry.pth", patch_central(basic_bytes, "data/0", method=8, usize=0xFFFFFFF0))
    eocd = bytearray(basic_bytes)
    pos = eocd.rfind(b"PK\x05\x06")
    struct.pack_into("<I", eocd, pos + 16, size * 10)
    put("central_directory_past_eof.pth", bytes(eocd))

    # A real deflate bomb: 16 MB of zeros compress to a few KB.
    zeros = b"\x00" * (16 << 20)
    put("deflated_bomb.pth", torch_zip(model_dict_pickle({"w": tensor_pickle([4 << 20], [1], 4 << 20)}),
                                       {"0": zeros}, compress=True))

    # Shapes and storages that lie.
    put("overflowing_shape.pth", torch_zip(
        model_dict_pickle({"w": tensor_pickle([2 ** 40, 2 ** 40], [2 ** 40, 1], 4)}), {"0": b"\x00" * 16}))
    put("storage_too_short.pth", torch_zip(
        model_dict_pickle({"w": tensor_pickle([10, 10], [10, 1], 4)}), {"0": b"\x00" * 16}))
    put("storage_numel_lies.pth", torch_zip(
        model_dict_pickle({"w": tensor_pickle([1000], [1], 1000)}), {"0": b"\x00" * 16}))
    put("strided_past_storage.pth", torch_zip(
        model_dict_pickle({"w": tensor_pickle([2, 2], [3, 1], 4, offset=1)}), {"0": b"\x00" * 16}))
    put("expansion_bomb.pth", torch_zip(
        model_dict_pickle({"w": tensor_pickle([2 ** 20, 2 ** 20], [0, 0], 1)}), {"0": b"\x00" * 4}))
    put("missing_storage.pth", torch_zip(
        model_dict_pickle({"w": tensor_pickle([2], [1], 2, key="7")}), {"0": b"\x00" * 8}))

    # Pickles that attack the unpickler itself.
    depth = 20_000  # far beyond any real nesting (a state dict is 1-3 deep), still small on disk
    deep_tuples = b"\x80\x02}(" + unicode("model") + b"}(" + unicode("t") + b")" + b"\x85" * depth + b"uu."
    put("deep_tuples.pth", torch_zip(deep_tuples, {}))
    deep_lists = b"\x80\x02}(" + unicode("model") + b"}(" + unicode("l") + b"(" * depth + b"]" + b"l" * depth + b"uu."
    put("deep_lists.pth", torch_zip(deep_lists, {}))
    deep_dicts = (b"\x80\x02}(" + unicode("model") + (b"}" + unicode("k")) * depth + b"}" + b"s" * depth + b"u.")
    put("deep_dicts.pth", torch_zip(deep_dicts, {}))
    huge_memo = b"\x80\x02}(" + unicode("model") + b"}r\xf0\xff\xff\x7f0j\xf0\xff\xff\x7fu."
    put("huge_memo.pth", torch_zip(huge_memo, {}))
    put("missing_memo.pth", torch_zip(b"\x80\x02}(" + unicode("model") + b"j\x10\x27\x00\x00u.", {}))
    put("unterminated_pickle.pth", torch_zip(b"\x80\x02}(" + unicode("model") + b"}", {}))
    put("huge_string_length.pth", torch_zip(b"\x80\x02}(X\xff\xff\xff\x7fmodel", {}))

    # safetensors that lie.
    def st(header: dict, data: bytes, declared_len=None):
        h = json.dumps(header).encode()
        n = len(h) if declared_len is None else declared_len
        return struct.pack("<Q", n) + h + data

    put("st_header_too_long.safetensors", st({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}},
                                             b"\x00" * 4, declared_len=1 << 40))
    put("st_offset_past_eof.safetensors", st({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}},
                                             b"\x00" * 8))
    put("st_overlap.safetensors", st({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                      "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\x00" * 12))
    put("st_size_mismatch.safetensors", st({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}},
                                           b"\x00" * 8))
    put("st_overflowing_shape.safetensors", st({"a": {"dtype": "F32", "shape": [2 ** 62, 2 ** 62],
                                                      "data_offsets": [0, 8]}}, b"\x00" * 8))
    put("st_not_json.safetensors", struct.pack("<Q", 6) + b"{nope}" + b"\x00" * 8)


def write_large(path, spec, with_optimizer):
    state = collections.OrderedDict()
    generator = torch.Generator().manual_seed(0)
    for line in open(spec):
        name, shape, _ = line.rstrip("\n").split("\t")
        shape = [int(x) for x in shape.strip("[]").split(",") if x.strip()]
        state[name] = torch.randn(shape, generator=generator) if shape else torch.tensor(4.6)
    checkpoint = {"model": state, "iteration": 79999}
    if with_optimizer:
        checkpoint["optimizer"] = {
            "state": {i: {"step": torch.tensor(80000.0), "exp_avg": torch.zeros_like(t),
                          "exp_avg_sq": torch.zeros_like(t)} for i, t in enumerate(state.values())},
            "param_groups": [{"lr": 1e-4, "betas": (0.9, 0.999), "params": list(range(len(state)))}]}
        checkpoint["scheduler"] = {"base_lrs": [1e-4], "last_epoch": 79999}
    torch.save(checkpoint, path)
    # What the Swift measurement prints as its checksum: first + last value of every model tensor.
    print(sum(float(t.reshape(-1)[0]) + float(t.reshape(-1)[-1]) for t in state.values()))


if __name__ == "__main__":
    import argparse
    parser = argparse.ArgumentParser()
    parser.add_argument("--large", help="write a large synthetic checkpoint here instead of the fixtures")
    parser.add_argument("--spec", default=os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared",
                                                       "specs", "errseg-statedict-L.txt"))
    parser.add_argument("--optimizer", action="store_true")
    args = parser.parse_args()
    if args.large:
        write_large(args.large, args.spec, args.optimizer)
    else:
        main()
