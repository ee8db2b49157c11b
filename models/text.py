"""Text search with a CLIP bundle's text tower: a torch-free tokenizer and a text embedder.

:class:`ClipTokenizer` reimplements open_clip's byte-level BPE ``SimpleTokenizer`` (lower-case
cleaning, 77-token context) on the vocabulary file the bundle carries, with the standard
library's ``re`` instead of the third-party ``regex`` module (``[^\\W\\d_]`` is a Unicode letter,
``\\d`` a Unicode digit). Its output is tested against open_clip's own tokenizer.
"""

from __future__ import annotations

import gzip
import html
import re
from functools import lru_cache
from pathlib import Path

import numpy as np

from .bundle import Bundle
from .embedder import l2_normalize, optimization_for
from .engine import InferenceEngine, create_engine
from .errors import BundleError

SOT, EOT = "<start_of_text>", "<end_of_text>"


@lru_cache(maxsize=1)
def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from bytes to printable unicode characters."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    bs += list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs], strict=True))


class ClipTokenizer:
    """Text → int64 token ids [n, context_length], as open_clip's SimpleTokenizer."""

    def __init__(self, vocab_gz: Path, context_length: int = 77) -> None:
        try:
            with gzip.open(vocab_gz) as fh:
                lines = fh.read().decode("utf-8").split("\n")
        except (OSError, EOFError, UnicodeDecodeError) as exc:
            raise BundleError(f"{vocab_gz}: unreadable tokenizer vocabulary ({exc})") from exc
        merges = [tuple(m.split()) for m in lines[1 : 49152 - 256 - 2 + 1]]
        self.byte_encoder = _bytes_to_unicode()
        vocab = list(self.byte_encoder.values())
        vocab += [v + "</w>" for v in vocab]
        vocab += ["".join(m) for m in merges]
        vocab += [SOT, EOT]
        self.encoder = {tok: i for i, tok in enumerate(vocab)}
        self.bpe_ranks = {m: i for i, m in enumerate(merges)}
        self.context_length = context_length
        self.sot, self.eot = self.encoder[SOT], self.encoder[EOT]
        self._cache: dict[str, str] = {SOT: SOT, EOT: EOT}
        self._pattern = re.compile(
            rf"{SOT}|{EOT}|'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|(?:[^\s\w]|_)+", re.IGNORECASE
        )

    def _bpe(self, token: str) -> str:
        if token in self._cache:
            return self._cache[token]
        word = (*token[:-1], token[-1] + "</w>")
        while len(word) > 1:
            pairs = {(word[i], word[i + 1]) for i in range(len(word) - 1)}
            best = min(pairs, key=lambda p: self.bpe_ranks.get(p, float("inf")))
            if best not in self.bpe_ranks:
                break
            merged: list[str] = []
            i = 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                    merged.append(word[i] + word[i + 1])
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = tuple(merged)
        self._cache[token] = " ".join(word)
        return self._cache[token]

    def encode(self, text: str) -> list[int]:
        text = " ".join(html.unescape(html.unescape(text)).split()).lower()
        ids: list[int] = []
        for token in self._pattern.findall(text):
            mapped = "".join(self.byte_encoder[b] for b in token.encode("utf-8"))
            ids.extend(self.encoder[t] for t in self._bpe(mapped).split(" "))
        return ids

    def __call__(self, texts: list[str] | str) -> np.ndarray:
        if isinstance(texts, str):
            texts = [texts]
        out = np.zeros((len(texts), self.context_length), dtype=np.int64)
        for row, text in enumerate(texts):
            ids = [self.sot, *self.encode(text), self.eot]
            if len(ids) > self.context_length:
                ids = ids[: self.context_length]
                ids[-1] = self.eot
            out[row, : len(ids)] = ids
        return out


class TextEmbedder:
    """Embeds search text into the same space as a CLIP bundle's image embeddings."""

    def __init__(
        self,
        bundle: Bundle,
        precision: str = "fp32",
        *,
        engine: InferenceEngine | None = None,
        threads: int | None = None,
    ) -> None:
        text = bundle.manifest.text
        if text is None:
            raise BundleError(f"{bundle.path}: bundle {bundle.name!r} has no text tower")
        if text.tokenizer != "clip-bpe" or "bpe_vocab" not in text.tokenizer_files:
            raise BundleError(f"{bundle.path}: unsupported tokenizer {text.tokenizer!r}")
        vocab = text.tokenizer_files["bpe_vocab"]
        bundle.verify_file(vocab, bundle.manifest.extra_files.get(vocab, ""))
        if precision not in text.files:
            precision = "fp32"
        entry = text.files[precision]
        bundle.verify_file(entry.path, entry.sha256, entry.bytes)
        self.tokenizer = ClipTokenizer(bundle.path / vocab, text.context_length)
        self.engine = engine or create_engine(
            bundle.path / entry.path, threads=threads, optimization=optimization_for(precision)
        )
        self.dim = bundle.manifest.embedding_dim

    def embed_text(self, texts: list[str]) -> np.ndarray:
        """float32 [n, dim], L2-normalised."""
        return l2_normalize(self.engine.run(self.tokenizer(texts)))

    def close(self) -> None:
        self.engine.close()
