"""Read a GGUF model's header (metadata and tensor shapes) without loading the model.

A pure-Python reader of the GGUF v2/v3 container: the magic bytes ``GGUF``, the version, the tensor
and key/value counts, every key/value pair, then the tensor descriptions (name, shape, type,
offset). It never reads tensor data. The tensor descriptions are read as well as the key/value
pairs because they give two things the metadata alone cannot: the exact parameter count, and the
size the file must have, so a truncated download is caught here with one clear line instead of
crashing llama.cpp later.

Also here: the memory estimate (weights + KV cache + attention scratch) and the check that turns it
into a message before a model is loaded, never an out-of-memory kill.
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import BinaryIO

log = logging.getLogger(__name__)

MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

# Value types of a key/value pair (gguf_type in ggml's gguf.h).
_UINT8, _INT8, _UINT16, _INT16, _UINT32, _INT32, _FLOAT32, _BOOL = range(8)
_STRING, _ARRAY, _UINT64, _INT64, _FLOAT64 = range(8, 13)
_SCALAR_FORMATS: dict[int, str] = {
    _UINT8: "B",
    _INT8: "b",
    _UINT16: "H",
    _INT16: "h",
    _UINT32: "I",
    _INT32: "i",
    _FLOAT32: "f",
    _BOOL: "?",
    _UINT64: "Q",
    _INT64: "q",
    _FLOAT64: "d",
}

# Arrays longer than these are kept only as a summary (the vocabulary has 50k-250k entries).
_MAX_KEPT_NUMBERS = 4096
_MAX_KEPT_STRINGS = 64
# Sanity bounds: beyond these the header is corrupt, not merely large.
_MAX_STRING_BYTES = 256 * MiB
_MAX_COUNT = 1 << 32

# llama_ftype (general.file_type) → the name users know from file names.
FILE_TYPE_NAMES: dict[int, str] = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    4: "Q4_1_SOME_F16",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    19: "IQ2_XXS",
    20: "IQ2_XS",
    21: "Q2_K_S",
    22: "IQ3_XS",
    23: "IQ3_XXS",
    24: "IQ1_S",
    25: "IQ4_NL",
    26: "IQ3_S",
    27: "IQ3_M",
    28: "IQ2_S",
    29: "IQ2_M",
    30: "IQ4_XS",
    31: "IQ1_M",
    32: "BF16",
    36: "TQ1_0",
    37: "TQ2_0",
    38: "MXFP4_MOE",
}

# ggml_type → (name, elements per block, bytes per block); used to size the tensor data.
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 18),
    3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24),
    8: ("Q8_0", 32, 34),
    9: ("Q8_1", 32, 36),
    10: ("Q2_K", 256, 84),
    11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210),
    15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66),
    17: ("IQ2_XS", 256, 74),
    18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50),
    20: ("IQ4_NL", 32, 18),
    21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82),
    23: ("IQ4_XS", 256, 136),
    24: ("I8", 1, 1),
    25: ("I16", 1, 2),
    26: ("I32", 1, 4),
    27: ("I64", 1, 8),
    28: ("F64", 1, 8),
    29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2),
    34: ("TQ1_0", 256, 54),
    35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17),
}


class GGUFError(Exception):
    """The file is missing, not GGUF, truncated or corrupt; the message is one clear line."""


@dataclass(frozen=True, slots=True)
class ArraySummary:
    """A long array (e.g. the vocabulary) kept as its element type and length only."""

    item_type: int
    count: int


@dataclass(frozen=True, slots=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    ggml_type: int
    offset: int

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def n_bytes(self) -> int | None:
        """Bytes of data, or None for a type this reader does not know."""
        spec = GGML_TYPES.get(self.ggml_type)
        if spec is None:
            return None
        _, block, size = spec
        return self.n_elements // block * size


@dataclass(frozen=True, slots=True)
class GGUFMetadata:
    """What a GGUF header says about the model; `kv` holds every key/value pair."""

    path: Path
    file_size: int
    version: int
    tensor_count: int
    kv: Mapping[str, object] = field(repr=False)
    parameter_count: int
    dominant_tensor_type: str | None = None

    @property
    def architecture(self) -> str:
        return str(self.kv.get("general.architecture", "unknown"))

    @property
    def name(self) -> str:
        value = self.kv.get("general.name")
        return str(value) if value else self.path.stem

    @property
    def context_length(self) -> int | None:
        return self._arch_int("context_length")

    @property
    def quantization(self) -> str | None:
        """The file type name (Q4_K_M …), else the type holding most of the tensor data."""
        file_type = self.kv.get("general.file_type")
        if isinstance(file_type, int) and file_type in FILE_TYPE_NAMES:
            return FILE_TYPE_NAMES[file_type]
        return self.dominant_tensor_type

    @property
    def chat_template(self) -> str | None:
        value = self.kv.get("tokenizer.chat_template")
        return value if isinstance(value, str) and value.strip() else None

    @property
    def has_chat_template(self) -> bool:
        return self.chat_template is not None

    @property
    def block_count(self) -> int | None:
        return self._arch_int("block_count")

    @property
    def embedding_length(self) -> int | None:
        return self._arch_int("embedding_length")

    @property
    def head_count(self) -> int | None:
        return self._arch_int("attention.head_count")

    @property
    def vocab_size(self) -> int | None:
        tokens = self.kv.get("tokenizer.ggml.tokens")
        if isinstance(tokens, ArraySummary):
            return tokens.count
        if isinstance(tokens, tuple):
            return len(tokens)
        return None

    def arch_value(self, suffix: str) -> object:
        """The value of ``{architecture}.{suffix}``, or None."""
        return self.kv.get(f"{self.architecture}.{suffix}")

    def kv_dims_per_layer(self) -> list[int]:
        """Per layer, the K plus V width in elements (n_head_kv * (key_length + value_length))."""
        n_layers = self.block_count or 0
        n_embd = self.embedding_length or 0
        n_head = _first_int(self.arch_value("attention.head_count")) or 0
        if n_layers <= 0 or n_embd <= 0:
            return []
        head_dim = n_embd // n_head if n_head > 0 else n_embd
        key_len = _first_int(self.arch_value("attention.key_length")) or head_dim
        value_len = _first_int(self.arch_value("attention.value_length")) or head_dim
        raw_kv = self.arch_value("attention.head_count_kv")
        if isinstance(raw_kv, tuple) and len(raw_kv) == n_layers:
            per_layer = [int(v) for v in raw_kv]
        else:
            # Without head_count_kv the model has plain multi-head attention: one KV head per head.
            n_kv = _first_int(raw_kv) or n_head or 1
            per_layer = [n_kv] * n_layers
        if n_head <= 0:
            return [n_embd * 2] * n_layers
        return [heads * (key_len + value_len) for heads in per_layer]

    def _arch_int(self, suffix: str) -> int | None:
        return _first_int(self.arch_value(suffix))

    def summary(self) -> str:
        """One line for `models list` and the settings dialog."""
        parts = [self.name, self.architecture, format_parameter_count(self.parameter_count)]
        if self.quantization:
            parts.append(self.quantization)
        if self.context_length:
            parts.append(f"ctx {self.context_length}")
        parts.append("chat template" if self.has_chat_template else "no chat template")
        return ", ".join(parts)


def _first_int(value: object) -> int | None:
    """An int from a scalar, or the largest element of a per-layer array."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, tuple) and value and all(isinstance(v, int) for v in value):
        return max(value)
    return None


