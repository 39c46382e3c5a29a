import numpy as np

from indexer.chunking import split_sentences
from indexer.highlights import SCALE, best_sentences, pooled_sentence_vectors

PASSAGE = ("The harbour bridge will close for six months from March. Engineers will replace corroded steel "
           "cables. A temporary ferry will run every fifteen minutes. The mayor called the closure painful "
           "but necessary.")


def pooled(encoder, title, passage):
    text = f"{title}\n{passage}"
    vectors, tokens = encoder.encode_with_tokens([text])
    offsets = encoder.tokenizer([text], return_offsets_mapping=True)["offset_mapping"][0]
    spans = split_sentences(passage)
    return vectors[0], spans, pooled_sentence_vectors(tokens[0], offsets, len(title) + 1, spans)


def test_encode_with_tokens_gives_the_same_vectors_as_encode(encoder):
    vectors, tokens = encoder.encode_with_tokens([PASSAGE, "short"])
    assert np.allclose(vectors, encoder.encode([PASSAGE, "short"]), atol=1e-5)
    assert tokens[1].shape[0] < tokens[0].shape[0] and tokens[0].shape[1] == encoder.dimension


def test_each_pooled_sentence_vector_is_closest_to_its_own_sentence(encoder):
    _, spans, vectors = pooled(encoder, "Bridge closure", PASSAGE)
    assert vectors.dtype == np.int8 and vectors.shape == (4, encoder.dimension)
    alone = encoder.encode([PASSAGE[s:e] for s, e in spans])
    similarity = vectors.astype(np.float32) / SCALE @ alone.T
    assert list(similarity.argmax(axis=1)) == [0, 1, 2, 3]


def test_best_sentence_answers_the_question(encoder):
    _, spans, vectors = pooled(encoder, "Bridge closure", PASSAGE)
    for question, expected in [("How often will the ferry run?", 2), ("What will the engineers replace?", 1),
                               ("What did the mayor say?", 3)]:
        assert best_sentences(vectors, encoder.encode([question])[0], margin=0.0) == [expected]
