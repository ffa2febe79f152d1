"""tests.ipynb executed end to end (nbclient, the venv's kernel) against the three services it needs."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.integration.stack import Stack

pytestmark = [pytest.mark.notebook, pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "tests.ipynb"


def execute(path: Path, env: dict[str, str], timeout_s: int = 120) -> nbformat.NotebookNode:
    """Run every cell with the ``python3`` kernel of this interpreter, cwd at the repository root."""
    notebook = nbformat.read(path, as_version=4)
    saved = os.environ.copy()
    os.environ.update(env)  # the kernel inherits the environment of the process that starts it
    try:
        NotebookClient(notebook, timeout=timeout_s, kernel_name="python3",
                       resources={"metadata": {"path": str(ROOT)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return notebook


def outputs(notebook: nbformat.NotebookNode) -> str:
    return "\n".join(
        out.get("text", "") for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs
    )


def test_tests_notebook_runs_every_scenario(tmp_path):
    with Stack(tmp_path) as stack:
        notebook = execute(NOTEBOOK, stack.env)
    text = outputs(notebook)
    assert "Recommendations service is working" in text
    assert "warm user: 1; warm user for the online scenario: 2; cold user: 4" in text
    # Warm user 2 listened to 500, 501, 502: online 303 (.9), 302 (.5 * .8 + .25 * .6), 304, ...;
    # blended: offline 103, online 303, offline 106, then the online tail.
    assert "Offline for cold user 4" in text and "Track 201" in text
    assert "Online events of user 2, newest first" in text
    blended = text.split("Blended for user 2")[1].splitlines()[2:6]
    assert [line.split()[1] for line in blended] == ["103", "303", "106", "302"]
    outs = [out for cell in notebook.cells for out in cell.get("outputs", [])]
    assert not any(out.get("output_type") == "error" for out in outs)
