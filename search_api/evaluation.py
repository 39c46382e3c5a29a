"""Retrieval quality: BEIR-layout question sets and labelled archives, scored on a real index.

    corpus, queries, qrels = load_beir("../shared/data/squad-dev-a")
    scores = evaluate_search(searcher, queries, qrels, modes=["dense", "lexical", "hybrid"])
    # {"hybrid": {"recall@1": ..., "recall@5": ..., "recall@10": ..., "mrr@10": ..., "ndcg@10": ...}, ...}

The metric functions are pure; `evaluate_*` run the searcher.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterable
from pathlib import Path

from indexer.words import WORD
from indexer.writing import Article

from .searcher import Searcher

CUTOFFS = (1, 5, 10)


class DatasetError(ValueError):
    """A data set that is not in the expected layout; the message names the file and line."""


def _read_jsonl(path: Path) -> Iterable[tuple[int, dict]]:
    if not path.exists():
        raise DatasetError(f"{path} is missing (BEIR layout: corpus.jsonl, queries.jsonl, qrels/test.tsv)")
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    yield number, json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DatasetError(f"{path}:{number}: invalid JSON ({exc.msg})") from None


def load_beir(directory: str | Path) -> tuple[list[Article], dict[str, str], dict[str, dict[str, int]]]:
    """(corpus as articles, {query id: text}, {query id: {doc id: relevance}}) of a BEIR folder."""
    directory = Path(directory)
    corpus = [Article(id=str(doc["_id"]), title=doc.get("title", ""), text=doc["text"], origin=f"corpus.jsonl:{n}")
              for n, doc in _read_jsonl(directory / "corpus.jsonl")]
    queries = {str(q["_id"]): q["text"] for _, q in _read_jsonl(directory / "queries.jsonl")}
    qrels: dict[str, dict[str, int]] = {}
    path = directory / "qrels" / "test.tsv"
    if not path.exists():
        raise DatasetError(f"{path} is missing")
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            parts = line.rstrip("\n").split("\t")
            if number == 1 and parts[0] == "query-id":
                continue
            if len(parts) != 3:
                raise DatasetError(f"{path}:{number}: expected query-id, corpus-id, score separated by tabs")
            if int(parts[2]) > 0:
                qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    return corpus, {q: text for q, text in queries.items() if q in qrels}, qrels


def load_queries(path: str | Path) -> dict[str, str]:
    """{query id: text} of a JSONL file of questions (`_id` or `id`, and `text`), as a BEIR
    queries.jsonl holds them."""
    queries = {}
    for number, record in _read_jsonl(Path(path)):
        if not isinstance(record, dict) or not isinstance(record.get("text"), str) or not record["text"].strip():
            raise DatasetError(f"{path}:{number}: expected an object with a non-empty 'text'")
        queries[str(record.get("_id", record.get("id", number)))] = record["text"]
    if not queries:
        raise DatasetError(f"{path} holds no questions")
    return queries


def ranking_metrics(ranked: list[str], relevant: dict[str, int]) -> dict[str, float]:
    """recall@1/5/10, MRR@10 and nDCG@10 of one ranked list of ids against graded relevance.

    >>> ranking_metrics(["b", "a"], {"a": 1})["mrr@10"]
    0.5
    """
    result = {}
    for k in CUTOFFS:
        result[f"recall@{k}"] = len(set(ranked[:k]) & set(relevant)) / len(relevant)
    result["mrr@10"] = next((1.0 / rank for rank, doc in enumerate(ranked[:10], start=1) if doc in relevant), 0.0)
    dcg = sum(relevant.get(doc, 0) / math.log2(rank + 1) for rank, doc in enumerate(ranked[:10], start=1))
    ideal = sum(grade / math.log2(rank + 1)
                for rank, grade in enumerate(sorted(relevant.values(), reverse=True)[:10], start=1))
    result["ndcg@10"] = dcg / ideal if ideal else 0.0
    return result


def mean_metrics(per_query: list[dict[str, float]]) -> dict[str, float]:
    if not per_query:
        return {}
    return {name: round(sum(m[name] for m in per_query) / len(per_query), 4) for name in per_query[0]}


def sample_queries(queries: dict[str, str], max_queries: int | None, seed: int = 13) -> dict[str, str]:
    """All queries, or a fixed random sample of `max_queries` of them (same seed, same sample)."""
    if not max_queries or max_queries >= len(queries):
        return queries
    chosen = sorted(random.Random(seed).sample(sorted(queries), max_queries))
    return {q: queries[q] for q in chosen}


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def with_typo(text: str, rng: random.Random) -> str:
    """`text` with one typo (a letter inserted, deleted, substituted, or two neighbours swapped) in
    one of its words of 5+ characters, chosen by `rng`; unchanged when it has no such word."""
    words = [m for m in WORD.finditer(text) if len(m.group()) >= 5]
    if not words:
        return text
    match = rng.choice(words)
    word, at = match.group(), rng.randrange(len(match.group()))
    kind = rng.choice(["insert", "delete", "substitute", "transpose"])
    if kind == "insert":
        word = word[:at] + rng.choice(_LETTERS) + word[at:]
    elif kind == "delete":
        word = word[:at] + word[at + 1:]
    elif kind == "substitute":
        word = word[:at] + rng.choice(_LETTERS.replace(word[at].lower(), "")) + word[at + 1:]
    else:  # two different neighbours swapped ("ll" swapped is no typo)
        at = rng.choice([i for i in range(len(word) - 1) if word[i] != word[i + 1]] or [0])
        word = word[:at] + word[at + 1] + word[at] + word[at + 2:]
    return text[:match.start()] + word + text[match.end():]


def cut_inside_last_word(text: str, rng: random.Random) -> str:
    """`text` up to a point inside its last word chosen by `rng`, at least 3 of its characters kept,
    as a search box holds it while the word is typed; a last word of 3 or fewer characters is kept
    whole (with nothing after it)."""
    words = list(WORD.finditer(text))
    if not words:
        return text
    last = words[-1]
    keep = rng.randrange(3, len(last.group())) if len(last.group()) > 3 else len(last.group())
    return text[:last.start() + keep]


def altered_queries(queries: dict[str, str], alter, seed: int = 13) -> dict[str, str]:
    """Each query changed by `alter(text, rng)`, with an rng seeded by the seed and the query's id:
    the same questions come out on every run and machine."""
    return {qid: alter(text, random.Random(f"{seed}:{qid}")) for qid, text in queries.items()}


def evaluate_search(searcher: Searcher, queries: dict[str, str], qrels: dict[str, dict[str, int]],
                    modes: list[str], progress: bool = False, typos: bool = True,
                    min_confidence: float | None = None) -> dict[str, dict[str, float]]:
    """Mean metrics per mode over `queries`, articles ranked by `searcher.search` (top 10);
    `typos` and `min_confidence` as `Searcher.search`'s (typo tolerance, "no good match")."""
    from tqdm import tqdm

    ids = list(queries)
    vectors = searcher.encoder.encode([queries[q] for q in ids], batch_size=64, progress=False)
    results = {}
    for mode in modes:
        per_query = []
        for qid, vector in tqdm(list(zip(ids, vectors)), desc=f"eval {mode}", unit=" queries", disable=not progress):
            result = searcher.search(queries[qid], k=10, mode=mode, passages=1, highlight=False, query_vector=vector,
                                     typos=typos, min_confidence=min_confidence)
            per_query.append(ranking_metrics([hit.article_id for hit in result.results], qrels[qid]))
        results[mode] = mean_metrics(per_query)
    return results


