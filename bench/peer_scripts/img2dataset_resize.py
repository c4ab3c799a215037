"""img2dataset's own Resizer on a list of photos (in its own venv): its center-crop output at
`size`, as decoded pixels and as the pixels it encoded, plus the size it scaled to before cropping, so the caller can build a
reference of the same geometry. Writes an .npz; prints one JSON line."""
import io
import json
import sys
import time

import albumentations as A
import cv2
import numpy as np
from img2dataset.resizer import Resizer

out_path, size, quality, files = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
resizer = Resizer(image_size=size, resize_mode="center_crop", resize_only_if_bigger=False,
                  encode_quality=quality, encode_format="jpg")
datas = [open(path, "rb").read() for path in files]
start = time.perf_counter()
encoded = [resizer(io.BytesIO(data))[0] for data in datas]
seconds = time.perf_counter() - start
shrink = A.SmallestMaxSize(max_size=size, interpolation=cv2.INTER_AREA, p=1.0)  # as the Resizer calls them
crop = A.CenterCrop(height=size, width=size)
pixels, before_encode, scaled = [], [], []
for data, jpeg in zip(datas, encoded):
    original = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    height, width = original.shape[:2]
    scale = size / min(height, width)  # SmallestMaxSize's rounding
    scaled.append((round(width * scale), round(height * scale)))
    before_encode.append(cv2.cvtColor(crop(image=shrink(image=original)["image"])["image"], cv2.COLOR_BGR2RGB))
    pixels.append(cv2.cvtColor(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB))
np.savez(out_path, pixels=np.stack(pixels), before_encode=np.stack(before_encode), scaled=np.array(scaled))
print(json.dumps({"seconds": seconds, "images": len(files)}))
