"""The files a tutorial page writes out (``<!-- file: PATH -->`` before a code block), installed as the
reader would install them, so a test runs the page as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

FILE_BLOCK = re.compile(r"<!-- file: (?P<path>[^ ]+) -->\n```\w*\n(?P<body>.*?)```", re.S)


def first_file(tutorial: Path) -> re.Match:
    """The page's first file block (its ``path`` and ``body``)."""
    return FILE_BLOCK.search(tutorial.read_text())


def install(tutorial: Path, root: Path, distribution: str) -> tuple[Path, dict[str, str]]:
    """Write every file of ``tutorial`` under ``root``, pip-install the folder ``distribution`` beside
    them, and return that folder and an environment whose Python finds the installed plugin."""
    for match in FILE_BLOCK.finditer(tutorial.read_text()):
        path = root / match["path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(match["body"])
    site = root / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", str(site), str(root / distribution)],
                   check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}
    return root / distribution, env