def format_parameter_count(n: int) -> str:
    if n >= 1_000_000_000:
        return f"{n / 1e9:.1f}B params"
    if n >= 1_000_000:
        return f"{n / 1e6:.0f}M params"
    return f"{n} params"


def format_bytes(n: float) -> str:
    if n >= GiB:
        return f"{n / GiB:.1f} GiB"
    return f"{n / MiB:.0f} MiB"


class _Reader:
    """Little- or big-endian primitive reads that fail with GGUFError at the end of the file."""

    def __init__(self, f: BinaryIO, name: str, endian: str) -> None:
        self._f = f
        self._name = name
        self._endian = endian

    def tell(self) -> int:
        return self._f.tell()

    def read(self, n: int) -> bytes:
        data = self._f.read(n)
        if len(data) != n:
            raise GGUFError(f"{self._name} is truncated: the file ends inside its header")
        return data

    def skip(self, n: int) -> None:
        # A seek past the end succeeds silently, so check the position against a one-byte read.
        if n <= 0:
            return
        self._f.seek(n - 1, os.SEEK_CUR)
        self.read(1)

    def scalar(self, fmt: str) -> object:
        size = struct.calcsize(fmt)
        return struct.unpack(self._endian + fmt, self.read(size))[0]

    def u32(self) -> int:
        return int(self.scalar("I"))  # type: ignore[call-overload]

    def u64(self) -> int:
        return int(self.scalar("Q"))  # type: ignore[call-overload]

    def string(self) -> str:
        n = self.u64()
        if n > _MAX_STRING_BYTES:
            raise GGUFError(f"{self._name} is corrupt: a {n}-byte string in its header")
        return self.read(n).decode("utf-8", errors="replace")

    def skip_string(self) -> None:
        n = self.u64()
        if n > _MAX_STRING_BYTES:
            raise GGUFError(f"{self._name} is corrupt: a {n}-byte string in its header")
        self.skip(n)

    def value(self, value_type: int) -> object:
        if value_type == _STRING:
            return self.string()
        if value_type == _ARRAY:
            return self.array()
        fmt = _SCALAR_FORMATS.get(value_type)
        if fmt is None:
            raise GGUFError(
                f"{self._name} is corrupt: unknown value type {value_type} in its header"
            )
        return self.scalar(fmt)

    def array(self) -> object:
        item_type = self.u32()
        count = self.u64()
        if count > _MAX_COUNT:
            raise GGUFError(f"{self._name} is corrupt: an array of {count} items in its header")
        if item_type == _STRING:
            if count <= _MAX_KEPT_STRINGS:
                return tuple(self.string() for _ in range(count))
            for _ in range(count):
                self.skip_string()
            return ArraySummary(item_type, count)
        if item_type == _ARRAY:
            # Nested arrays are not used by any known model; keep them readable, not kept.
            for _ in range(count):
                self.array()
            return ArraySummary(item_type, count)
        fmt = _SCALAR_FORMATS.get(item_type)
        if fmt is None:
            raise GGUFError(
                f"{self._name} is corrupt: unknown array type {item_type} in its header"
            )
        size = struct.calcsize(fmt)
        if count <= _MAX_KEPT_NUMBERS:
            data = self.read(size * count)
            return tuple(struct.unpack(f"{self._endian}{count}{fmt}", data))
        self.skip(size * count)
        return ArraySummary(item_type, count)


