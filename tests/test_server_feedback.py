"""Answer ids, POST /feedback and GET /stats over real HTTP, against a real knowledge base and interaction log
with stand-in models (tests/fake_model_server.py): no model is loaded."""
import concurrent.futures
import json
import sqlite3

import httpx
import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from .fake_model_server import build_index, serving

CHAT = "/v1/chat/completions"
IN_CORPUS = "What does the servicer pay from an escrow account?"
OUTSIDE = "Who won the 1998 World Cup?"


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    return build_index(tmp_path_factory.mktemp("feedback-index"))


@pytest.fixture(scope="module")
def logged(index, tmp_path_factory):
    log = tmp_path_factory.mktemp("feedback-log") / "interactions.sqlite3"
    with serving(index, log, queue_size=64) as (kb, live):
        yield kb, live


def chat(question: str, **extra) -> dict:
    return {"model": "rag", "messages": [{"role": "user", "content": question}], **extra}


def streamed_events(response: httpx.Response) -> list[dict]:
    return [json.loads(line[6:]) for line in response.text.splitlines()
            if line.startswith("data: ") and line != "data: [DONE]"]


def ask(http: httpx.Client, question: str = IN_CORPUS) -> str:
    response = http.post("/ask", json={"question": question})
    assert response.status_code == 200, response.text[:300]
    return response.json()["id"]


def test_every_answer_is_logged_and_returned_with_its_id(logged):
    kb, live = logged
    with httpx.Client(base_url=live.url, timeout=60) as http:
        answer = http.post("/ask", json={"question": IN_CORPUS}).json()
        plain = http.post(CHAT, json=chat(IN_CORPUS)).json()
        stream = streamed_events(http.post(CHAT, json=chat(IN_CORPUS, stream=True)))
    ids = [answer["id"], plain["id"], stream[-1]["id"]]
    assert len(set(ids)) == 3 and all(ids)
    assert stream[-1]["choices"][0]["finish_reason"] == "stop"  # the final chunk, which carries the log id
    for interaction_id in ids:
        logged_answer = kb.log.get(interaction_id)
        assert logged_answer.channel == "http" and logged_answer.question == IN_CORPUS
    assert kb.log.get(plain["id"]).answer == plain["choices"][0]["message"]["content"]
    assert kb.log.get(answer["id"]).answer == answer["text"]


def test_the_openai_client_parses_completions_that_carry_the_log_id(logged):
    from openai import OpenAI

    kb, live = logged
    client = OpenAI(base_url=f"{live.url}/v1", api_key="unused")
    completion = client.chat.completions.create(model="rag", messages=chat(IN_CORPUS)["messages"])
    assert kb.log.get(completion.id).answer == completion.choices[0].message.content
    chunks = list(client.chat.completions.create(model="rag", messages=chat(OUTSIDE)["messages"], stream=True))
    assert chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].model_dump()["refused"] is True
    assert kb.log.get(chunks[-1].id).refused is True


def test_feedback_is_stored_and_repeated_feedback_keeps_the_latest(logged):
    kb, live = logged
    with httpx.Client(base_url=live.url, timeout=60) as http:
        interaction_id = ask(http)
        first = http.post("/feedback", json={"id": interaction_id, "rating": "bad", "note": "too vague"})
        assert first.status_code == 200, first.text
        assert first.json() == {"id": interaction_id, "good": False, "correction": None, "source": None,
                                "note": "too vague", "count": 1}
        second = http.post("/feedback", json={"id": interaction_id, "rating": "good",
                                              "correction": "The servicer pays property taxes and insurance.",
                                              "source": "corpus/escrow.md"})
        assert second.status_code == 200, second.text
    verdict = kb.log.get(interaction_id).feedback
    assert (verdict.good, verdict.count, verdict.note) == (True, 2, "too vague")
    assert verdict.correction == "The servicer pays property taxes and insurance."
    assert verdict.source == "corpus/escrow.md"


def test_an_unknown_id_is_a_404_that_shows_no_server_path(logged, tmp_path_factory):
    _, live = logged
    response = httpx.post(f"{live.url}/feedback", json={"id": "0123456789abcdef", "rating": "good"}, timeout=30)
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "unknown_id" and error["param"] == "id" and "0123456789abcdef" in error["message"]
    assert "sqlite3" not in error["message"] and str(tmp_path_factory.getbasetemp()) not in response.text


