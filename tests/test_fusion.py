"""Retrieval's fusion (rag.fusion): the learned ranker — fitted, stored, read back, ordering real index
candidates — reciprocal-rank fusion, and the gate reading the passages closest in meaning whatever the order."""
import json

import numpy as np
import pytest

from rag.answering.gate import Gate
from rag.errors import ConfigError, RagError
from rag.evidence import FEATURES as EVIDENCE_FEATURES
from rag.evidence import EvidenceModel
from rag.fusion import (FEATURES, Candidate, LearnedRanker, RankingExample, RankingQuestion, ReciprocalRankFusion,
                        fit_ranker, order, ranking_examples, read_ranking_questions)
from rag.index import Snapshot
from rag.policy import AnsweringPolicy
from rag.retrieval import Retriever
from rag.settings import RetrievalSettings, Settings, VectorSettings

from .conftest import hit
from .test_sharded_index import QueryEmbedder, _write_version

WORDS = ("roof gutter sump pump radon furnace filter escrow deductible mortgage lien permit mold attic "
         "insulation chimney flue warranty appraisal easement setback").split()


def synthetic_question(rng: np.random.Generator) -> RankingExample:
    """Ten candidates; the answering one is a little closer in meaning and holds more of the question's words,
    the others are spread widely (BM25 random), so no single feature always tells."""
    asked = list(rng.choice(WORDS, size=4, replace=False))
    question = "what about " + " ".join(asked)
    candidates, answering = [], []
    right = int(rng.integers(10))
    for i in range(10):
        good = i == right
        held = asked if good else list(rng.choice(asked, size=int(rng.integers(0, 3)), replace=False))
        filler = list(rng.choice(WORDS, size=20))
        candidates.append(Candidate(i, float(rng.normal(0.62 if good else 0.5, 0.06)), float(rng.uniform(0, 9)), i,
                                    i, " ".join(held + filler), "Heading"))
        answering.append(good)
    return RankingExample(question, tuple(candidates), tuple(answering))


def test_a_fitted_ranker_puts_the_answering_passage_first_on_questions_it_never_saw():
    rng = np.random.default_rng(3)
    ranker = fit_ranker([synthetic_question(rng) for _ in range(60)])
    unseen = [synthetic_question(rng) for _ in range(60)]
    first = [example.answering[order(example.question, example.candidates, ranker)[0][0].chunk_id]
             for example in unseen]
    assert np.mean(first) >= 0.8  # one in ten by chance
    weights = dict(zip(FEATURES, ranker.weights))
    assert weights["similarity"] > 0 and weights["question_coverage"] > 0
    assert ranker.fitted_on["questions"] == 60 and ranker.fitted_on["pairs"] == 60 * 9


def test_fitting_needs_a_question_with_both_kinds_of_candidate():
    only_right = RankingExample("q", (Candidate(1, 0.5, 1.0, 0, 0, "a b"),), (True,))
    with pytest.raises(ValueError, match="no training question"):
        fit_ranker([only_right])


def test_reciprocal_rank_fusion_reads_ranks_only():
    rrf = ReciprocalRankFusion(rrf_k=60, lexical_weight=1.0)
    both = Candidate(1, 0.1, 0.5, dense_rank=3, lexical_rank=3)
    dense_only = Candidate(2, 0.9, 0.0, dense_rank=0, lexical_rank=None)
    lexical_only = Candidate(3, 0.2, 99.0, dense_rank=None, lexical_rank=0)
    scores = rrf.scores("q", [both, dense_only, lexical_only])
    assert scores == pytest.approx([2 / 64, 1 / 61, 1 / 61])
    assert [c.chunk_id for c, _ in order("q", [lexical_only, dense_only, both], rrf)] == [1, 2, 3]  # tie: dense first


def test_the_ranker_file_round_trips_and_a_wrong_one_is_a_one_line_config_error(tmp_path):
    path = tmp_path / "ranker.json"
    LearnedRanker([1.0, 0.5, 0.25, 0.125, 0.0625], {"questions": 3}).save(path)
    loaded = LearnedRanker.load(path)
    assert loaded.weights == [1.0, 0.5, 0.25, 0.125, 0.0625] and loaded.fitted_on == {"questions": 3}
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"features": ["cosine"], "weights": [1.0], "bias": 0.0}))
    for bad, message in ((other, "features"), (tmp_path / "missing.json", "no file")):
        with pytest.raises(ConfigError, match=message) as caught:
            LearnedRanker.load(bad)
        assert "retrieval.ranker" in str(caught.value) and "\n" not in str(caught.value)


def test_the_bundled_ranker_reads_this_versions_features():
    bundled = LearnedRanker.load()
    assert len(bundled.weights) == len(FEATURES) and bundled.fitted_on["questions"] > 300
    assert not any("questions.jsonl" in name or "bench/" in name for name in bundled.fitted_on["data"])