def evaluate_no_match(searcher: Searcher, other: dict[str, str], modes: list[str], progress: bool = False,
                      typos: bool = True, min_confidence: float | None = None) -> dict[str, dict[str, float]]:
    """Per mode, the share of `other` (questions written for another corpus, which this archive
    does not answer) that `searcher.search` answers with no results: {"no_results": ..., "questions": n}."""
    from tqdm import tqdm

    ids = list(other)
    vectors = searcher.encoder.encode([other[q] for q in ids], batch_size=64, progress=False)
    results = {}
    for mode in modes:
        empty = 0
        for qid, vector in tqdm(list(zip(ids, vectors)), desc=f"no-match {mode}", unit=" queries", disable=not progress):
            result = searcher.search(other[qid], k=10, mode=mode, passages=1, highlight=False, query_vector=vector,
                                     typos=typos, min_confidence=min_confidence)
            empty += not result.results
        results[mode] = {"no_results": round(empty / len(ids), 4), "questions": len(ids)}
    return results


def load_labelled(path: str | Path, label: str) -> list[tuple[Article, str]]:
    """Articles of a labelled JSONL archive with the value of their `label` field."""
    from indexer.writing import article_from_record

    labelled = []
    for number, record in _read_jsonl(Path(path)):
        if label not in record:
            raise DatasetError(f"{path}:{number}: no '{label}' field to judge related coverage by")
        article = article_from_record(record, f"{path}:{number}")
        if not isinstance(article, Article):
            raise DatasetError(str(article))
        labelled.append((article, str(record[label])))
    return labelled


