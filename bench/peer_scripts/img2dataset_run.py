"""Run img2dataset on a URL list (in its own venv); prints one JSON line with the timing."""
import json
import sys
import time
from pathlib import Path


def main() -> None:
    from img2dataset import download

    url_list, out, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
    processes, threads = int(sys.argv[4]), int(sys.argv[5])
    start = time.perf_counter()
    download(url_list=url_list, input_format="txt", output_folder=out, output_format="files", image_size=size,
             resize_mode="center_crop", processes_count=processes, thread_count=threads, timeout=15,
             number_sample_per_shard=1000, distributor="multiprocessing", enable_wandb=False, retries=0)
    seconds = time.perf_counter() - start
    ok = sum(1 for _ in Path(out).rglob("*.jpg"))
    print(json.dumps({"seconds": seconds, "images_ok": ok}))


if __name__ == "__main__":   # img2dataset spawns worker processes that re-import this file
    main()
