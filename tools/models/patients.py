#!/usr/bin/env python3
"""Realistic home patients for Vigil's alarm-burden evaluation: a week of ordinary life (or a
deterioration on top of it), one aggregated wearable reading a minute, in the protocol's units.

    patients.py --cohort NAME --seed N [--days D]      one patient, JSON on stdout
    patients.py --cohorts a,b --seeds 201-210 --days 7  many (see scenarios.py)

Each patient is a function of (cohort, seed): every draw comes from random.Random(seed), so a
seed is the same patient on every machine. Training uses seeds below 200 (tools/models/train.py),
evaluation seeds from 201 (scripts/scenarios): the evaluation patients are never trained on.

Why a new simulator: firmware-protocol/micropython/vitals.py gives a resting adult with small
uniform noise, which hides everything that makes home monitoring noisy. The assumptions below
are from physiology textbooks and wearable studies, rounded; each is a parameter so it can be
argued with.

Stable cohorts
- healthy: adults 30-65. Resting HR 55-80 /min, RR 12-18, core temperature 36.5-37.0 C, SpO2
  96-99 %, SBP 110-135 mmHg.
- older: 70-90. As healthy with SpO2 94-97 %, SBP 120-150, and brief nocturnal desaturations
  (oxygen desaturation index 5-15 /h of sleep in older adults; at one-minute resolution 3-8 dips
  a night of 1-3 min to 88-92 %).
- copd: SpO2 88-92 % at rest (prescribed target 88-92 %, NEWS2 scale 2), RR 16-22, HR 70-95;
  walks desaturate by 3-6 points; REM sleep hypoventilation: 1-3 spells a night of 10-30 min,
  2-4 points down.
- af: atrial fibrillation with controlled rate: HR 70-95 with a minute-to-minute spread of
  6-12 /min and a few fast spells a day (2-6 min at 110-130 /min).

Daily life (all cohorts)
- Sleep 22:00-23:30 to 06:00-07:30, shifted each day by up to +-45 min. Asleep: HR -10-15 %,
  RR -1-2 /min, SBP -10-15 % (nocturnal dipping), activity 0-15 mg.
- Core temperature: circadian rhythm, trough about 04:00 and peak about 17:00, amplitude
  0.25-0.45 C (half the peak-to-trough swing of 0.5-0.9 C).
- HR and SBP also follow a waking rhythm (+3-6 % in the afternoon).
- 3-6 walks a day of 10-40 min, wrist activity 200-600 mg: HR +15-35 /min, RR +4-10 /min,
  SBP +10-25 mmHg, SpO2 -0-2 (copd -3-6); recovery to rest in 5-10 min.
- Pottering about the home: 2-6 h a day of 60-180 mg in 5-20 min spells, HR +5-12.
- Meals at about 08:00, 12:30, 19:00: HR +4-8 for 45 min.
- Wearable noise per minute aggregate: HR sd 2, SpO2 sd 0.8 (plus whole-percent rounding),
  RR sd 1.2, temperature sd 0.05 C. Perfusion index 1.5-5 % (lower in sleep), sd 12 %.
- Missing minutes: charging 60-90 min a day (no data), shower 10-25 min off the wrist, 1 %
  random lost minutes.
- Artefacts: 2-6 a day, single minutes with HR +-30, SpO2 -6 and a low perfusion index.
- Blood pressure from a cuff three times a day (about 08:00, 14:00, 20:00), not per minute.
- Battery: drains from 100 % to 30-45 % over the day, recharged in the charging window.

Deteriorations (on top of the same daily life, onset on day 3 at a random hour)
- sepsis: over 8-16 h HR +35-50, RR +8-12, temperature +1.4-2.2 C, SpO2 -3-5, SBP -20-35;
  walks stop once it is a quarter through.
- respiratory: pneumonia-like hypoxaemia over 3-8 h: SpO2 -5-9, RR +6-10, HR +12-20,
  temperature +0.6-1.2 C.
- copd_exacerbation (copd background): over 6-12 h SpO2 down 5-8 points from the patient's
  usual, RR +6-10, HR +15-25.
- af_rvr (af background): rapid ventricular response within 30-60 min to 130-155 /min,
  sustained, RR +3-6.
"""
import json
import math
import random
import sys

