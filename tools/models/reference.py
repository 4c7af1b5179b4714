#!/usr/bin/env python3
"""Integer reference for Vigil's quantized models (config/models/*.json): the same arithmetic as
Sources/VigilModels/Quantized/QuantizedModel.swift, in plain Python integers, no numpy.

    acc = bias + sum(coefficient[i] * clamp16(x[i] - offset[i]))   (int32, saturating at each step)
    positive = acc >= threshold

`--check TESTSET` recomputes every row of a test set and fails on any difference, so the file
the Swift tests compare against is always what this reference computes.
"""
import json
import sys

INT16 = (-32768, 32767)
INT32 = (-2147483648, 2147483647)


def clamp(value, bounds):
    return max(bounds[0], min(bounds[1], value))


def score(model, raw):
    """raw: feature values in protocol units, in the model's feature order."""
    acc = clamp(model["bias"], INT32)
    for feature, x in zip(model["features"], raw):
        centred = clamp(x - feature["offset"], INT16)
        acc = clamp(acc + feature["coefficient"] * centred, INT32)
    return acc, acc >= model["threshold"]


def check(model_path, testset_path):
    model = json.load(open(model_path))
    testset = json.load(open(testset_path))
    bad = 0
    for row in testset["rows"]:
        acc, positive = score(model, row["features"])
        if acc != row["acc"] or positive != row["positive"]:
            bad += 1
            print("mismatch", row, acc, positive)
    print("reference: %d rows, %d mismatches" % (len(testset["rows"]), bad))
    return bad == 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--check":
        sys.exit(0 if check(sys.argv[2], sys.argv[3]) else 1)
    sys.exit("usage: reference.py --check MODEL.json TESTSET.json")
