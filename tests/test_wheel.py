"""A built wheel, installed without the source checkout, answers with the bundled index and adapter."""
import json
import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from .conftest import REPO

pytestmark = pytest.mark.slow


def test_a_wheel_installed_in_a_fresh_venv_answers_from_its_own_bundled_files(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(REPO)],
                   check=True, timeout=900, capture_output=True)
    (wheel,) = wheels.glob("rag-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    # The fresh venv borrows this one's dependencies (torch and the rest) through a path line; this venv's
    # editable install of rag is not among them: its hook is a .pth file, which a path line does not run.
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "borrowed-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
                   check=True, timeout=300, capture_output=True)

    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    located = subprocess.run([str(python), "-c", "import rag; print(rag.__file__)"], cwd=workdir, env=env,
                             check=True, capture_output=True, text=True).stdout.strip()
    assert Path(located).is_relative_to(site), located  # the wheel's copy, not the checkout

    asked = subprocess.run([str(env_dir / "bin" / "rag"), "ask", "What is an escrow account?", "--json"],
                           cwd=workdir, env=env, capture_output=True, text=True, timeout=900)
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert answer["refused"] is False and answer["citations"]
    assert answer["adapter"], "the bundled adapter answers by default"
    for citation in answer["citations"]:
        source = Path(citation["source"])
        assert source.is_relative_to(site) and source.is_file(), source
