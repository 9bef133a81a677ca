#!/usr/bin/env python3
"""Converts ImageNet (class-folder layout of JPEGs) into the arrays ref-run reads.

    python3 tools/imagenet_to_npy.py --train DIR/train --val DIR/val --out data/imagenet2012 [--limit N]
        [--max-short-side 256] [--crops]

Classes are numbered by sorted folder name (the usual n01440764 ... order).

Default (the original's pipeline): whole images, decoded to RGB, each shrunk (bicubic)
so its shorter side is at most --max-short-side (256; 0 keeps the full size), aspect
kept. Writes train_pixels.npy (uint8, every image's H*W*3 bytes in turn),
train_sizes.npy (int32 [N, 2], height and width), train_labels.npy (int32 [N]) and the
same for val_. ref-run takes the original's crops from them: a random-resized crop
(area 0.08-1, aspect 3/4-4/3) and a flip for training, the 224/256 centre crop for
evaluation, each resized to 224 x 224 with TensorFlow's bicubic rule. The crop law is
scale-free, so shrinking the images changes only its pixel rounding; ~25 GB for the
whole training set at 256.

--crops: the older fixed format instead, train_images.npy / val_images.npy uint8
[N, 224, 224, 3] (shorter side resized to 256, centre crop 224), which ref-run only
flips when training: smaller and faster, not the original's augmentation.

Needs Pillow and NumPy.
"""
import argparse
import os

import numpy as np
from PIL import Image


def items_of(folder, limit):
    classes = sorted(d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d)))
    items = [(os.path.join(folder, c, f), i) for i, c in enumerate(classes) for f in sorted(os.listdir(os.path.join(folder, c)))]
    return items[:limit] if limit else items


def whole_images(folder, limit, max_short):
    items = items_of(folder, limit)
    chunks, sizes, labels = [], np.zeros((len(items), 2), np.int32), np.zeros(len(items), np.int32)
    for k, (path, label) in enumerate(items):
        im = Image.open(path).convert("RGB")
        w, h = im.size
        if max_short and min(w, h) > max_short:
            s = max_short / min(w, h)
            im = im.resize((max(1, round(w * s)), max(1, round(h * s))), Image.BICUBIC)
        a = np.asarray(im, np.uint8)
        chunks.append(a.reshape(-1))
        sizes[k] = a.shape[:2]
        labels[k] = label
    pixels = np.concatenate(chunks) if chunks else np.zeros(0, np.uint8)
    return pixels, sizes, labels


def centre_crops(folder, limit):
    items = items_of(folder, limit)
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
    ap.add_argument("--max-short-side", type=int, default=256)
    ap.add_argument("--crops", action="store_true", help="the older 224x224 centre-crop arrays")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    for split, folder in [("train", a.train), ("val", a.val)]:
        if a.crops:
            x, y = centre_crops(folder, a.limit)
            np.save(os.path.join(a.out, f"{split}_images.npy"), x)
            print(split, x.shape)
        else:
            x, sizes, y = whole_images(folder, a.limit, a.max_short_side)
            np.save(os.path.join(a.out, f"{split}_pixels.npy"), x)
            np.save(os.path.join(a.out, f"{split}_sizes.npy"), sizes)
            print(split, len(y), "images,", x.size, "bytes")
        np.save(os.path.join(a.out, f"{split}_labels.npy"), y)


if __name__ == "__main__":
    main()
