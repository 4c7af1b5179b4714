#!/usr/bin/env python3
"""Readings of every simulator scenario (firmware-protocol/micropython/vitals.py) as JSON, for
`vigil-bench scenarios`: one patient per (scenario, seed), a reading every `step` seconds over
six hours (sepsis develops over the six hours; desaturation and detachment start at 3 h).

    scenarios.py [--seeds N] [--step SECONDS] > scenarios.json

Seeds start at 201, away from the ones tools/models/train.py trains and tests on.
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "firmware-protocol", "micropython"))
import vitals  # noqa: E402


def main(argv):
    seeds = int(argv[argv.index("--seeds") + 1]) if "--seeds" in argv else 3
    step = int(argv[argv.index("--step") + 1]) if "--step" in argv else 60
    patients = []
    for scenario in vitals.SCENARIOS:
        for seed in range(201, 201 + seeds):
            sim = vitals.Vitals(scenario, seed=seed, hours=6, onset=3 * 3600)
            readings = [[t, sim.sample(t)] for t in range(0, 6 * 3600, step)]
            # When the patient's condition starts to deteriorate (None: it never does); the
            # table's lead times count from here and alerts before it are false alerts.
            onset = {"sepsis": 0, "desaturation": 3 * 3600}.get(scenario)
            patients.append({"scenario": scenario, "seed": seed, "onset_seconds": onset, "readings": readings})
    json.dump({"step_seconds": step, "patients": patients}, sys.stdout, separators=(",", ":"))


if __name__ == "__main__":
    main(sys.argv[1:])
