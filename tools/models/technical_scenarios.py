#!/usr/bin/env python3
"""Patients of the realistic simulator (tools/models/patients.py) with what a wearable's
technical life adds, as JSON lines for `vigil-bench technical-scenarios`:

- every minute also carries the ring's RSSI (about -62 dBm) and a battery that drains smoothly
  (2.5-3.1 %/h: to 30-45 % by the evening) and is recharged in the evening charging window;
- on its charger the ring sends battery-only readings (rising), not nothing; in the shower (10-25
  min a day) it is off the wrist and sends readings with a perfusion index of zero;
- the 1 % of minutes lost in transit stay lost.

Stable cohorts run a week with nothing else (their technical alerts are false alerts). Each
condition runs two days on a healthy background with one event on day 2 between 10:00 and
16:00 (the condition's time, `condition_seconds`):

    battery_flat        not charged: drains 5 %/h from 07:00 on day 1 and dies that evening
    taken_off_20        off the wrist 20 min          taken_off_60   off the wrist 60 min
    out_of_range        RSSI falls to -92 dBm over 10 min, then nothing for 30 min
    wifi_lost_20        nothing for 20 min
    broker_down_10      the gateway's local broker down 10 min (nothing arrives meanwhile)
    gateway_offline_2h  the gateway's uplink to the hospital fails for 2 h

    technical_scenarios.py [--seeds N] [--first-seed S] [--stable-days D] > technical.jsonl
"""
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import patients  # noqa: E402
from patients import DAY, MINUTE  # noqa: E402

CONDITIONS = ("battery_flat", "taken_off_20", "taken_off_60", "out_of_range", "wifi_lost_20", "broker_down_10",
              "gateway_offline_2h")


def charge_windows(p):
    return [(start, end) for day in p.schedule for start, end, name, _ in day if name == "charging"]


def battery_curve(p, rng, flat_from=None):
    """Battery % per minute: drains, recharged in the charging windows (none once `flat_from`)."""
    windows = [w for w in charge_windows(p) if flat_from is None or w[1] < flat_from]
    # 100 % to 30-45 % between evening charges, as patients.py has it; midnight is ~4 h after one.
    drain = rng.uniform(2.5, 3.1) / 60
    level, levels = 100.0 - drain * 240, []
    for t in range(0, p.days * DAY, MINUTE):
        window = next((w for w in windows if w[0] <= t < w[1]), None)
        if window:
            level = min(100.0, level + (100 - level) / max(1, (window[1] - t) / MINUTE))
        else:
            level -= (5 / 60 if flat_from is not None and t >= flat_from else drain)
        levels.append(max(0.0, level))
    return levels


def readings(p, condition=None, at=None, seed=0):
    rng = random.Random(seed * 104729 + 17)
    flat_from = 7 * 3600 if condition == "battery_flat" else None
    battery = battery_curve(p, rng, flat_from)
    out = []
    for index, t in enumerate(range(0, p.days * DAY, MINUTE)):
        base = p.minute(t)   # the physiology (None when charging, in the shower, or lost)
        level = battery[index]
        rssi = round(rng.gauss(-62, 3))
        if condition == "battery_flat" and level <= 0:
            continue   # dead
        if at is not None:
            since = t - at
            if condition in ("taken_off_20", "taken_off_60") and 0 <= since < (20 if condition == "taken_off_20" else 60) * MINUTE:
                out.append([t, [[9, 0], [10, round(rng.uniform(10, 60))], [11, max(1, round(level))], [12, rssi]]])
                continue
            if condition == "out_of_range":
                if -10 * MINUTE <= since < 0:
                    rssi = round(-62 - 30 * (since + 10 * MINUTE) / (10 * MINUTE))
                elif 0 <= since < 30 * MINUTE:
                    continue
            if condition == "wifi_lost_20" and 0 <= since < 20 * MINUTE:
                continue
            if condition == "broker_down_10" and 0 <= since < 10 * MINUTE:
                continue
        if p.active(t, "charging") and not (condition == "battery_flat"):
            out.append([t, [[11, max(1, round(level))], [12, rssi]]])
        elif p.active(t, "shower"):
            out.append([t, [[9, 0], [10, round(rng.uniform(20, 120))], [11, max(1, round(level))], [12, rssi]]])
        elif base is not None:
            values = [v for v in base if v[0] != 11] + [[11, max(1, round(level))], [12, rssi]]
            out.append([t, sorted(values)])
    return out


def main(argv):
    seeds = int(argv[argv.index("--seeds") + 1]) if "--seeds" in argv else 10
    first = int(argv[argv.index("--first-seed") + 1]) if "--first-seed" in argv else 301
    stable_days = int(argv[argv.index("--stable-days") + 1]) if "--stable-days" in argv else 7
    for cohort in patients.STABLE:
        for seed in range(first, first + seeds):
            p = patients.Patient(cohort, seed, stable_days)
            line = {"scenario": cohort, "seed": seed, "days": stable_days, "readings": readings(p, seed=seed)}
            sys.stdout.write(json.dumps(line, separators=(",", ":")) + "\n")
    for condition in CONDITIONS:
        for seed in range(first, first + seeds):
            p = patients.Patient("healthy", seed, 2)
            at = DAY + int(random.Random(seed * 31 + len(condition)).uniform(10, 16) * 3600) // MINUTE * MINUTE
            line = {"scenario": condition, "seed": seed, "days": 2, "readings": readings(p, condition, at, seed)}
            if condition == "battery_flat":
                line["condition_seconds"] = line["readings"][-1][0] + MINUTE   # when it died
            else:
                line["condition_seconds"] = at
            if condition == "broker_down_10":
                line["broker_down"] = [at, at + 10 * MINUTE]
            if condition == "gateway_offline_2h":
                line["uplink_down"] = [at, at + 120 * MINUTE]
            sys.stdout.write(json.dumps(line, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
