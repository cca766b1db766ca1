import pytest

from rag.errors import RagError
from rag.prompting import PromptTemplate, build_prompt, source_line
from rag.types import Hit


def words(text):
    return len(text.split())


def render(messages):
    return "\n".join(f"<{m['role']}>\n{m['content']}" for m in messages)


def hits(n, length):
    return [Hit(score=1.0 / (i + 1), text=" ".join(f"Sentence {i} word{j}." for j in range(length)),
                source=f"doc{i}.md", title=f"Doc {i}", section="Part", page=i or None, chunk_id=i, doc_id=str(i),
                similarity=0.5) for i in range(n)]


def test_prompt_never_exceeds_budget():
    for n, length, budget in [(1, 10, 400), (8, 200, 300), (20, 50, 900), (3, 2000, 1000), (5, 5, 120)]:
        prompt = build_prompt("How big is the escrow cushion?", hits(n, length), render, words, budget)
        assert words(render(prompt.messages)) <= budget
        assert prompt.tokens <= budget


def test_best_passages_come_first_and_are_numbered():
    prompt = build_prompt("q?", hits(3, 5), render, words, 10_000)
    user = prompt.messages[1]["content"]
    assert user.index("[1] Doc 0") < user.index("[2] Doc 1 — Part — page 1") < user.index("[3] Doc 2")
    assert user.rstrip().endswith("Question: q?")
    assert [h.chunk_id for h in prompt.passages] == [0, 1, 2]


def test_long_last_passage_is_cut_not_overflowing():
    prompt = build_prompt("q?", hits(2, 100), render, words, 500)
    assert len(prompt.passages) == 2
    user = prompt.messages[1]["content"]
    assert hits(2, 100)[0].text in user and hits(2, 100)[1].text not in user
    assert "Sentence 1 word0." in user


def test_custom_template():
    template = PromptTemplate(system="Be brief.", passage="<{n}> {text}", user="{question}\n{passages}")
    prompt = build_prompt("q?", hits(1, 3), render, words, 1000, template)
    assert prompt.messages[0]["content"] == "Be brief." and "<1> Sentence 0" in prompt.messages[1]["content"]


def test_source_line_names_section_and_page():
    assert source_line(hits(2, 1)[1]) == "Doc 1 — Part — page 1"


def test_a_question_longer_than_the_budget_is_a_one_line_error():
    with pytest.raises(RagError, match="the question alone takes .* raise generation.context_tokens"):
        build_prompt("word " * 200, hits(1, 3), render, words, 50)


def test_the_policy_decides_when_a_cut_passage_is_left_out():
    # the budget leaves the second passage about 60 words: kept (cut) at the default 48, left out at 100
    assert len(build_prompt("q?", hits(2, 100), render, words, 500).passages) == 2
    assert len(build_prompt("q?", hits(2, 100), render, words, 500, min_passage_tokens=400).passages) == 1


def test_a_cut_passage_ends_at_a_full_stop():
    prompt = build_prompt("q?", hits(2, 100), render, words, 500)
    last = prompt.messages[1]["content"].split("[2] Doc 1 — Part — page 1\n")[1].split("\n\nQuestion")[0]
    assert last.endswith(".") and hits(2, 100)[1].text.startswith(last)