def test_ranking_questions_are_training_side_only(tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"question": "Who runs escrow?", "support": "The servicer runs the escrow account.",
                                 "doc": "e.md"}) + "\n" +
                     json.dumps({"question": "What is the fee in Ohio?"}) + "\n")  # unanswerable: skipped
    questions = tmp_path / "questions.jsonl"
    questions.write_text(json.dumps({"question": "How long is a rate lock?", "answers": ["30 to 60 days"],
                                     "gold_docs": ["r.html"]}) + "\n")
    read = read_ranking_questions(pairs) + read_ranking_questions(questions)
    assert [q.question for q in read] == ["Who runs escrow?", "How long is a rate lock?"]
    assert read[0].answered_by("Escrow. The loan servicer runs the escrow account for you.")
    assert not read[0].answered_by("Escrow accounts hold tax money.")
    assert read[1].answered_by("Locks last 30 to 60 days.") and not read[1].answered_by("Locks last 30 days.")

    split = tmp_path / "split.jsonl"
    split.write_text(json.dumps({"question": "Q?", "answers": ["a"], "gold_docs": ["x"], "split": "tune"}) + "\n")
    with pytest.raises(RagError, match="split.jsonl:1: an evaluation question"):
        read_ranking_questions(split)
    with pytest.raises(RagError, match="an evaluation question"):
        read_ranking_questions(pairs, evaluation={"who runs escrow?"})


def small_index(tmp_path):
    rng = np.random.default_rng(6)
    texts = [" ".join(rng.choice(WORDS, size=8)) + f" clause {n}" for n in range(200)]
    texts += ["a sealed sump pump keeps radon gas out of the attic", "sump sump sump sump pump pump"]
    embedder = QueryEmbedder()
    return Snapshot(_write_version(tmp_path / "idx" / "v000001", texts, embedder, VectorSettings())), embedder


def test_the_learned_ranker_orders_real_index_candidates_by_its_score(tmp_path):
    snapshot, embedder = small_index(tmp_path)
    query = "does a sump pump keep radon out of the attic"
    learned = Retriever(snapshot, embedder, RetrievalSettings(k=8, fusion="learned"))
    hits = learned.search(query)
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True) and len(hits) == 8
    assert hits[0].text == "a sealed sump pump keeps radon gas out of the attic"
    # A ranker that reads only the cosine gives dense search's order.
    by_cosine = LearnedRanker([1.0, 0.0, 0.0, 0.0, 0.0])
    hybrid = Retriever(snapshot, embedder, RetrievalSettings(k=8), ranker=by_cosine).search(query)
    dense = Retriever(snapshot, embedder, RetrievalSettings(k=8, hybrid=False)).search(query)
    assert [h.chunk_id for h in hybrid] == [h.chunk_id for h in dense]
    # And every candidate the ranker read came with its text and headings.
    candidates, rows = learned.candidates(query, embedder.embed_query(query), 50)
    assert candidates and all(c.text and c.heading for c in candidates)
    assert set(rows) == {c.chunk_id for c in candidates}


def test_examples_label_the_candidates_that_answer(tmp_path):
    snapshot, embedder = small_index(tmp_path)
    retriever = Retriever(snapshot, embedder, RetrievalSettings())
    question = RankingQuestion("what keeps radon out?", support="A sealed sump pump keeps radon gas out of the attic.")
    [example] = ranking_examples([question], lambda q: retriever.candidates(q, embedder.embed_query(q), 50)[0])
    answering = [c.text for c, a in zip(example.candidates, example.answering) if a]
    assert answering == ["a sealed sump pump keeps radon gas out of the attic"]


def test_an_unknown_fusion_is_a_one_line_config_error():
    with pytest.raises(ConfigError, match="retrieval.fusion must be one of learned, rrf"):
        Settings.load(env={}).with_overrides(retrieval__fusion="borda")


def test_the_gate_reads_the_passages_closest_in_meaning_not_the_first_ranked():
    model = EvidenceModel([10.0] + [0.0] * (len(EVIDENCE_FEATURES) - 1), -6.0, 0.5)  # top similarity alone
    found = [hit("far one", n=1, similarity=0.3), hit("far two", n=2, similarity=0.35),
             hit("close", n=3, similarity=0.8)]

    def search(query, k):
        return found[:k]

    wide = Gate(search, model, 2, 2, AnsweringPolicy(evidence_pool=12))("a question?")
    assert wide.passed and [h.text for h in wide.hits] == ["far one", "far two"]  # answering keeps the order
    narrow = Gate(search, model, 2, 2, AnsweringPolicy(evidence_pool=2))("a question?")
    assert not narrow.passed and "below the threshold" in narrow.refusal
