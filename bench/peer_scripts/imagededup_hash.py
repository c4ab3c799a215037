"""imagededup PHash().encode_images over a folder (in its own venv); prints one JSON line."""
import json
import sys
import time

from imagededup.methods import PHash

folder, workers = sys.argv[1], int(sys.argv[2])
start = time.perf_counter()
encodings = PHash(verbose=False).encode_images(image_dir=folder, num_enc_workers=workers)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "hashed": sum(1 for v in encodings.values() if v)}))
