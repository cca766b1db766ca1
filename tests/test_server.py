"""The HTTP server on loopback, driven by real clients: openai, raw HTTP, a load of threads, Chromium."""
import concurrent.futures
import re
import json
import os
from pathlib import Path

import httpx
import pytest

import rag
from rag.server import create_app

from .conftest import REPO
from .live_server import CHROMEDRIVER, CHROMIUM, LiveServer, chromium

pytestmark = pytest.mark.slow


def start(index, **server_overrides):
    overrides = {"generation__max_new_tokens": 48, **{f"server__{k}": v for k, v in server_overrides.items()}}
    settings = rag.Settings.load(env={}).with_overrides(**overrides)
    kb = rag.open(index, settings)
    return LiveServer(create_app(kb, settings.server))


@pytest.fixture(scope="module")
def live():
    server = start(REPO / "indexes" / "homeowner", queue_size=8)
    yield server
    server.stop()


def test_openai_client_plain_and_streaming(live):
    from openai import OpenAI

    client = OpenAI(base_url=f"{live.url}/v1", api_key="unused")
    assert [m.id for m in client.models.list().data] == ["rag-homeowner"]
    question = [{"role": "user", "content": "When can I ask to cancel private mortgage insurance?"}]
    completion = client.chat.completions.create(model="rag-homeowner", messages=question)
    extra = completion.model_dump()
    assert completion.choices[0].message.content and completion.choices[0].finish_reason == "stop"
    assert extra["refused"] is False and extra["citations"]
    # sources are shown from the corpus folder's name down, never as the server's absolute paths
    assert all(not c["source"].startswith("/") and (REPO / "corpora" / c["source"]).is_file()
               for c in extra["citations"])

    pieces, last = [], None
    for chunk in client.chat.completions.create(model="rag-homeowner", messages=question, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        last = chunk
    assert "".join(pieces) == completion.choices[0].message.content
    assert last.choices[0].finish_reason == "stop" and last.model_dump()["citations"] == extra["citations"]


def test_search_ask_and_health(live):
    health = httpx.get(f"{live.url}/healthz").json()
    assert health["status"] == "ok" and health["documents"] >= 40
    hits = httpx.post(f"{live.url}/search", json={"query": "escrow cushion", "k": 2}, timeout=120).json()["hits"]
    assert len(hits) == 2 and {"score", "source", "section", "page", "text"} <= set(hits[0])
    answer = httpx.post(f"{live.url}/ask", json={"question": "Who won the 1998 World Cup?"}, timeout=120).json()
    assert answer["refused"] is True and answer["citations"] == []


@pytest.mark.parametrize("body, status, param", [
    (b"{not json", 400, None),
    (b"[1, 2]", 400, None),
    (json.dumps({"messages": []}).encode(), 400, "messages"),
    (json.dumps({"messages": [{"role": "assistant", "content": "hi"}]}).encode(), 400, "messages"),
    (json.dumps({"messages": [{"role": "user", "content": "x" * 3000}]}).encode(), 400, "messages"),
    (json.dumps({"messages": [{"role": "user", "content": "hi"}], "stream": "yes"}).encode(), 400, "stream"),
    (b"{" + b" " * 70000 + b"}", 413, None),
])
def test_bad_requests_get_openai_shaped_4xx(live, body, status, param):
    response = httpx.post(f"{live.url}/v1/chat/completions", content=body,
                          headers={"Content-Type": "application/json"})
    assert response.status_code == status
    error = response.json()["error"]
    assert error["message"] and error["type"] == "invalid_request_error" and error["param"] == param


def test_api_key_is_enforced(tmp_path):
    server = start(REPO / "indexes" / "homeowner", api_key="s3cret")
    try:
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        denied = httpx.post(f"{server.url}/search", json={"query": "escrow"})
        assert denied.status_code == 401 and denied.json()["error"]["type"] == "authentication_error"
        allowed = httpx.post(f"{server.url}/search", json={"query": "escrow"},  # may load the embedder
                             headers={"Authorization": "Bearer s3cret"}, timeout=120)
        assert allowed.status_code == 200
    finally:
        server.stop()


def test_load_never_5xx_and_every_answer_complete():
    server = start(REPO / "indexes" / "homeowner", queue_size=4, queue_timeout_s=20)
    questions = ["What is the capital of France?", "How do I bake sourdough bread?",
                 "Who painted the Mona Lisa?", "What is an escrow account?"]
    statuses, incomplete = [], []

    def client(number: int):
        with httpx.Client(base_url=server.url, timeout=120) as http:
            for request in range(10):
                question = questions[(number + request) % len(questions)]
                response = http.post("/v1/chat/completions",
                                     json={"model": "rag", "messages": [{"role": "user", "content": question}]})
                statuses.append(response.status_code)
                if response.status_code == 200:
                    choice = response.json()["choices"][0]
                    if not choice["message"]["content"] or choice["finish_reason"] != "stop":
                        incomplete.append(response.text)
                elif response.status_code == 429:
                    assert int(response.headers["Retry-After"]) >= 1

    try:
        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            list(pool.map(client, range(20)))
    finally:
        server.stop()
    assert len(statuses) == 200
    assert not [s for s in statuses if s >= 500] and set(statuses) <= {200, 429}
    assert statuses.count(200) >= 20 and not incomplete


def test_refreshed_index_is_picked_up_without_restart(small_corpus, tmp_path):
    index = tmp_path / "idx"
    rag.ingest([small_corpus], index)
    server = start(index)
    try:
        assert httpx.get(f"{server.url}/healthz").json()["version"] == "v000001"
        (small_corpus / "radon.md").write_text("# Radon\n\nRadon mitigation fans vent soil gas above the roof.\n")
        rag.ingest([small_corpus], index)
        assert httpx.get(f"{server.url}/healthz").json()["version"] == "v000002"
        hits = httpx.post(f"{server.url}/search", json={"query": "radon mitigation fan", "k": 1},
                          timeout=120).json()["hits"]
        assert hits[0]["source"].endswith("radon.md")
    finally:
        server.stop()




@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                    reason="needs Debian's chromium and chromium-driver (.ci/run installs them)")
def test_chat_page_in_chromium(live, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = chromium(tmp_path / "profile")
    try:
        driver.get(live.url + "/")
        driver.find_element(By.ID, "question").send_keys("What does title insurance protect against?")
        driver.find_element(By.ID, "send").click()
        WebDriverWait(driver, 180).until(lambda d: d.find_elements(By.CSS_SELECTOR, "article[data-done=true]"))
        turn = driver.find_element(By.CSS_SELECTOR, "article.turn")
        assert turn.find_element(By.CSS_SELECTOR, ".answer").text.strip()
        source = turn.find_element(By.CSS_SELECTOR, ".sources button")
        assert re.match(r"\[\d+\] ", source.text)
        assert any(ext in source.text for ext in (".md", ".txt", ".html", ".pdf"))
        source.click()
        assert turn.find_element(By.CSS_SELECTOR, ".sources blockquote").text.strip()
        shot = Path(os.environ.get("CHAT_PAGE_SCREENSHOT", tmp_path / "chat.png"))
        driver.save_screenshot(str(shot))
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000

        driver.find_element(By.ID, "question").send_keys("Who won the 1998 World Cup?")
        driver.find_element(By.ID, "send").click()
        WebDriverWait(driver, 120).until(
            lambda d: len(d.find_elements(By.CSS_SELECTOR, "article[data-done=true]")) == 2)
        refused = driver.find_elements(By.CSS_SELECTOR, "article.turn")[1]
        assert "refused" in refused.get_attribute("class") and "don't say" in refused.text
    finally:
        driver.quit()
