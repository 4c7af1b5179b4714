# Physiologically plausible simulated vitals for the host simulator, in the protocol's
# fixed-point units (integers only). Scenarios are functions of elapsed seconds, so a
# deterioration over hours can be compressed by feeding a scaled clock.
#
#   stable        healthy adult at rest
#   sepsis        over `hours`: HR 75->125, RR 15->28, temp 36.8->39.2, SpO2 97->91, SBP 125->88
#   desaturation  stable, then SpO2 falls to ~84 % within a minute at `onset` seconds
#   motion        stable physiology with bursts of movement artifact (activity up, PI down,
#                 spurious HR/SpO2 excursions)
#   detachment    stable, then at `onset` the sensor comes off: flat line and zero perfusion
#   low_battery   stable, battery draining to a few percent within an hour


class Rng:
    """xorshift32: the same sequence on MicroPython and CPython."""

    def __init__(self, seed):
        self.state = seed or 1

    def next(self):
        x = self.state
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.state = x
        return x

    def noise(self, amplitude):
        return self.next() % (2 * amplitude + 1) - amplitude


def _ramp(start, end, t, duration):
    if t <= 0:
        return start
    if t >= duration:
        return end
    return start + (end - start) * t // duration


SCENARIOS = ("stable", "sepsis", "desaturation", "motion", "detachment", "low_battery")


class Vitals:
    def __init__(self, scenario="stable", seed=1, hours=6, onset=600):
        if scenario not in SCENARIOS:
            raise ValueError("unknown scenario " + scenario)
        self.scenario = scenario
        self.rng = Rng(seed)
        self.duration = hours * 3600
        self.onset = onset
        self.frozen = None

    def sample(self, t):
        """Channel values (id, value) at `t` seconds into the scenario, ids ascending."""
        r = self.rng
        hr = 720 + r.noise(20)
        spo2 = 970 + r.noise(8)
        rr = 150 + r.noise(10)
        temp = 3680 + r.noise(5)
        sbp = 124 + r.noise(4)
        pi = 320 + r.noise(30)
        activity = 20 + r.next() % 30
        battery = max(5, 95 - t // 3600)
        if self.scenario == "sepsis":
            hr = _ramp(750, 1250, t, self.duration) + r.noise(20)
            rr = _ramp(150, 280, t, self.duration) + r.noise(10)
            temp = _ramp(3680, 3920, t, self.duration) + r.noise(5)
            spo2 = _ramp(970, 910, t, self.duration) + r.noise(8)
            sbp = _ramp(125, 88, t, self.duration) + r.noise(3)
        elif self.scenario == "desaturation" and t >= self.onset:
            spo2 = _ramp(960, 840, t - self.onset, 60) + r.noise(6)
            hr += _ramp(0, 150, t - self.onset, 60)
            rr += _ramp(0, 60, t - self.onset, 60)
        elif self.scenario == "motion" and (t // 30) % 4 == 3:
            activity = 1500 + r.next() % 3000
            pi = 40 + r.noise(20)
            hr += r.noise(250)
            spo2 = 880 + r.noise(60)
        elif self.scenario == "detachment" and t >= self.onset:
            if self.frozen is None:
                self.frozen = (hr, spo2, rr)
            hr, spo2, rr = self.frozen
            pi = 0
            activity = 0
            temp = max(2600, 3680 - (t - self.onset) * 2)
        elif self.scenario == "low_battery":
            battery = max(2, 40 - t * 38 // 3600)
        spo2 = min(1000, spo2)
        dbp = sbp * 2 // 3
        return [(1, hr), (2, hr + r.noise(10)), (3, spo2), (4, rr), (5, temp - 300), (6, temp), (7, sbp), (8, dbp),
                (9, max(0, pi)), (10, activity), (11, battery)]
