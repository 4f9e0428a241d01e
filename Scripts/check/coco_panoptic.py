#!/usr/bin/env python3
"""Checks a `vocaseg segment --panoptic DIR` folder against the COCO panoptic format's rules (those that
panopticapi's pq_compute enforces) and decodes its JSON-lines RLE masks with pycocotools.

  .venv/bin/python Scripts/check/coco_panoptic.py DIR [--jsonl FILE]

Rules checked, per annotation: its PNG exists, is RGB, has the image's size; the ids in the PNG
(R + 256*G + 256^2*B, 0 = void) are exactly the ids of `segments_info`; each segment's area and bbox equal its
pixels; category ids name categories; ids are unique; iscrowd is 0 or 1; every annotation's image exists. With
--jsonl, every segment's RLE decodes (pycocotools) to a mask equal to that segment's pixels in the PNG, and its
area is pycocotools' area. Exit 0 when everything holds, 1 with one line per problem otherwise.

Needs numpy, pillow and pycocotools: python3 -m venv .venv && .venv/bin/pip install numpy pillow pycocotools
"""
import argparse
import json
import os
import sys

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("directory")
    parser.add_argument("--jsonl")
    args = parser.parse_args()
    problems = []
    with open(os.path.join(args.directory, "panoptic.json"), encoding="utf-8") as f:
        doc = json.load(f)
    categories = {c["id"]: c for c in doc["categories"]}
    for c in doc["categories"]:
        if c.get("isthing") not in (0, 1):
            problems.append(f"category {c['id']}: isthing must be 0 or 1")
    images = {i["id"]: i for i in doc["images"]}
    ids_by_image = {}
    for ann in doc["annotations"]:
        where = f"{ann['file_name']}"
        image = images.get(ann["image_id"])
        if image is None:
            problems.append(f"{where}: image_id {ann['image_id']} is not in images")
            continue
        png = np.array(Image.open(os.path.join(args.directory, ann["file_name"])), dtype=np.uint32)
        if png.ndim != 3 or png.shape[2] != 3:
            problems.append(f"{where}: not an RGB picture")
            continue
        if png.shape[:2] != (image["height"], image["width"]):
            problems.append(f"{where}: size {png.shape[1]}x{png.shape[0]} differs from the image's")
        ids = png[:, :, 0] + 256 * png[:, :, 1] + 256 * 256 * png[:, :, 2]
        ids_by_image[ann["image_id"]] = ids
        listed = [s["id"] for s in ann["segments_info"]]
        if len(listed) != len(set(listed)):
            problems.append(f"{where}: duplicate segment ids")
        present = set(np.unique(ids).tolist()) - {0}
        if present != set(listed):
            problems.append(f"{where}: ids in the PNG {sorted(present)} differ from segments_info {sorted(listed)}")
        for s in ann["segments_info"]:
            if s["category_id"] not in categories:
                problems.append(f"{where}: segment {s['id']} has unknown category {s['category_id']}")
            if s.get("iscrowd") not in (0, 1):
                problems.append(f"{where}: segment {s['id']}: iscrowd must be 0 or 1")
            ys, xs = np.nonzero(ids == s["id"])
            if len(xs) != s["area"]:
                problems.append(f"{where}: segment {s['id']}: area {s['area']} but {len(xs)} pixels")
            if len(xs):
                box = [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]
                if box != list(s["bbox"]):
                    problems.append(f"{where}: segment {s['id']}: bbox {s['bbox']} but pixels span {box}")
    segments_checked = 0
    if args.jsonl:
        with open(args.jsonl, encoding="utf-8") as f:
            lines = [json.loads(line) for line in f if line.strip()]
        for line in lines[1:]:
            ids = ids_by_image.get(line["frame"])
            for s in line.get("segments", []):
                if "rle" not in s:
                    problems.append(f"{args.jsonl}: frame {line['frame']} segment {s['id']} has no rle")
                    continue
                rle = {"size": s["rle"]["size"], "counts": s["rle"]["counts"].encode("ascii")}
                decoded = mask_utils.decode(rle)
                if int(mask_utils.area(rle)) != s["area"]:
                    problems.append(f"{args.jsonl}: frame {line['frame']} segment {s['id']}: RLE area differs")
                if ids is not None and not np.array_equal(decoded.astype(bool), ids == s["id"]):
                    problems.append(f"{args.jsonl}: frame {line['frame']} segment {s['id']}: RLE differs from the PNG")
                segments_checked += 1
    for p in problems:
        print(p)
    print(f"{args.directory}: {len(doc['annotations'])} annotations, {len(categories)} categories, "
          f"{segments_checked} RLE masks checked, {len(problems)} problems", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
