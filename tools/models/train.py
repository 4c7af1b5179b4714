#!/usr/bin/env python3
"""Trains Vigil's deterioration model with scikit-learn on the realistic simulator's cohorts
(tools/models/patients.py) and exports it quantized (config/models/deterioration-lr.json) with a
test set whose expected integers come from tools/models/reference.py.

    scripts/train-model            train on the full data set and write the files
    scripts/train-model --short    a small data set, write into a temporary directory (tests)

Data: what the agent feeds the model on a wearable stream: per five-minute window the median of
each feature over the readings taken at rest (wrist activity at most 100 mg, and none above it
in the ten minutes before), readings with a perfusion index below 0.3 % leaving out SpO2 and
pulse. Every stable cohort (healthy, older, COPD, AF: negatives, so the model learns that a
COPD patient's 90 % and an AF patient's irregular rate are their normal) and every deterioration
(positive once a fifth of the way through its course, left out between onset and then); seeds
1-8 to train, 101-104 to test; scripts/scenarios evaluates on seeds from 201.

Model: logistic regression on standardised features, class-balanced. The decision threshold is
not logit 0: it is set on the training negatives so that at most 1 window in 1,000 of a stable
patient is positive (the alert needs three in a row on top of that). Quantization: weight /
scale becomes an int16 coefficient per protocol unit at 2^F (F as large as fits int16), the mean
an integer offset, the intercept an int32 bias at 2^F, the threshold an int32 at 2^F.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, HERE)
import patients  # noqa: E402
import reference  # noqa: E402

FEATURES = [("pr", 2), ("spo2", 3), ("rr", 4), ("core_temp", 6), ("pi", 9), ("activity", 10)]
MODEL_ID = "deterioration-lr"
VERSION = "2026.12.1"
WINDOW = 300
ACTIVE_ABOVE = 100
REST_AFTER = 600
NEGATIVE_QUANTILE = 0.999


def windows(readings):
    """(window start, {channel: median}) per window with readings at rest, as the agent forms them."""
    out, current, samples, last_active = [], None, {}, None
    for t, values in readings:
        values = dict(values)
        if values.get(10, 0) > ACTIVE_ABOVE:
            last_active = t
            continue
        if last_active is not None and t - last_active < REST_AFTER:
            continue
        if values.get(9, 100) < 30:
            values.pop(3, None)
            values.pop(2, None)
        w = t // WINDOW
        if w != current:
            if samples:
                out.append((current * WINDOW, {c: sorted(v)[(len(v) - 1) // 2] for c, v in samples.items()}))
            current, samples = w, {}
        for _, cid in FEATURES:
            if cid in values:
                samples.setdefault(cid, []).append(values[cid])
    return out


def dataset(seeds, stable_days):
    rows, labels = [], []
    for cohort in list(patients.STABLE) + list(patients.DETERIORATIONS):
        for seed in seeds:
            p = patients.Patient(cohort, seed, stable_days if cohort in patients.STABLE else 4)
            latest = {}
            for start, medians in windows(p.readings()):
                latest.update(medians)
                if len(latest) < len(FEATURES):
                    continue
                progress = p.progress(start)
                if 0 < progress < 0.2:
                    continue
                rows.append([latest[cid] for _, cid in FEATURES])
                labels.append(1 if progress >= 0.2 else 0)
    return rows, labels


def quantize(scaler, classifier, threshold_logit):
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
            "features": features, "bias": bias, "threshold": int(round(threshold_logit * 2 ** bits)),
            "trained_on": "tools/models/patients.py cohorts, seeds 1-8 (tools/models/train.py)"}


def main(argv):
    import numpy
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    short = "--short" in argv
    out_dir = argv[argv.index("--out") + 1] if "--out" in argv else os.path.join(ROOT, "config", "models")
    train_x, train_y = dataset(seeds=range(1, 3 if short else 9), stable_days=2 if short else 4)
    test_x, test_y = dataset(seeds=range(101, 102 if short else 105), stable_days=2 if short else 4)
    scaler = StandardScaler().fit(train_x)
    classifier = LogisticRegression(max_iter=2000, class_weight="balanced").fit(scaler.transform(train_x), train_y)
    logits = classifier.decision_function(scaler.transform(train_x))
    negatives = sorted(l for l, y in zip(logits, train_y) if y == 0)
    threshold = float(negatives[int(NEGATIVE_QUANTILE * (len(negatives) - 1))])
    model = quantize(scaler, classifier, threshold)

    float_positive = classifier.decision_function(scaler.transform(test_x)) >= threshold
    rows, agree = [], 0
    counts = {(1, True): 0, (1, False): 0, (0, True): 0, (0, False): 0}
    for x, label, expected in zip(test_x, test_y, float_positive):
        acc, positive = reference.score(model, x)
        rows.append({"features": x, "acc": acc, "positive": positive})
        agree += int(positive == bool(expected))
        counts[(label, positive)] += 1
    sensitivity = counts[(1, True)] / max(1, counts[(1, True)] + counts[(1, False)])
    specificity = counts[(0, False)] / max(1, counts[(0, False)] + counts[(0, True)])
    model["evaluation"] = {"test_rows": len(rows), "window_sensitivity": round(sensitivity, 4),
                           "window_specificity": round(specificity, 4),
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
    # Every row near the threshold (where a rounding difference would flip the outcome) and an
    # even sample of the rest keep the file small and still span every cohort and both outcomes.
    step = max(1, (len(rows) - len(edges)) // 1500)
    body = rows[:-len(edges)]
    near = [r for r in body if abs(r["acc"] - model["threshold"]) < 2 ** model["fraction_bits"] // 4]
    with open(os.path.join(out_dir, MODEL_ID + ".testset.json"), "w") as f:
        json.dump({"model": MODEL_ID, "version": VERSION, "rows": body[::step] + near[:500] + rows[-len(edges):]}, f,
                  separators=(",", ":"))
        f.write("\n")
    print(json.dumps(model["evaluation"], sort_keys=True))
    numpy.asarray(train_x)  # scikit-learn's own dependency: fail here, not later, when it is missing
    # A model that cannot find deteriorations, pages stable patients, or that quantization
    # changed, is not shipped.
    e = model["evaluation"]
    if e["window_sensitivity"] < 0.6 or e["window_specificity"] < 0.99 or e["agreement_with_float_model"] < 0.99:
        sys.exit("train: sensitivity, specificity or agreement with the float model too low")


if __name__ == "__main__":
    main(sys.argv[1:])
