"""scripts/gpu-check: without CUDA it says so and checks nothing; without torch it says what to do.

What it checks on a GPU is run there (README, "Checking on a GPU"); here only its refusals are tested.
"""

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "gpu-check"


def _run(**env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT)], env={**os.environ, **env}, capture_output=True, text=True, timeout=300)


def test_gpu_check_skips_without_cuda() -> None:
    done = _run(PYTHON=sys.executable, CUDA_VISIBLE_DEVICES="")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "gpu-check: skipped: no CUDA device here" in done.stdout
    assert "summary" not in done.stdout  # nothing ran


def test_gpu_check_without_torch_says_what_to_do(tmp_path: Path) -> None:
    done = _run(PYTHON=str(tmp_path / "no-such-python"))
    assert done.returncode == 2
    assert "run scripts/setup first, or set PYTHON" in done.stderr
