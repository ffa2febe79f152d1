"""tests.ipynb executed end to end (nbclient, the venv's kernel) against the three services it needs."""

from __future__ import annotations

import nbformat
import pytest

from tests.helpers.notebooks import ROOT, execute
from tests.integration.stack import Stack

pytestmark = [pytest.mark.notebook, pytest.mark.integration, pytest.mark.slow]
NOTEBOOK = ROOT / "tests.ipynb"


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
    # the title and the table may arrive as two output streams, joined with blank lines in between
    blended = [line for line in text.split("Blended for user 2")[1].splitlines() if line.strip()][1:5]
    assert [line.split()[1] for line in blended] == ["103", "303", "106", "302"]
    outs = [out for cell in notebook.cells for out in cell.get("outputs", [])]
    assert not any(out.get("output_type") == "error" for out in outs)
