"""imagededup find_duplicates on precomputed 64-bit hashes (in its own venv); one JSON line."""
import json
import resource
import sys
import time

import numpy as np
from imagededup.methods import PHash

path, radius, method = sys.argv[1], int(sys.argv[2]), sys.argv[3]
hashes = np.load(path)
encoding_map = {str(i): f"{int(h):016x}" for i, h in enumerate(hashes)}
start = time.perf_counter()
found = PHash(verbose=False).find_duplicates(encoding_map=encoding_map, max_distance_threshold=radius,
                                             scores=False, search_method=method)
seconds = time.perf_counter() - start
pairs = sum(len(v) for v in found.values()) // 2
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
print(json.dumps({"seconds": seconds, "pairs": pairs, "peak_mb": peak}))
