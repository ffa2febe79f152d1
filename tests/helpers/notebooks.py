"""Execute a notebook of the repository with nbclient, as the test suite's notebook tests do."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]


def execute(path: Path, env: dict[str, str], timeout_s: int = 120) -> nbformat.NotebookNode:
    """Run every cell with the ``python3`` kernel of this interpreter, cwd at the repository root,
    with ``env`` added to the environment the kernel inherits; the test process's own is restored."""
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
