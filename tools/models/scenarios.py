#!/usr/bin/env python3
"""Patients of the realistic simulator (tools/models/patients.py) as JSON lines, one patient per
line, for `vigil-bench scenarios`: every stable cohort for `--days` days (a week in the README
table), every deterioration for four days with its onset on day 3. Each line carries the
patient's clinical settings as a clinician would enter them (COPD: SpO2 scale 2).

    scenarios.py [--seeds N] [--first-seed S] [--days D] > scenarios.jsonl

Evaluation seeds start at 201, away from the ones tools/models/train.py trains on (1-199).
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import patients  # noqa: E402


def settings(cohort):
    return {"spo2_scale": 2} if patients.cohort_background(cohort) == "copd" else {}


def main(argv):
    seeds = int(argv[argv.index("--seeds") + 1]) if "--seeds" in argv else 10
    first = int(argv[argv.index("--first-seed") + 1]) if "--first-seed" in argv else 201
    days = int(argv[argv.index("--days") + 1]) if "--days" in argv else 7
    cohorts = [(c, days) for c in patients.STABLE] + [(c, 4) for c in patients.DETERIORATIONS]
    if "--cohorts" in argv:
        wanted = argv[argv.index("--cohorts") + 1].split(",")
        cohorts = [(c, d) for c, d in cohorts if c in wanted]
    for cohort, length in cohorts:
        for seed in range(first, first + seeds):
            p = patients.Patient(cohort, seed, length)
            line = {"scenario": cohort, "background": p.background, "seed": seed, "days": length,
                    "onset_seconds": p.onset, "settings": settings(cohort), "readings": p.readings()}
            sys.stdout.write(json.dumps(line, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
