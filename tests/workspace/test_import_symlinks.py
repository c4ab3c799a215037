"""`import` over symlinks, as DVC caches and data-lake layouts have them: links to files are
followed like `cp -L`; broken links, loops and links to non-files get a reason; --no-follow-symlinks
skips and counts them; the summary never says "0 of 0" when files were there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, make_jpeg
from workspace.importer import import_labelled
from workspace.layout import init_workspace


def dvc_like_tree(root: Path) -> Path:
    """cache/<hash> holds the bytes; src/<class>/<name>.jpg are links into it, plus bad links."""
    cache = root / "cache"
    src = root / "src"
    for i in range(4):
        blob = make_jpeg(cache / f"{i:02d}" / f"{i:032x}", ((i * 50) % 256, 90, 200), pattern=i)
        (src / ("cats" if i % 2 else "dogs")).mkdir(parents=True, exist_ok=True)
        (src / ("cats" if i % 2 else "dogs") / f"photo-{i}.jpg").symlink_to(blob)
    (src / "cats" / "broken.jpg").symlink_to(root / "missing" / "gone.jpg")
    (src / "cats" / "loop-a.jpg").symlink_to(src / "cats" / "loop-b.jpg")
    (src / "cats" / "loop-b.jpg").symlink_to(src / "cats" / "loop-a.jpg")
    (src / "dogs" / "null.jpg").symlink_to("/dev/null")
    return src


def test_links_to_files_are_followed_and_bad_links_get_a_reason(tmp_path: Path) -> None:
    src = dvc_like_tree(tmp_path)
    ws = init_workspace(tmp_path / "ws", ["cats", "dogs"]).workspace
    summary = import_labelled(ws, src)
    assert (summary.seen, summary.new) == (4, 4)
    assert summary.skipped == {"broken_symlink": 1, "symlink_loop": 2, "symlink_not_a_file": 1}
    with ws.catalog() as catalog:
        rows = catalog.all("SELECT source, class, status, path FROM images ORDER BY source")
    assert [Path(r["source"]).name for r in rows] == [f"photo-{i}.jpg" for i in (1, 3, 0, 2)]
    assert all(r["status"] == "stored" and (ws.root / r["path"]).is_file() for r in rows)
    assert all(not (ws.root / r["path"]).is_symlink() for r in rows), "the bytes are copied, not linked"
    assert (tmp_path / "cache" / "00").is_dir(), "the cache is left alone"
    again = import_labelled(ws, src)
    assert (again.new, again.already) == (0, 4)


def test_cli_no_follow_symlinks_skips_and_says_why(tmp_path: Path) -> None:
    src = dvc_like_tree(tmp_path)
    ws = init_workspace(tmp_path / "ws", ["cats", "dogs"]).workspace
    env = {**os.environ, "COLUMNS": "200"}
    skipped = subprocess.run([sys.executable, str(REPO / "cli.py"), "import", str(ws.root), str(src),
                              "--no-follow-symlinks"], capture_output=True, text=True, env=env, timeout=120)
    assert skipped.returncode == 0, skipped.stderr
    assert "of 0 files" not in skipped.stdout
    assert "imported 0 new of 8 files" in skipped.stdout
    assert "skipped 8 of them: symlink_not_followed 8" in skipped.stderr
    followed = subprocess.run([sys.executable, str(REPO / "cli.py"), "import", str(ws.root), str(src)],
                              capture_output=True, text=True, env=env, timeout=120)
    assert followed.returncode == 0, followed.stderr
    assert "imported 4 new of 8 files" in followed.stdout
    assert "broken_symlink 1" in followed.stderr and "symlink_loop 2" in followed.stderr
    assert "symlink_not_a_file 1" in followed.stderr and "Traceback" not in followed.stderr
