"""split-folders ratio(seed=1337) over FOLDER/<class>/ (in its own venv); prints name -> split."""
import json
import sys
from pathlib import Path

import splitfolders

source, out = sys.argv[1], sys.argv[2]
splitfolders.ratio(source, output=out, seed=1337, ratio=(0.8, 0.1, 0.1))
assign = {p.name: p.relative_to(out).parts[0] for p in Path(out).rglob("*.jpg")}
print(json.dumps({"assign": assign}))