MINUTE = 60
DAY = 86_400
STABLE = ("healthy", "older", "copd", "af")
DETERIORATIONS = {"sepsis": "healthy", "respiratory": "older", "copd_exacerbation": "copd", "af_rvr": "af"}


def cohort_background(cohort):
    """The stable cohort a scenario lives on (a deterioration happens to one of them)."""
    return DETERIORATIONS.get(cohort, cohort)


class Patient:
    def __init__(self, cohort, seed, days=7):
        if cohort not in STABLE and cohort not in DETERIORATIONS:
            raise ValueError("unknown cohort " + cohort)
        self.cohort = cohort
        self.background = cohort_background(cohort)
        self.seed = seed
        self.days = days
        r = self.r = random.Random(seed * 7919 + hash_name(cohort))
        b = self.background
        self.hr = r.uniform(55, 80) if b in ("healthy", "older") else r.uniform(70, 95)
        self.rr = r.uniform(12, 18) if b != "copd" else r.uniform(16, 22)
        self.temp = r.uniform(36.5, 37.0)
        self.spo2 = {"healthy": r.uniform(96, 99), "older": r.uniform(94, 97), "copd": r.uniform(88.5, 92), "af": r.uniform(95, 98)}[b]
        self.sbp = r.uniform(110, 135) if b == "healthy" else r.uniform(120, 150)
        self.temp_amplitude = r.uniform(0.25, 0.45)
        self.pi = r.uniform(1.5, 5.0)
        self.onset = None
        self.course = None
        if cohort in DETERIORATIONS:
            self.onset = 2 * DAY + int(r.uniform(0, DAY)) // MINUTE * MINUTE
            self.course = {"sepsis": r.uniform(8, 16), "respiratory": r.uniform(3, 8), "copd_exacerbation": r.uniform(6, 12),
                           "af_rvr": r.uniform(0.5, 1.0)}[cohort] * 3600
            self.effect = {
                "sepsis": dict(hr=r.uniform(35, 50), rr=r.uniform(8, 12), temp=r.uniform(1.4, 2.2), spo2=-r.uniform(3, 5),
                               sbp=-r.uniform(20, 35)),
                "respiratory": dict(hr=r.uniform(12, 20), rr=r.uniform(6, 10), temp=r.uniform(0.6, 1.2), spo2=-r.uniform(5, 9), sbp=0),
                "copd_exacerbation": dict(hr=r.uniform(15, 25), rr=r.uniform(6, 10), temp=0, spo2=-r.uniform(5, 8), sbp=0),
                "af_rvr": dict(hr=r.uniform(130, 155) - self.hr, rr=r.uniform(3, 6), temp=0, spo2=-r.uniform(0, 1), sbp=0),
            }[cohort]
        self.schedule = [self.plan_day(day) for day in range(days)]

    def plan_day(self, day):
        """One day's events as (start, end, kind, strength) in seconds from the start of the run."""
        r = self.r
        base = day * DAY
        events = []
        sleep_start = base + int((22.0 + r.uniform(0, 1.5) + r.uniform(-0.75, 0.75)) * 3600)
        wake = base + int((6.0 + r.uniform(0, 1.5) + r.uniform(-0.75, 0.75)) * 3600)
        events.append((base, wake, "sleep", 0))
        events.append((sleep_start, base + DAY + 6 * 3600, "sleep", 0))
        for meal in (8.0, 12.5, 19.0):
            start = base + int((meal + r.uniform(-0.5, 0.5)) * 3600)
            events.append((start, start + 45 * MINUTE, "meal", r.uniform(4, 8)))
        for _ in range(r.randint(3, 6)):
            start = base + int(r.uniform(8.5, 20.5) * 3600)
            events.append((start, start + int(r.uniform(10, 40)) * MINUTE, "walk", r.uniform(0, 1)))
        pottering = 0
        while pottering < r.uniform(2, 6) * 3600:
            start = base + int(r.uniform(7.5, 21.5) * 3600)
            length = int(r.uniform(5, 20)) * MINUTE
            events.append((start, start + length, "potter", r.uniform(0, 1)))
            pottering += length
        charge = base + int(r.uniform(18, 21.5) * 3600)
        events.append((charge, charge + int(r.uniform(60, 90)) * MINUTE, "charging", 0))
        shower = base + int(r.uniform(7, 9) * 3600)
        events.append((shower, shower + int(r.uniform(10, 25)) * MINUTE, "shower", 0))
        if self.background == "older":
            for _ in range(r.randint(3, 8)):
                start = base + int(r.uniform(0, 5.5) * 3600)
                events.append((start, start + r.randint(1, 3) * MINUTE, "dip", r.uniform(88, 92)))
        if self.background == "copd":
            for _ in range(r.randint(1, 3)):
                start = base + int(r.uniform(0.5, 5.5) * 3600)
                events.append((start, start + int(r.uniform(10, 30)) * MINUTE, "rem", r.uniform(2, 4)))
        if self.background == "af":
            for _ in range(r.randint(1, 4)):
                start = base + int(r.uniform(7, 22) * 3600)
                events.append((start, start + r.randint(2, 6) * MINUTE, "fast", r.uniform(110, 130)))
        for _ in range(r.randint(2, 6)):
            events.append((base + int(r.uniform(0, DAY)) // MINUTE * MINUTE, 0, "artefact", 0))
        return events

    def active(self, t, kind):
        day = min(self.days - 1, t // DAY)
        for events in self.schedule[max(0, day - 1):day + 1]:
            for start, end, name, strength in events:
                if name == kind and start <= t < end:
                    return strength if strength else True
        return None

    def since_end(self, t, kind, within):
        """Seconds since the latest `kind` event ended, if within `within` seconds."""
        day = min(self.days - 1, t // DAY)
        best = None
        for events in self.schedule[max(0, day - 1):day + 1]:
            for start, end, name, strength in events:
                if name == kind and end <= t < end + within:
                    best = (t - end, strength) if best is None or t - end < best[0] else best
        return best

    def progress(self, t):
        """How far the deterioration has gone, 0 before onset, 1 once developed."""
        if self.onset is None or t < self.onset:
            return 0.0
        x = (t - self.onset) / self.course
        # A smooth S-shaped course: slow at first, fastest midway, then levelling off.
        return 1.0 if x >= 1 else 0.5 - 0.5 * math.cos(math.pi * x)

    def minute(self, t):
        """The reading at `t` seconds (a minute's aggregate), or None when nothing arrives."""
        r = self.r
        if self.active(t, "charging") or self.active(t, "shower") or r.random() < 0.01:
            r.random()
            return None
        hour = (t % DAY) / 3600
        p = self.progress(t)
        deteriorating = p > 0.25
        asleep = bool(self.active(t, "sleep"))
        walking = None if deteriorating and self.cohort == "sepsis" else self.active(t, "walk")
        potter = None if asleep or deteriorating else self.active(t, "potter")
        after_walk = self.since_end(t, "walk", 10 * MINUTE)
        waking = 0 if asleep else 0.5 + 0.5 * math.sin((hour - 10) / 24 * 2 * math.pi)
        hr = self.hr * (0.87 if asleep else 1.0) * (1 + 0.04 * waking)
        rr = self.rr - (1.5 if asleep else 0)
        sbp = self.sbp * (0.88 if asleep else 1.0) * (1 + 0.04 * waking)
        temp = self.temp + self.temp_amplitude * math.cos((hour - 17) / 24 * 2 * math.pi)
        spo2 = self.spo2 - (0.5 if asleep else 0)
        activity = r.uniform(0, 15) if asleep else r.uniform(10, 50)
        pi = self.pi * (0.7 if asleep else 1.0)
        meal = self.active(t, "meal")
        if meal and not asleep:
            hr += meal
        if walking is not None:
            w = walking
            hr += 15 + 20 * w
            rr += 4 + 6 * w
            sbp += 10 + 15 * w
            spo2 -= (3 + 3 * w) if self.background == "copd" else 2 * w
            activity = 200 + 400 * w * r.uniform(0.7, 1.0)
        elif after_walk is not None:
            elapsed, w = after_walk
            left = math.exp(-elapsed / 180)
            hr += (15 + 20 * w) * left
            rr += (4 + 6 * w) * left
            sbp += (10 + 15 * w) * left
            activity = r.uniform(20, 90)
        elif potter is not None:
            hr += 5 + 7 * potter
            rr += 1 + 2 * potter
            activity = 60 + 120 * potter * r.uniform(0.6, 1.0)
        if self.background == "older" and (dip := self.active(t, "dip")):
            spo2 = min(spo2, dip)
        if self.background == "copd" and (rem := self.active(t, "rem")):
            spo2 -= rem
        if self.background == "af":
            hr += r.gauss(0, r.uniform(6, 12))
            if fast := self.active(t, "fast"):
                hr = max(hr, fast + r.gauss(0, 5))
        if p > 0:
            e = self.effect
            hr += e["hr"] * p
            rr += e["rr"] * p
            temp += e["temp"] * p
            spo2 += e["spo2"] * p
            sbp += e["sbp"] * p
        hr += r.gauss(0, 2)
        rr += r.gauss(0, 1.2)
        temp += r.gauss(0, 0.05)
        spo2 += r.gauss(0, 0.8)
        pi *= max(0.3, r.gauss(1, 0.12))
        if any(start == t // MINUTE * MINUTE for start, _, name, _ in self.schedule[min(self.days - 1, t // DAY)]
               if name == "artefact"):
            hr += r.choice((-30, 30))
            spo2 -= 6
            pi = 0.2
        day_fraction = ((t % DAY) / 3600 - 7) % 24 / 24
        battery = int(100 - day_fraction * r.uniform(55, 70))
        values = {
            1: None,
            2: round(hr * 10),
            3: min(1000, round(spo2) * 10),
            4: round(rr * 10),
            5: round((temp - 3.0) * 100),
            6: round(temp * 100),
            9: round(pi * 100),
            10: round(activity),
            11: max(1, min(100, battery)),
        }
        minute_of_day = (t % DAY) // MINUTE
        if minute_of_day in (8 * 60 + 5, 14 * 60 + 5, 20 * 60 + 5):
            values[7] = round(sbp)
            values[8] = round(sbp * 0.62)
        return [[cid, value] for cid, value in sorted(values.items()) if value is not None]

    def readings(self, step=MINUTE):
        out = []
        for t in range(0, self.days * DAY, step):
            values = self.minute(t)
            if values is not None:
                out.append([t, values])
        return out


def hash_name(name):
    # Stable across runs (Python's str hash is salted per process).
    return sum((i + 1) * ord(c) for i, c in enumerate(name))


def main(argv):
    cohort = argv[argv.index("--cohort") + 1]
    seed = int(argv[argv.index("--seed") + 1])
    days = int(argv[argv.index("--days") + 1]) if "--days" in argv else 7
    patient = Patient(cohort, seed, days)
    json.dump({"cohort": cohort, "seed": seed, "onset_seconds": patient.onset, "readings": patient.readings()}, sys.stdout,
              separators=(",", ":"))


if __name__ == "__main__":
    main(sys.argv[1:])