def related_metrics(ranked_labels: list[str], label: str, relevant_total: int) -> dict[str, float]:
    """precision@5, precision@10 and average precision (over the list, normalised by
    min(relevant_total, list length)) of one related list, judged by label equality."""
    hits = [candidate == label for candidate in ranked_labels]
    found, precisions = 0, []
    for rank, hit in enumerate(hits, start=1):
        if hit:
            found += 1
            precisions.append(found / rank)
    denominator = min(relevant_total, len(hits)) or 1
    return {"precision@5": sum(hits[:5]) / 5, "precision@10": sum(hits[:10]) / 10,
            "map": sum(precisions) / denominator}


def evaluate_related(related_lists: dict[str, list[str]], labels: dict[str, str]) -> dict[str, float]:
    """Mean related-coverage metrics: `related_lists` maps each article to its related ids."""
    counts: dict[str, int] = {}
    for value in labels.values():
        counts[value] = counts.get(value, 0) + 1
    per_article = [related_metrics([labels[r] for r in ranked], labels[article], counts[labels[article]] - 1)
                   for article, ranked in related_lists.items()]
    return mean_metrics(per_article)


def dense_article_related(searcher: Searcher, article_id: str, k: int) -> list[str]:
    """Baseline: one vector per article (the mean of its passage vectors), nearest articles."""
    import numpy as np

    vector = searcher.reader.chunk_vectors([article_id])[article_id].mean(axis=0)
    vector /= np.linalg.norm(vector) or 1.0
    return _other_articles(searcher, searcher.reader.dense(vector, 50 * k), article_id, k)


def lexical_article_related(searcher: Searcher, article_id: str, k: int) -> list[str]:
    """Baseline: BM25 with the article's title and first words (`related.lead`) as the query."""
    from .related import lead

    article = searcher.article(article_id)
    # The trailing space ends the last word: a whole word, not the start of one being typed.
    return _other_articles(searcher, searcher.reader.lexical(lead(article["title"], article["text"]) + " ", 50 * k),
                           article_id, k)


def _other_articles(searcher: Searcher, ranked: list[tuple[int, float]], article_id: str, k: int) -> list[str]:
    article_of = searcher.reader.article_of([chunk for chunk, _ in ranked])
    seen: list[str] = []
    for chunk, _ in ranked:
        other = article_of.get(chunk)
        if other and other != article_id and other not in seen:
            seen.append(other)
            if len(seen) == k:
                break
    return seen


def evaluate_related_modes(searcher: Searcher, labels: dict[str, str], k: int, max_articles: int | None = None,
                           progress: bool = False) -> dict:
    """Related-coverage metrics of `searcher.related`, with dense-only and BM25-only baselines
    measured on the same articles: {"precision@5", "precision@10", "map", "articles", "baselines"}."""
    from tqdm import tqdm

    judged = sorted(labels)
    if max_articles and max_articles < len(judged):
        judged = sorted(random.Random(13).sample(judged, max_articles))
    methods = {
        # The ranking of related coverage (scope "similar"); the set is judged by `evaluate_related_sets`.
        "default": lambda a: [hit.article_id for hit in searcher.related(a, k, "similar")],
        "dense": lambda a: dense_article_related(searcher, a, k),
        "lexical": lambda a: lexical_article_related(searcher, a, k),
    }
    scores = {}
    for name, method in methods.items():
        lists = {a: method(a) for a in tqdm(judged, desc=f"related {name}", unit=" articles", disable=not progress)}
        scores[name] = evaluate_related(lists, labels)
    return {**scores["default"], "articles": len(judged),
            "baselines": {"dense": scores["dense"], "lexical": scores["lexical"]}}


# Reports kept per event in the related-set measures: an archive where each story has one report
# (whose right answer is an empty list), two, three, five, or all that the set holds.
KEEPS = (1, 2, 3, 5, None)