@pytest.mark.parametrize("fields, named", [
    ({"rating": "meh"}, "rating"),
    ({"rating": True}, "rating"),
    ({"good": True}, "good"),  # the CLI's word, not this API's: named, not silently dropped
    ({"correction": 5}, "correction"),
    ({"note": ["a"]}, "note"),
    ({}, "correction"),  # nothing to record: the message lists what may be given
    ({"correction": "x" * 5000}, "correction"),
    ({"correction": "Taxes.", "source": "escrow.md#0"}, "source"),
    ({"source": "escrow.md"}, "source"),  # a source without the correction it supports
])
def test_bad_feedback_fields_are_400s_naming_the_field(logged, fields, named):
    _, live = logged
    with httpx.Client(base_url=live.url, timeout=60) as http:
        response = http.post("/feedback", json={"id": ask(http), **fields})
    assert response.status_code == 400, response.text
    assert named in response.json()["error"]["message"], response.text


def test_a_missing_or_malformed_id_is_a_400(logged):
    _, live = logged
    for body in ({"rating": "good"}, {"id": 5, "rating": "good"}, {"id": None, "rating": "good"}):
        response = httpx.post(f"{live.url}/feedback", json=body, timeout=30)
        assert response.status_code == 400 and response.json()["error"]["param"] == "id", response.text


def test_stats_group_the_refused_questions(logged):
    _, live = logged
    with httpx.Client(base_url=live.url, timeout=60) as http:
        for question in (OUTSIDE, "Who won the World Cup in 1998?", "How do I bake sourdough bread?"):
            assert http.post("/ask", json={"question": question}).json()["refused"] is True
        figures = http.get("/stats", params={"since": "7d"})
        assert figures.status_code == 200, figures.text
        everything = http.get("/stats").json()
    stats = figures.json()
    assert stats["questions"] >= 3 and stats["refused"] >= 3
    assert everything["questions"] == stats["questions"]
    world_cup = [gap for gap in stats["gaps"] if any("World Cup" in q for q in gap["examples"])]
    assert len(world_cup) == 1 and world_cup[0]["count"] >= 2  # both wordings, one gap
    assert all(not d["source"].startswith("/") for d in stats["most_cited"])
    assert all("/" not in a["adapter"] for a in stats["adapters"])


@pytest.mark.parametrize("since", ["seven days", "7y", "-3d", "99999999d", "999999w", "2026-13-45", ""])
def test_a_bad_since_is_a_400(logged, since):
    _, live = logged
    response = httpx.get(f"{live.url}/stats", params={"since": since}, timeout=30)
    if since == "":
        assert response.status_code == 200  # empty: no lower bound, like leaving it out
        return
    assert response.status_code == 400 and response.json()["error"]["param"] == "since", response.text


def test_the_api_key_guards_feedback_and_stats(index, tmp_path):
    with serving(index, tmp_path / "log.sqlite3", api_key="s3cret") as (_, live):
        key = {"Authorization": "Bearer s3cret"}
        with httpx.Client(base_url=live.url, timeout=60) as http:
            interaction_id = http.post("/ask", json={"question": IN_CORPUS}, headers=key).json()["id"]
            for request in (lambda h: http.post("/feedback", json={"id": interaction_id, "rating": "good"}, headers=h),
                            lambda h: http.get("/stats", params={"since": "1d"}, headers=h)):
                for wrong in ({}, {"Authorization": "Bearer nope"}):
                    denied = request(wrong)
                    assert denied.status_code == 401 and denied.json()["error"]["code"] == "invalid_api_key"
                assert request(key).status_code == 200


def test_with_logging_off_answers_have_no_id_and_feedback_is_a_clear_409(index):
    with serving(index, None) as (kb, live):
        assert kb.log is None
        with httpx.Client(base_url=live.url, timeout=60) as http:
            assert http.post("/ask", json={"question": IN_CORPUS}).json()["id"] is None
            assert http.post(CHAT, json=chat(IN_CORPUS)).json()["id"].startswith("chatcmpl-")
            for response in (http.post("/feedback", json={"id": "0123456789abcdef", "rating": "good"}),
                             http.get("/stats")):
                assert response.status_code == 409, response.text
                error = response.json()["error"]
                assert error["code"] == "log_off" and "log.enabled" in error["message"]


