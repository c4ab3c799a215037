"""Training input pipeline: runs bench/train_pipeline.py's main() in its own process
(TensorFlow stays out of the bench process) and reads back its result file."""
from __future__ import annotations

import json
import subprocess
import time

from bench import common

NAME = "train_pipeline"
RUNNER = ("import sys\nfrom bench.train_pipeline import main\n"
          "sys.argv = ['bench.train_pipeline', *sys.argv[1:]]\nsys.exit(main() or 0)")


def main(argv: list[str] | None = None) -> dict:
    args = list(argv or [])
    result_file = common.RESULTS_DIR / f"{NAME}.json"
    started = time.time()
    done = subprocess.run([common.PYTHON, "-c", RUNNER, *args], cwd=common.REPO, timeout=1800)
    if done.returncode != 0:
        return {"status": "failed", "detail": f"exit code {done.returncode}"}
    if result_file.exists() and result_file.stat().st_mtime >= started:
        return {"status": "ok", **json.loads(result_file.read_text())}
    return {"status": "ok", "detail": "no bench/results/train_pipeline.json written"}


if __name__ == "__main__":
    main()