def kept_reports(labels: dict[str, str], keep: int | None, seed: int = 13) -> set[str]:
    """`keep` articles of each label (all for None), drawn with a fixed seed."""
    by_label: dict[str, list[str]] = {}
    for article, label in sorted(labels.items()):
        by_label.setdefault(label, []).append(article)
    rng = random.Random(seed)
    return {a for members in by_label.values()
            for a in (members if keep is None or keep >= len(members) else rng.sample(members, keep))}


def set_f1(found: set[str], gold: set[str]) -> float:
    """F1 of a related set against the other reports of the story; an empty list is right (1) for
    a report no other covers, and wrong (0) for one that has coverage.

    >>> set_f1(set(), set()), set_f1({"a"}, set()), set_f1({"a", "b"}, {"a"})
    (1.0, 0.0, 0.6666666666666666)
    """
    if not gold:
        return float(not found)
    return 2 * len(found & gold) / (len(found) + len(gold))


def related_set_f1(related_lists: dict[str, list[str]], labels: dict[str, str]) -> float:
    """Mean `set_f1` of each article's related set, the gold set being the other articles of
    `labels` (those indexed) with its label."""
    members: dict[str, set[str]] = {}
    for article, label in labels.items():
        members.setdefault(label, set()).add(article)
    return round(sum(set_f1(set(found), members[labels[a]] - {a}) for a, found in related_lists.items())
                 / max(len(related_lists), 1), 4)


def b_cubed(clusters: dict[str, str], labels: dict[str, str]) -> dict[str, float]:
    """B³ precision, recall and F1 of a clustering (`clusters`: article → cluster id) against
    `labels` (article → true class), over the articles of both.

    >>> b_cubed({"a": "1", "b": "1", "c": "2"}, {"a": "x", "b": "x", "c": "x"})["precision"]
    1.0
    """
    ids = [a for a in clusters if a in labels]
    by_cluster: dict[str, set[str]] = {}
    by_label: dict[str, set[str]] = {}
    for a in ids:
        by_cluster.setdefault(clusters[a], set()).add(a)
        by_label.setdefault(labels[a], set()).add(a)
    precision = sum(len(by_cluster[clusters[a]] & by_label[labels[a]]) / len(by_cluster[clusters[a]]) for a in ids)
    recall = sum(len(by_cluster[clusters[a]] & by_label[labels[a]]) / len(by_label[labels[a]]) for a in ids)
    precision, recall = precision / max(len(ids), 1), recall / max(len(ids), 1)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def evaluate_related_sets(index_dir: str | Path, labels: dict[str, str], cap: int, encoder,
                          progress: bool = False, similar_k: int = 10) -> dict:
    """Related coverage as a set, for each of `KEEPS`: on a copy of the index at `index_dir` (which
    holds the articles of `labels`) keeping that many articles of each label, the mean related-set
    F1 of scope "story" (at most `cap`) and, for comparison, of scope "similar" (`similar_k`
    neighbours, the list before sets), and the B³ scores of story threads assigned in id order as
    an index run assigns them. {"1": {"articles", "set_f1", "set_f1_similar", "b_cubed"}, ...}"""
    import shutil
    import tempfile

    from tqdm import tqdm

    from indexer.writing import IndexWriter

    from .stories import assign_stories

    results = {}
    for keep in KEEPS:
        kept = kept_reports(labels, keep)
        judged = sorted(kept)
        with tempfile.TemporaryDirectory(prefix="article-search-sets-") as folder:
            copy = Path(folder) / "index"
            shutil.copytree(index_dir, copy, ignore=shutil.ignore_patterns(".lock"))
            with IndexWriter(copy, encoder=encoder) as writer:
                writer.remove(sorted(set(labels) - kept))
                searcher = Searcher(copy, encoder=encoder)
                try:
                    story, similar = {}, {}
                    for a in tqdm(judged, desc=f"related sets, {keep or 'all'} kept", unit=" articles",
                                  disable=not progress):
                        story[a] = [hit.article_id for hit in searcher.related(a, cap)]
                        similar[a] = [hit.article_id for hit in searcher.related(a, similar_k, "similar")]
                    assign_stories(searcher.reader, writer, judged)
                finally:
                    searcher.close()
            threads = Searcher(copy, encoder=encoder)
            try:
                clusters = threads.reader.story_of(judged)
            finally:
                threads.close()
        kept_labels = {a: labels[a] for a in judged}
        results[str(keep or "all")] = {"articles": len(judged), "set_f1": related_set_f1(story, kept_labels),
                                       "set_f1_similar": related_set_f1(similar, kept_labels),
                                       "b_cubed": b_cubed(clusters, kept_labels)}
    return results

