#!/usr/bin/env python3
"""Trains Vigil's deterioration model with scikit-learn on the firmware simulator's scenarios and
exports it quantized (config/models/deterioration-lr.json) with a test set whose expected
integers come from tools/models/reference.py.

    scripts/train-model            train on the full data set and write the files
    scripts/train-model --short    a small data set, write into a temporary directory (tests)

Data: firmware-protocol/micropython/vitals.py, every scenario, several seeds, one reading a
minute. Label 1 (deteriorating): the later two thirds of a sepsis course, and a desaturation
from 30 s after its onset; 0 otherwise (stable, motion artefacts, a detached sensor, low
battery), so the model learns that motion is not deterioration.

Model: logistic regression on standardised features. Quantization: weight / scale becomes an
int16 coefficient per protocol unit at 2^F (F as large as fits int16), the mean an integer offset,
the intercept an int32 bias at 2^F; the decision threshold is logit 0 (probability 0.5).
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, os.path.join(ROOT, "firmware-protocol", "micropython"))
sys.path.insert(0, HERE)
import vitals  # noqa: E402
import reference  # noqa: E402

FEATURES = [("pr", 2), ("spo2", 3), ("rr", 4), ("core_temp", 6), ("sbp", 7), ("pi", 9), ("activity", 10)]
MODEL_ID = "deterioration-lr"
VERSION = "2026.11.1"


def dataset(seeds, minutes):
    rows, labels = [], []
    for scenario in vitals.SCENARIOS:
        for seed in seeds:
            # Six hours of course compressed into `minutes` samples of `step` seconds.
            sim = vitals.Vitals(scenario, seed=seed, hours=6, onset=3 * 3600)
            step = 6 * 3600 // minutes
            for i in range(minutes):
                t = i * step
                values = dict(sim.sample(t))
                rows.append([values[cid] for _, cid in FEATURES])
                if scenario == "sepsis":
                    labels.append(1 if t >= 2 * 3600 else 0)
                elif scenario == "desaturation":
                    labels.append(1 if t >= 3 * 3600 + 30 else 0)
                else:
                    labels.append(0)
    return rows, labels


def quantize(scaler, classifier):
    weights = classifier.coef_[0] / scaler.scale_
    largest = max(abs(w) for w in weights)
    bits = 0
    while bits < 24 and largest * 2 ** (bits + 1) <= 32767:
        bits += 1
    features = []
    for (name, cid), weight, mean in zip(FEATURES, weights, scaler.mean_):
        features.append({"name": name, "channel": cid, "offset": int(round(mean)), "coefficient": int(round(weight * 2 ** bits))})
    # The intercept is for standardised inputs; the offsets already centre them.
    bias = int(round(classifier.intercept_[0] * 2 ** bits))
    return {"model": MODEL_ID, "version": VERSION, "kind": "logistic_regression", "fraction_bits": bits,
            "features": features, "bias": bias, "threshold": 0,
            "trained_on": "firmware-protocol/micropython/vitals.py scenarios (tools/models/train.py)"}


def main(argv):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    short = "--short" in argv
    out_dir = argv[argv.index("--out") + 1] if "--out" in argv else os.path.join(ROOT, "config", "models")
    train_x, train_y = dataset(seeds=range(1, 4 if short else 9), minutes=120 if short else 360)
    test_x, test_y = dataset(seeds=range(101, 103 if short else 105), minutes=60 if short else 180)
    scaler = StandardScaler().fit(train_x)
    classifier = LogisticRegression(max_iter=2000).fit(scaler.transform(train_x), train_y)
    model = quantize(scaler, classifier)

    float_positive = classifier.predict(scaler.transform(test_x))
    rows, agree, correct = [], 0, 0
    for x, label, expected in zip(test_x, test_y, float_positive):
        acc, positive = reference.score(model, x)
        rows.append({"features": x, "acc": acc, "positive": positive})
        agree += int(positive == bool(expected))
        correct += int(positive == bool(label))
    model["evaluation"] = {"test_rows": len(rows), "accuracy": round(correct / len(rows), 4),
                           "agreement_with_float_model": round(agree / len(rows), 4)}
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, MODEL_ID + ".json"), "w") as f:
        json.dump(model, f, indent=1, sort_keys=True)
        f.write("\n")
    # Edge rows: inputs far outside int16 once centred (each term clamps) and the accumulator's
    # saturation, so both implementations are compared where overflow would differ.
    edges = [[32767] * len(FEATURES), [-32768] * len(FEATURES), [2 ** 31 - 1] * len(FEATURES), [-(2 ** 31)] * len(FEATURES),
             [f["offset"] for f in model["features"]]]
    for x in edges:
        acc, positive = reference.score(model, x)
        rows.append({"features": x, "acc": acc, "positive": positive})
    with open(os.path.join(out_dir, MODEL_ID + ".testset.json"), "w") as f:
        # Every 6th row keeps the file small and still spans every scenario and both outcomes.
        json.dump({"model": MODEL_ID, "version": VERSION, "rows": rows[:-len(edges)][::6] + rows[-len(edges):]}, f,
                  separators=(",", ":"))
        f.write("\n")
    print(json.dumps(model["evaluation"], sort_keys=True))
    # A model that cannot tell the scenarios apart, or that quantization changed, is not shipped.
    if model["evaluation"]["accuracy"] < 0.95 or model["evaluation"]["agreement_with_float_model"] < 0.98:
        sys.exit("train: accuracy or agreement with the float model too low")


if __name__ == "__main__":
    main(sys.argv[1:])
