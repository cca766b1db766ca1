"""The chat page's thumbs and "suggest a better answer" box, in real Chromium, against a real knowledge base and
interaction log with stand-in models (tests/fake_model_server.py)."""
import pytest

from .fake_model_server import build_index, serving
from .live_server import CHROMEDRIVER, CHROMIUM, chromium

pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="needs Debian's chromium and chromium-driver (.ci/run installs them)")
QUESTION = "What does the servicer pay from an escrow account?"


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    return build_index(tmp_path_factory.mktemp("page-index"))


@pytest.fixture()
def driver(tmp_path):
    browser = chromium(tmp_path / "profile")
    yield browser
    browser.quit()


def wait(driver, condition, seconds=30):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds).until(condition)


def ask(driver, question=QUESTION):
    """Ask on the page; the finished turn."""
    from selenium.webdriver.common.by import By

    before = len(driver.find_elements(By.CSS_SELECTOR, "article[data-done=true]"))
    driver.find_element(By.ID, "question").send_keys(question)
    driver.find_element(By.ID, "send").click()
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "article[data-done=true]")) > before)
    return driver.find_elements(By.CSS_SELECTOR, "article[data-done=true]")[-1]


def state_of(turn) -> tuple[str, str]:
    from selenium.webdriver.common.by import By

    state = turn.find_element(By.CSS_SELECTOR, ".feedback-state")
    return state.get_attribute("data-state") or "", state.text


def wait_state(driver, turn, wanted: str) -> str:
    """The feedback state's text once it settles (sent or error), which must be `wanted`."""
    wait(driver, lambda d: state_of(turn)[0] in ("sent", "error"))
    kind, text = state_of(turn)
    assert kind == wanted, text
    return text


def test_thumbs_and_a_suggested_answer_reach_the_log(index, tmp_path, driver):
    from selenium.webdriver.common.by import By

    with serving(index, tmp_path / "log.sqlite3") as (kb, live):
        driver.get(live.url + "/")
        turn = ask(driver)
        group = turn.find_element(By.CSS_SELECTOR, ".feedback[role=group]")
        assert group.get_attribute("aria-label") == "Feedback on this answer"
        good = group.find_element(By.CSS_SELECTOR, "button[aria-label='Good answer']")
        bad = group.find_element(By.CSS_SELECTOR, "button[aria-label='Bad answer']")
        assert good.get_attribute("aria-pressed") == bad.get_attribute("aria-pressed") == "false"
        assert kb.log.count() == 1 and kb.log.judged() == []
        (answered,) = [kb.log.get(i) for i in _ids(kb)]
        assert answered.channel == "http" and answered.question == QUESTION

        good.click()
        assert "sent" in wait_state(driver, turn, "sent").lower()
        assert good.get_attribute("aria-pressed") == "true" and bad.get_attribute("aria-pressed") == "false"
        assert kb.log.get(answered.id).feedback.good is True

        bad.click()  # changing one's mind: the latest verdict is kept, both are counted
        wait(driver, lambda d: bad.get_attribute("aria-pressed") == "true")
        assert good.get_attribute("aria-pressed") == "false"
        verdict = kb.log.get(answered.id).feedback
        assert (verdict.good, verdict.count) == (False, 2)

        suggest = group.find_element(By.CSS_SELECTOR, "button.suggest")
        box = turn.find_element(By.ID, suggest.get_attribute("aria-controls"))
        assert not box.is_displayed() and suggest.get_attribute("aria-expanded") == "false"
        suggest.click()
        assert box.is_displayed() and suggest.get_attribute("aria-expanded") == "true"
        text = box.find_element(By.CSS_SELECTOR, "textarea")
        assert driver.switch_to.active_element == text  # focus moves into the box it opened
        labels = {label.get_attribute("for"): label.text for label in box.find_elements(By.TAG_NAME, "label")}
        assert labels[text.get_attribute("id")] == "A better answer"
        source = box.find_element(By.CSS_SELECTOR, "input")
        assert "Source" in labels[source.get_attribute("id")]

        box.find_element(By.CSS_SELECTOR, "button[type=submit]").click()  # empty: the browser asks for text
        assert kb.log.get(answered.id).feedback.count == 2 and box.is_displayed()
        text.send_keys("The servicer pays property taxes and homeowners insurance from it.")
        source.send_keys("corpus/escrow.md")
        box.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        assert "suggestion sent" in wait_state(driver, turn, "sent").lower()
        assert not box.is_displayed() and suggest.get_attribute("aria-expanded") == "false"
        verdict = kb.log.get(answered.id).feedback
        assert verdict.correction == "The servicer pays property taxes and homeowners insurance from it."
        assert (verdict.source, verdict.good, verdict.count) == ("corpus/escrow.md", False, 3)

        refused = ask(driver, "Who won the 1998 World Cup?")  # a refusal can be judged and answered too
        assert "refused" in refused.get_attribute("class")
        refused.find_element(By.CSS_SELECTOR, "button[aria-label='Bad answer']").click()
        wait_state(driver, refused, "sent")
        assert sum(1 for i in kb.log.judged() if i.refused and i.feedback.good is False) == 1


