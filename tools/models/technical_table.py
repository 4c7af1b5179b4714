"""The technical scenario table (README) from `vigil-bench technical-scenarios` output, and its
gate: every condition recorded in every patient (and notified where its defaults notify, not
where they must not), no other technical condition notified, and in the stable cohorts at most
`--max-per-week` notified technical alerts per patient-week (the target is 0)."""
import json
import sys

STABLE = ["healthy", "older", "copd", "af"]
CONDITIONS = ["battery_flat", "taken_off_20", "taken_off_60", "out_of_range", "wifi_lost_20", "broker_down_10",
              "gateway_offline_2h"]
result = json.load(open(sys.argv[1]))
limit = float(sys.argv[sys.argv.index("--max-per-week") + 1]) if "--max-per-week" in sys.argv else 1.0
ok = True


def fail(message):
    global ok
    ok = False
    print("technical scenarios: " + message, file=sys.stderr)


def minutes(value):
    return "-" if value is None else str(value)


print("| scenario | condition | recorded (patients) | minutes to record, median (max) | notified (patients) | minutes to notify, median (max) | other technical alerts notified |")
print("|---|---|---|---|---|---|---|")
for scenario in CONDITIONS:
    if scenario not in result:
        continue
    row = result[scenario]
    n = row["patients"]
    others = sum(row["other_notified"].values())
    print("| %s | %s | %d of %d | %s (%s) | %d of %d | %s (%s) | %d |" % (
        scenario, row["condition"], row["recorded"], n, minutes(row["recorded_minutes_median"]), minutes(row["recorded_minutes_max"]),
        row["notified"], n, minutes(row["notified_minutes_median"]), minutes(row["notified_minutes_max"]), others))
    if row["recorded"] < n:
        fail("%s: %s recorded in only %d of %d patients" % (scenario, row["condition"], row["recorded"], n))
    if row["must_notify"] and row["notified"] < n:
        fail("%s: %s notified in only %d of %d patients" % (scenario, row["condition"], row["notified"], n))
    if not row["must_notify"] and row["notified"] > 0:
        fail("%s: %s notified in %d patients (it must stay low priority)" % (scenario, row["condition"], row["notified"]))
    if row["cause_named"] < row["recorded"]:
        fail("%s: the likely cause named in only %d of %d alerts" % (scenario, row["cause_named"], row["recorded"]))
    if others:
        fail("%s: other technical alerts notified: %s" % (scenario, row["other_notified"]))
if "battery_flat" in result:
    print()
    print("battery_flat: battery_low notified a median %s min before the sensor died." % result["battery_flat"]["battery_low_lead_minutes_median"])
print()
print("| stable cohort | patients | patient-weeks | technical alerts notified per patient-week | recorded at low priority per patient-week |")
print("|---|---|---|---|---|")
for cohort in STABLE:
    if cohort not in result:
        continue
    row = result[cohort]
    weeks = row["patient_weeks"]
    notified = sum(row["other_notified"].values())
    print("| %s | %d | %.1f | %.2f | %.1f |" % (cohort, row["patients"], weeks, notified / weeks, row["low_priority"] / weeks))
    if notified / weeks > limit:
        fail("%s: %.2f technical alerts notified per patient-week (%s)" % (cohort, notified / weeks, row["other_notified"]))
sys.exit(0 if ok else 1)