# -- match sets (issue 19): name and topic queries over an archive ----------------------------------

def load_set_queries(path: str | Path) -> list[dict]:
    """Queries of a JSONL file: `text`, `kind` (name, topic, ...) and `mentions`, the strings any
    one of which makes an article a match (case-insensitive, in its title or text)."""
    queries = []
    for number, record in _read_jsonl(Path(path)):
        mentions = record.get("mentions") if isinstance(record, dict) else None
        if not isinstance(record.get("text"), str) or not record["text"].strip() or not isinstance(mentions, list) \
                or not mentions or not all(isinstance(m, str) and m.strip() for m in mentions):
            raise DatasetError(f"{path}:{number}: expected an object with a non-empty 'text' and 'mentions', "
                               "a list of strings")
        queries.append({"text": record["text"], "kind": str(record.get("kind", "")),
                        "mentions": [m.lower() for m in mentions]})
    if not queries:
        raise DatasetError(f"{path} holds no queries")
    return queries


def set_metrics(newest: list[str], ranked: list[str], relevant: list[str], page: int = 10) -> dict[str, float]:
    """Newest-first precision and recall of one page (`newest`: the ids listed newest first;
    recall against the `page` newest of `relevant`, which is given newest first) and relevance-order
    R-precision (`ranked`, best first: the share of the first len(relevant) that are relevant).

    >>> set_metrics(["a", "x"], ["b", "a", "x"], ["a", "b", "c"])
    {'newest_precision': 0.5, 'newest_recall': 0.3333, 'r_precision': 0.6667}
    """
    wanted, listed = set(relevant[:page]), newest[:page]
    return {"newest_precision": round(sum(i in set(relevant) for i in listed) / len(listed), 4) if listed else 1.0,
            "newest_recall": round(len(wanted & set(listed)) / len(wanted), 4),
            "r_precision": round(len(set(ranked[:len(relevant)]) & set(relevant)) / len(relevant), 4)}


def evaluate_sets(searcher: Searcher, articles: list[Article], queries: list[dict], page: int = 10,
                  min_confidence: float | None = None) -> dict:
    """Per kind of query and over all: mean newest-first precision/recall of the first `page`,
    relevance-order R-precision, and the year facet counts a click contradicts (a year's count
    against the total, and the articles listed, of the same search filtered to that year).
    An article is relevant when its title or text mentions one of the query's `mentions`
    (a conservative proxy: a match the archive words otherwise is counted as wrong)."""
    dates = {a.id: a.published for a in articles}
    per_kind: dict[str, list[dict]] = {}
    contradicted = counted = 0
    for query in queries:
        relevant = [a.id for a in articles if any(m in f"{a.title}\n{a.text}".lower() for m in query["mentions"])]
        if not relevant:
            continue
        relevant.sort(key=lambda i: dates[i] or "", reverse=True)
        options = {"highlight": False, "passages": 1, "min_confidence": min_confidence}
        newest = searcher.search(query["text"], k=page, sort="newest", **options)
        ranked = searcher.search(query["text"], k=max(page, len(relevant)), facets=["year"], **options)
        metrics = set_metrics([h.article_id for h in newest.results], [h.article_id for h in ranked.results], relevant,
                              page)
        per_kind.setdefault(query["kind"], []).append(metrics)
        for value in ranked.facets["year"]:
            clicked = searcher.search(query["text"], k=100, date_from=f"{value.value}-01-01",
                                      date_to=f"{value.value}-12-31", **options)
            counted += 1
            contradicted += not (value.count == clicked.total == len(clicked.results))
    result = {kind: {**mean_metrics(rows), "queries": len(rows)} for kind, rows in per_kind.items()}
    everything = [row for rows in per_kind.values() for row in rows]
    result["all"] = {**mean_metrics(everything), "queries": len(everything)}
    result["facets"] = {"year_counts": counted, "contradicted_by_a_click": contradicted}
    return result
