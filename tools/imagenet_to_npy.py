#!/usr/bin/env python3
"""Converts ImageNet (class-folder layout of JPEGs) into the arrays ref-run reads.

    python3 tools/imagenet_to_npy.py --train DIR/train --val DIR/val --out data/imagenet2012 [--limit N]

Writes train_images.npy / val_images.npy (uint8 [N, 224, 224, 3], RGB) and
train_labels.npy / val_labels.npy (int32 [N]), classes numbered by sorted folder
name (the usual n01440764 ... order). Each image is resized so its shorter side is
256 (bicubic) and centre-cropped to 224, like the original's evaluation
preprocessing; training augmentation in ref-run is a random horizontal flip.
Needs Pillow and NumPy. The arrays of the full set are ~190 GB: use --limit for subsets.
"""
import argparse
import os

import numpy as np
from PIL import Image


def convert(folder, limit):
    classes = sorted(d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d)))
    items = [(os.path.join(folder, c, f), i) for i, c in enumerate(classes) for f in sorted(os.listdir(os.path.join(folder, c)))]
    if limit:
        items = items[:limit]
    images = np.zeros((len(items), 224, 224, 3), np.uint8)
    labels = np.zeros(len(items), np.int32)
    for k, (path, label) in enumerate(items):
        im = Image.open(path).convert("RGB")
        w, h = im.size
        s = 256 / min(w, h)
        im = im.resize((max(224, round(w * s)), max(224, round(h * s))), Image.BICUBIC)
        w, h = im.size
        left, top = (w - 224) // 2, (h - 224) // 2
        images[k] = np.asarray(im.crop((left, top, left + 224, top + 224)))
        labels[k] = label
    return images, labels


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", required=True)
    ap.add_argument("--val", required=True)
    ap.add_argument("--out", default="data/imagenet2012")
    ap.add_argument("--limit", type=int, default=0)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    for split, folder in [("train", a.train), ("val", a.val)]:
        x, y = convert(folder, a.limit)
        np.save(os.path.join(a.out, f"{split}_images.npy"), x)
        np.save(os.path.join(a.out, f"{split}_labels.npy"), y)
        print(split, x.shape)


if __name__ == "__main__":
    main()