def test_fifty_concurrent_clients_lose_no_answer_and_no_feedback(logged):
    kb, live = logged
    before = kb.log.count()

    def client(number: int) -> list[str]:
        ids = []
        with httpx.Client(base_url=live.url, timeout=120) as http:
            for turn in range(3):
                if (number + turn) % 2:
                    response = http.post(CHAT, json=chat(f"{IN_CORPUS} ({number}.{turn})"))
                else:
                    response = http.post("/ask", json={"question": f"{OUTSIDE} ({number}.{turn})"})
                assert response.status_code == 200, response.text[:300]
                interaction_id = response.json()["id"]
                rating = "good" if turn % 2 else "bad"
                judged = http.post("/feedback", json={"id": interaction_id, "rating": rating,
                                                      "note": f"client {number}"})
                assert judged.status_code == 200, judged.text[:300]
                ids.append(interaction_id)
        return ids

    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        ids = [i for batch in pool.map(client, range(50)) for i in batch]
    assert len(set(ids)) == 150 and kb.log.count() == before + 150
    with sqlite3.connect(kb.log.path) as db:  # a separate reader sees every committed row
        events = dict(db.execute(f"SELECT interaction_id, count(*) FROM feedback WHERE interaction_id IN "
                                 f"({', '.join('?' * len(ids))}) GROUP BY 1", ids).fetchall())
    assert events == {i: 1 for i in ids}
    assert all(kb.log.get(i).feedback.note.startswith("client ") for i in ids)


# Any JSON value, in each field /feedback reads, or as the whole body.
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=12)
TEXTS = st.text(max_size=40) | st.sampled_from(["", " ", "#", "a#", "#3", "a.md#0", "a.md#page=2", "a.md#-1",
                                                "\x00", "x" * 5000, "a.md#99999999999999999999"])


def hostile_bodies(known_id: str):
    field = st.sampled_from(["rating", "correction", "source", "note", "id", "good"])
    return st.one_of(
        JSON,
        JSON.map(lambda v: {"id": v}),
        st.tuples(field, JSON).map(lambda fv: {"id": known_id, fv[0]: fv[1]}),
        st.tuples(field, TEXTS).map(lambda fv: {"id": known_id, fv[0]: fv[1]}),
        st.tuples(TEXTS, TEXTS).map(lambda cs: {"id": known_id, "correction": cs[0], "source": cs[1]}),
        st.tuples(TEXTS, st.sampled_from(["good", "bad", None])).map(
            lambda nr: {"id": known_id, "note": nr[0], "rating": nr[1]}),
        TEXTS.map(lambda i: {"id": i, "rating": "good"}),
        st.binary(max_size=200),
    )


def test_hostile_feedback_bodies_get_no_5xx(logged):
    kb, live = logged
    statuses = []
    with httpx.Client(base_url=live.url, timeout=60) as http:
        known = ask(http)
        for raw in (b'{"id": "\\ud800", "rating": "good"}', b'{"id": "x", "note": "\\udcff"}', b"[" * 30000,
                    b'{"id": ' + b"1" * 5000 + b"}", b"", b"null"):
            response = http.post("/feedback", content=raw, headers={"Content-Type": "application/json"})
            assert 400 <= response.status_code < 500 and response.json()["error"]["message"], raw[:40]

        @hypothesis_settings(max_examples=400, derandomize=True, deadline=None, database=None,
                             suppress_health_check=list(HealthCheck))
        @given(hostile_bodies(known))
        def one(body):
            content = body if isinstance(body, bytes) else json.dumps(body).encode()
            response = http.post("/feedback", content=content, headers={"Content-Type": "application/json"})
            statuses.append(response.status_code)
            assert response.status_code < 500, (body, response.text[:300])
            assert response.status_code in (200, 400, 404, 413), (body, response.text[:300])
            if response.status_code >= 400:
                assert response.json()["error"]["message"]

        one()
        for since in ("7d", "\x00", "9" * 50 + "d", "2026-01-01T00:00:00+99:00", "🏠"):
            assert http.get("/stats", params={"since": since}).status_code < 500
    assert statuses.count(200) >= 10 and statuses.count(400) >= 100  # both paths were exercised
    assert kb.log.get(known).feedback.count >= 10
