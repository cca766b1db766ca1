import dataclasses

from rag.conversation import is_follow_up, standalone_question
from rag.policy import AnsweringPolicy

HISTORY = [{"role": "user", "content": "How much is the down payment on a conventional loan?"},
           {"role": "assistant", "content": "As little as 3% [1]."}]


def test_follow_up_is_joined_to_the_previous_question():
    assert standalone_question("What about for FHA loans?", HISTORY) == (
        "How much is the down payment on a conventional loan? What about for FHA loans?")
    assert standalone_question("and is it refundable?", HISTORY).startswith("How much is the down payment")


def test_standalone_question_is_left_alone():
    question = "How do I appeal my property tax assessment in my county?"
    assert not is_follow_up(question)
    assert standalone_question(question, HISTORY) == question
    assert standalone_question("What about FHA?", None) == "What about FHA?"


def test_the_policy_sets_how_short_a_follow_up_is():
    question = "Is the escrow cushion refundable?"  # five words, no connective, no pronoun
    assert is_follow_up(question)
    assert not is_follow_up(question, dataclasses.replace(AnsweringPolicy(), follow_up_max_words=4))
