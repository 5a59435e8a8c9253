"""Dense retrieval: passages and questions embedded by any OpenAI-compatible `/embeddings` endpoint,
compared by cosine similarity (numpy), and fused with the keyword ranking by reciprocal rank.

numpy takes 0.15-0.2 s to import and only a worker with an embeddings endpoint uses it: that worker
imports it at start (worker/plugin.py); `Embedder.embed`, which comes before any `nearest`, imports it
off the event loop where start-up did not."""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from activities.retrieval.errors import index_unavailable
from activities.retrieval.models import Passage
from common.lazy_import import import_off_loop
from common.settings import Settings

__all__ = ["MIN_SIMILARITY", "RRF_K", "Embedder", "fuse", "nearest"]

# Below this cosine similarity a passage is not counted as relevant to the question: without a
# floor, dense search always "finds" something and a question the corpus cannot answer would get an
# invented answer instead of `no_answer`.
MIN_SIMILARITY = 0.3
# The constant of reciprocal-rank fusion (Cormack et al., 2009): each list adds 1 / (RRF_K + rank).
RRF_K = 60
_TIMEOUT_S = 60.0


class Embedder:
    """One `httpx.AsyncClient` per worker (a resource): `POST {base}/embeddings`."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None) -> None:
        self.model = model
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(base_url=base_url, headers=headers, timeout=_TIMEOUT_S)

    @classmethod
    def from_settings(cls, settings: Settings) -> Embedder | None:
        if not settings.embeddings_base_url:
            return None
        key = settings.embeddings_api_key.get_secret_value() if settings.embeddings_api_key else None
        return cls(settings.embeddings_base_url.rstrip("/") + "/", settings.embeddings_model, key)

    async def embed(self, texts: Sequence[str]) -> list[bytes]:
        """Unit-length float32 vectors, one per text, as bytes."""
        if not texts:
            return []
        await import_off_loop("numpy")
        import numpy as np

        try:
            response = await self._client.post("embeddings", json={"model": self.model, "input": list(texts)})
        except httpx.HTTPError as error:
            raise index_unavailable(f"embeddings endpoint: {type(error).__name__}: {error}") from None
        if response.status_code != 200:
            raise index_unavailable(
                f"embeddings endpoint answered {response.status_code}: {response.text[:200]}"
            )
        try:
            rows = sorted(response.json()["data"], key=lambda row: row["index"])
            matrix = np.asarray([row["embedding"] for row in rows], dtype=np.float32)
        except (ValueError, KeyError, TypeError) as error:
            raise index_unavailable(f"embeddings endpoint: not an embeddings response ({error})") from None
        if matrix.shape[0] != len(texts):
            raise index_unavailable(f"embeddings endpoint: {matrix.shape[0]} vectors for {len(texts)} inputs")
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        matrix = (matrix / np.where(norms == 0, 1.0, norms)).astype(np.float32)
        return [row.tobytes() for row in matrix]

    async def aclose(self) -> None:
        await self._client.aclose()


def nearest(question: bytes, stored: Sequence[tuple[str, bytes]], limit: int) -> list[str]:
    """The passage ids most similar to the question (unit vectors: the dot product is the cosine),
    best first, at least MIN_SIMILARITY."""
    if not stored:
        return []
    import numpy as np  # loaded by the embedding of the question

    query = np.frombuffer(question, dtype=np.float32)
    matrix = np.vstack([np.frombuffer(vector, dtype=np.float32) for _, vector in stored])
    if matrix.shape[1] != query.shape[0]:
        return []  # indexed with another model: re-index to use dense retrieval
    similarity = matrix @ query
    order = np.argsort(-similarity, kind="stable")[:limit]
    return [stored[i][0] for i in order if similarity[i] >= MIN_SIMILARITY]


def fuse(rankings: Sequence[Sequence[Passage]], limit: int) -> list[Passage]:
    """Reciprocal-rank fusion of several best-first lists; the score is the fused one."""
    scores: dict[str, float] = {}
    passages: dict[str, Passage] = {}
    for ranking in rankings:
        for rank, passage in enumerate(ranking, start=1):
            scores[passage.passage_id] = scores.get(passage.passage_id, 0.0) + 1.0 / (RRF_K + rank)
            passages.setdefault(passage.passage_id, passage)
    best = sorted(scores, key=lambda pid: (-scores[pid], pid))[:limit]
    return [passages[pid].model_copy(update={"score": scores[pid]}) for pid in best]
