"""imagededup PHash at its default threshold over a folder; prints (image, kept copy) pairs."""
import json
import sys
import time

from imagededup.methods import PHash

folder = sys.argv[1]
start = time.perf_counter()
phasher = PHash(verbose=False)
encodings = phasher.encode_images(image_dir=folder)
found = phasher.find_duplicates(encoding_map=encodings)          # default max_distance_threshold
removed = set(phasher.find_duplicates_to_remove(encoding_map=encodings))
seconds = time.perf_counter() - start
pairs = []
for image in sorted(removed):
    dups = found.get(image, [])
    kept = next((d for d in dups if d not in removed), dups[0] if dups else None)
    if kept is not None:
        pairs.append([image, kept])
print(json.dumps({"seconds": seconds, "pairs": pairs}))
