"""What a user of the library holds is importable from `rag`, and the package says it is typed."""
from pathlib import Path

import rag
from rag.types import Answer, Citation


def test_answers_and_citations_are_exported():
    assert rag.Answer is Answer and rag.Citation is Citation
    assert {"Answer", "Citation", "AnsweringPolicy", "Settings", "open"} <= set(rag.__all__)
    assert all(hasattr(rag, name) for name in rag.__all__)


def test_the_package_is_marked_typed():
    assert (Path(rag.__file__).parent / "py.typed").is_file()
