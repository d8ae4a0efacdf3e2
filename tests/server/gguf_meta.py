"""Copies a GGUF v3 file with string metadata added or replaced (e.g. tokenizer.chat_template),
so that the server tests can serve stories260K as if it were a chat model."""
import struct

_SCALAR_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY = 8, 9


def _skip_value(data, off, vtype):
    if vtype == _STRING:
        (n,) = struct.unpack_from("<Q", data, off)
        return off + 8 + n
    if vtype == _ARRAY:
        etype, count = struct.unpack_from("<IQ", data, off)
        off += 12
        for _ in range(count):
            off = _skip_value(data, off, etype)
        return off
    return off + _SCALAR_SIZES[vtype]


def _string(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def with_strings(src, dst, strings):
    """Writes `src` to `dst` with each key of `strings` set to its string value."""
    with open(src, "rb") as f:
        data = f.read()
    magic, version, n_tensors, n_kv = struct.unpack_from("<4sIQQ", data, 0)
    assert magic == b"GGUF" and version == 3, (magic, version)
    off = 24
    kvs = []  # (key, raw bytes of the whole kv)
    alignment = 32
    for _ in range(n_kv):
        start = off
        (klen,) = struct.unpack_from("<Q", data, off)
        key = data[off + 8:off + 8 + klen].decode()
        off += 8 + klen
        (vtype,) = struct.unpack_from("<I", data, off)
        value_off = off + 4
        off = _skip_value(data, value_off, vtype)
        if key == "general.alignment":
            (alignment,) = struct.unpack_from("<I", data, value_off)
        kvs.append((key, data[start:off]))
    infos_start = off
    for _ in range(n_tensors):
        (nlen,) = struct.unpack_from("<Q", data, off)
        off += 8 + nlen
        (n_dims,) = struct.unpack_from("<I", data, off)
        off += 4 + 8 * n_dims + 4 + 8
    infos = data[infos_start:off]
    data_start = (off + alignment - 1) // alignment * alignment

    kvs = [(k, raw) for k, raw in kvs if k not in strings]
    for key, value in strings.items():
        kvs.append((key, _string(key) + struct.pack("<I", _STRING) + _string(value)))
    header = struct.pack("<4sIQQ", b"GGUF", 3, n_tensors, len(kvs))
    header += b"".join(raw for _, raw in kvs) + infos
    header += b"\0" * ((alignment - len(header) % alignment) % alignment)
    with open(dst, "wb") as f:
        f.write(header)
        f.write(data[data_start:])