def _ids(kb) -> list[str]:
    import sqlite3

    with sqlite3.connect(kb.log.path) as db:
        return [row[0] for row in db.execute("SELECT id FROM interactions ORDER BY time")]


def test_a_bad_source_and_a_server_without_a_log_show_the_error(index, tmp_path, driver):
    from selenium.webdriver.common.by import By

    with serving(index, tmp_path / "log.sqlite3") as (kb, live):
        driver.get(live.url + "/")
        turn = ask(driver)
        turn.find_element(By.CSS_SELECTOR, "button.suggest").click()
        turn.find_element(By.CSS_SELECTOR, ".correction textarea").send_keys("Taxes and insurance.")
        turn.find_element(By.CSS_SELECTOR, ".correction input").send_keys("escrow.md#0")
        turn.find_element(By.CSS_SELECTOR, ".correction button[type=submit]").click()
        message = wait_state(driver, turn, "error")
        assert "source" in message and "Not sent" in message
        assert turn.find_element(By.CSS_SELECTOR, ".correction").is_displayed()  # kept, to be mended and resent
        assert kb.log.judged() == []

    with serving(index, None) as (_, live):
        driver.get(live.url + "/")
        turn = ask(driver)
        turn.find_element(By.CSS_SELECTOR, "button[aria-label='Good answer']").click()
        message = wait_state(driver, turn, "error")
        assert "keeps no log" in message
        assert turn.find_element(By.CSS_SELECTOR, "button[aria-label='Good answer']").get_attribute(
            "aria-pressed") == "false"


def test_feedback_refused_for_the_key_is_sent_once_the_key_is_saved(index, tmp_path, driver):
    from selenium.webdriver.common.by import By

    with serving(index, tmp_path / "log.sqlite3", api_key="s3cret") as (kb, live):
        driver.get(live.url + "/")
        driver.find_element(By.ID, "key-open").click()
        driver.find_element(By.ID, "key-input").send_keys("s3cret")
        driver.find_element(By.ID, "key-save").click()
        turn = ask(driver)
        driver.find_element(By.ID, "key-open").click()  # the key is then changed to a wrong one
        driver.find_element(By.ID, "key-input").send_keys("wrong")
        driver.find_element(By.ID, "key-save").click()

        turn.find_element(By.CSS_SELECTOR, "button[aria-label='Good answer']").click()
        assert "API key" in wait_state(driver, turn, "error")
        wait(driver, lambda d: d.find_element(By.ID, "key").is_displayed())
        assert kb.log.judged() == []
        driver.find_element(By.ID, "key-input").send_keys("s3cret")
        driver.find_element(By.ID, "key-save").click()  # saving sends the feedback that was refused
        wait_state(driver, turn, "sent")
        assert turn.find_element(By.CSS_SELECTOR, "button[aria-label='Good answer']").get_attribute(
            "aria-pressed") == "true"
        (judged,) = kb.log.judged()
        assert judged.feedback.good is True and judged.question == QUESTION
