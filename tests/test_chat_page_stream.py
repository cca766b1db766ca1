"""The chat page shows an answer's first sentence while the rest is still being worked out (Chromium).

The server is real (bundled index, real embedder, the real answering pipeline); the generator replays a
fixed reply and blocks until the test releases it, so the page is checked while the answer is unfinished."""
import pytest

import rag
from rag.answering import Answerer
from rag.server import create_app

from .conftest import REPO, evidence
from .live_server import CHROMEDRIVER, CHROMIUM, LiveServer, chromium
from .test_stream_first import WAIT, BlockingGenerator

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER), reason="needs Debian's chromium and chromium-driver (.ci/run installs them)")]


@pytest.fixture()
def blocked_server():
    settings = rag.Settings.load(env={})
    kb = rag.open(REPO / "indexes" / "homeowner", settings)
    generator = BlockingGenerator("You can ask your lender to cancel it once you reach 20 percent equity [1].")
    kb.__dict__["answerer"] = Answerer(kb.search, kb.embedder.embed, generator, evidence(0.0), k=4,
                                       context_tokens=2048, max_new_tokens=100, candidates=8,
                                       policy=settings.answering)
    server = LiveServer(create_app(kb, settings.server))
    try:
        yield server, generator
    finally:
        generator.released.set()
        server.stop()


def test_the_chat_page_shows_the_first_sentence_before_the_answer_is_done(blocked_server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    server, generator = blocked_server
    driver = chromium(tmp_path / "profile")
    try:
        driver.get(server.url + "/")
        driver.find_element(By.ID, "question").send_keys("When can I cancel private mortgage insurance?")
        driver.find_element(By.ID, "send").click()

        def first_sentence(d):
            text = d.find_element(By.CSS_SELECTOR, "article.turn .answer").text
            return text if text.startswith("The documents say: “") else None

        shown = WebDriverWait(driver, 3 * WAIT).until(first_sentence)
        turn = driver.find_element(By.CSS_SELECTOR, "article.turn")
        assert turn.get_attribute("data-done") is None and not generator.released.is_set()
        assert shown.rstrip().endswith("[1]")  # the lead quote, cited

        generator.released.set()
        WebDriverWait(driver, 3 * WAIT).until(lambda d: d.find_elements(By.CSS_SELECTOR, "article[data-done=true]"))
        final = driver.find_element(By.CSS_SELECTOR, "article.turn .answer").text
        assert final.startswith(shown.rstrip()) and len(final) > len(shown)  # kept, then added to
        assert "refused" not in turn.get_attribute("class")
    finally:
        driver.quit()