def read_metadata(path: str | os.PathLike[str]) -> GGUFMetadata:
    """Read a GGUF file's header; raise GGUFError with one clear line if it is not a usable GGUF."""
    p = Path(path)
    name = p.name or str(p)
    if not p.exists():
        raise GGUFError(f"{p}: no such file")
    if p.is_dir():
        raise GGUFError(f"{p} is a folder, not a GGUF model file")
    try:
        file_size = p.stat().st_size
        with p.open("rb", buffering=1 * MiB) as f:
            return _parse(f, p, name, file_size)
    except OSError as exc:
        raise GGUFError(f"{p} cannot be read: {exc.strerror or exc}") from exc


def _parse(f: BinaryIO, path: Path, name: str, file_size: int) -> GGUFMetadata:
    head = f.read(8)
    if len(head) < 4 or head[:4] != MAGIC:
        shown = head[:4]
        what = "is empty" if not head else f"starts with {shown!r}"
        raise GGUFError(
            f"{name} is not a GGUF model file (it {what}; a GGUF file starts with b'GGUF')"
        )
    if len(head) < 8:
        raise GGUFError(f"{name} is truncated: the file ends inside its header")
    version_le = struct.unpack("<I", head[4:8])[0]
    version_be = struct.unpack(">I", head[4:8])[0]
    if version_le in SUPPORTED_VERSIONS:
        endian, version = "<", version_le
    elif version_be in SUPPORTED_VERSIONS:
        endian, version = ">", version_be
    else:
        shown_version = version_le if version_le < 0x10000 else version_be
        raise GGUFError(
            f"{name} uses GGUF version {shown_version}; only versions 2 and 3 are supported"
        )
    r = _Reader(f, name, endian)
    tensor_count = r.u64()
    kv_count = r.u64()
    if tensor_count > _MAX_COUNT or kv_count > _MAX_COUNT:
        raise GGUFError(f"{name} is corrupt: its header counts are impossible")

    kv: dict[str, object] = {}
    for _ in range(kv_count):
        key = r.string()
        kv[key] = r.value(r.u32())

    tensors = [_read_tensor_info(r) for _ in range(tensor_count)]
    alignment = kv.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or alignment <= 0:
        alignment = DEFAULT_ALIGNMENT
    data_start = -(-r.tell() // alignment) * alignment
    _check_complete(name, tensors, data_start, file_size)

    log.debug("read GGUF header of %s: %d keys, %d tensors", path, kv_count, tensor_count)
    return GGUFMetadata(
        path=path,
        file_size=file_size,
        version=version,
        tensor_count=tensor_count,
        kv=MappingProxyType(kv),
        parameter_count=sum(t.n_elements for t in tensors),
        dominant_tensor_type=_dominant_type(tensors),
    )


def _read_tensor_info(r: _Reader) -> TensorInfo:
    name = r.string()
    n_dims = r.u32()
    if n_dims > 8:
        raise GGUFError(f"tensor {name!r} has {n_dims} dimensions: the header is corrupt")
    shape = tuple(r.u64() for _ in range(n_dims))
    return TensorInfo(name=name, shape=shape, ggml_type=r.u32(), offset=r.u64())


def _check_complete(name: str, tensors: list[TensorInfo], data_start: int, file_size: int) -> None:
    """Raise if the file is shorter than its tensor data says it must be."""
    needed = data_start
    for t in tensors:
        size = t.n_bytes
        end = data_start + t.offset + (size if size is not None else 1)
        needed = max(needed, end)
    if file_size < needed:
        raise GGUFError(
            f"{name} is truncated: its tensors need {format_bytes(needed)} "
            f"but the file has only {format_bytes(file_size)} (an interrupted download?)"
        )


def _dominant_type(tensors: list[TensorInfo]) -> str | None:
    by_type: dict[str, int] = {}
    for t in tensors:
        spec = GGML_TYPES.get(t.ggml_type)
        if spec is not None:
            by_type[spec[0]] = by_type.get(spec[0], 0) + (t.n_bytes or 0)
    return max(by_type, key=lambda k: by_type[k]) if by_type else None


# --- memory -------------------------------------------------------------------------------------

# Fixed runtime cost of a loaded model beyond weights and KV cache (context, graph, buffers).
RUNTIME_OVERHEAD_BYTES = 128 * MiB
# llama.cpp evaluates prompts in micro-batches of this many tokens by default.
_UBATCH = 512
_MIN_CONTEXT = 512


def kv_cache_bytes(meta: GGUFMetadata, n_ctx: int, bytes_per_elem: float = 2) -> int:
    """K and V for every layer and every context position, f16 (2 bytes) by default."""
    return int(sum(meta.kv_dims_per_layer()) * n_ctx * bytes_per_elem)


def estimate_memory(
    meta: GGUFMetadata,
    n_ctx: int,
    *,
    kv_bytes_per_elem: float = 2,
    flash_attn: bool = False,
    offloaded: float = 0.0,
) -> int:
    """Bytes of RAM a loaded model needs at this context size (a deliberately high estimate).

    The weights (the file size) + the KV cache (2 * n_layers * n_ctx * n_embd_kv * 2 bytes in
    f16, less when quantized) + the attention score scratch of one micro-batch without flash
    attention (n_ctx * 512 * n_head * 4 bytes) + a fixed runtime overhead. `offloaded` is the
    share of layers on a discrete GPU: their weights and KV cache live in its memory instead.
    """
    n_head = meta.head_count or 0
    scratch = 0 if flash_attn else n_ctx * _UBATCH * n_head * 4
    kv = kv_cache_bytes(meta, n_ctx, kv_bytes_per_elem)
    resident = 1.0 - min(max(offloaded, 0.0), 1.0)
    return int((meta.file_size + kv) * resident) + scratch + RUNTIME_OVERHEAD_BYTES


def offloaded_share(meta: GGUFMetadata, n_gpu_layers: int, discrete_gpu: bool) -> float:
    """The share of layers whose weights leave system RAM: none without a discrete GPU
    (CPU builds; Apple's Metal shares system memory), else n_gpu_layers of block_count."""
    if not discrete_gpu or n_gpu_layers == 0:
        return 0.0
    layers = meta.block_count or 0
    if n_gpu_layers < 0 or layers == 0:
        return 1.0
    return min(n_gpu_layers, layers) / layers


def available_memory() -> int | None:
    """Bytes of RAM available to a new allocation (MemAvailable, else psutil), or None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * KiB
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil  # optional; lazily, it is only needed off Linux
    except ImportError:
        return None
    return int(psutil.virtual_memory().available)


def check_memory(meta: GGUFMetadata, n_ctx: int, available: int | None = None) -> str | None:
    """A clear message when the model will not fit in RAM at n_ctx (with a context that fits), else None."""
    if available is None:
        available = available_memory()
        if available is None:
            log.info("available memory is unknown; skipping the memory check")
            return None
    needed = estimate_memory(meta, n_ctx)
    if needed <= available:
        return None
    fitting = _largest_fitting_context(meta, n_ctx, available)
    if fitting is None:
        return (
            f"{meta.name} needs at least {format_bytes(estimate_memory(meta, _MIN_CONTEXT))} of memory "
            f"(the weights alone are {format_bytes(meta.file_size)}) but only "
            f"{format_bytes(available)} is available; choose a smaller model or quantization"
        )
    return (
        f"{meta.name} needs about {format_bytes(needed)} of memory with a {n_ctx}-token context "
        f"but only {format_bytes(available)} is available; use a context of {fitting} tokens "
        f"or less (about {format_bytes(estimate_memory(meta, fitting))})"
    )


def _largest_fitting_context(meta: GGUFMetadata, n_ctx: int, available: int) -> int | None:
    """The largest multiple of 256 below n_ctx (at least 512) whose estimate fits, or None."""
    return largest_fitting_context(meta, n_ctx - 1, available)


def largest_fitting_context(
    meta: GGUFMetadata,
    n_ctx: int,
    available: int,
    *,
    minimum: int = _MIN_CONTEXT,
    kv_bytes_per_elem: float = 2,
    flash_attn: bool = False,
    offloaded: float = 0.0,
) -> int | None:
    """The largest multiple of 256 in [minimum, n_ctx] whose estimate fits in `available`, or None."""

    def fits(steps: int) -> bool:
        need = estimate_memory(
            meta,
            steps * 256,
            kv_bytes_per_elem=kv_bytes_per_elem,
            flash_attn=flash_attn,
            offloaded=offloaded,
        )
        return need <= available

    lo, hi = -(-minimum // 256), n_ctx // 256
    if hi < lo or not fits(lo):
        return None
    while lo < hi:  # the estimate grows with n_ctx: binary search for the last fitting step
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo * 256
