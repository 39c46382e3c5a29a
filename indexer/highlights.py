"""Sentence vectors for highlighting, pooled from the token embeddings of a passage's own
forward pass, so that marking the answering sentence at query time costs no model call.

Measured on 385 SQuAD questions (squad-dev-a, gold passage given), the sentence whose pooled
vector is closest to the question contains the answer 74.0% of the time, against 73.5% for the
same sentences embedded one by one, which costs a model call per sentence at query time
(~450 ms for ten passages on two cores).

Vectors are stored as int8 (unit vector x 127): a quarter of float32, plenty to pick the best
sentence of a passage.
"""

from __future__ import annotations

import numpy as np

SCALE = 127.0


def pooled_sentence_vectors(token_embeddings: np.ndarray, token_offsets: list[tuple[int, int]],
                            passage_offset: int, spans: list[tuple[int, int]]) -> np.ndarray:
    """Mean of the token embeddings inside each span, normalised and quantised to int8.

    `token_offsets` are the tokenizer's character offsets into the embedded text (title line +
    passage), `passage_offset` where the passage begins in it; special tokens have (0, 0).
    A span with no whole token inside gets a zero vector: a sentence cut off by the model's
    window (the indexer's chunks always fit, so only other callers see this).
    """
    token_offsets = token_offsets[:len(token_embeddings)]
    starts = np.array([a for a, b in token_offsets], dtype=np.int64)
    ends = np.array([b for a, b in token_offsets], dtype=np.int64)
    real = ends > starts
    result = np.zeros((len(spans), token_embeddings.shape[1]), dtype=np.int8)
    for row, (start, end) in enumerate(spans):
        inside = real & (starts >= passage_offset + start) & (ends <= passage_offset + end)
        if not inside.any():
            continue
        vector = token_embeddings[inside].mean(axis=0)
        vector /= np.linalg.norm(vector) or 1.0
        result[row] = np.round(vector * SCALE).astype(np.int8)
    return result


def best_sentences(vectors: np.ndarray, query_vector: np.ndarray, margin: float = 0.02) -> list[int]:
    """Indexes of the sentence closest to the query and of any within `margin` cosine of it."""
    if len(vectors) == 0:
        return []
    scores = vectors.astype(np.float32) @ query_vector / SCALE
    best = float(scores.max())
    return [i for i, score in enumerate(scores) if score >= best - margin]
