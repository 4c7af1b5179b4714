"""The scenario table (README) from `vigil-bench scenarios` output, and its gate: in every stable
cohort at most `--max-per-week` notified raises per patient-week for every model, and every
deterioration alerted (any model) in at least 90 % of its patients."""
import json
import sys

STABLE = ["healthy", "older", "copd", "af"]
DETERIORATIONS = ["sepsis", "respiratory", "copd_exacerbation", "af_rvr"]
result = json.load(open(sys.argv[1]))
limit = float(sys.argv[sys.argv.index("--max-per-week") + 1]) if "--max-per-week" in sys.argv else 1.0
models = sorted({m for row in result.values() for m in row} - {"any"}) + ["any"]
ok = True
print("| stable cohort | model | patients | patient-weeks | notified raises per patient-week | patients with any raise |")
print("|---|---|---|---|---|---|")
for cohort in STABLE:
    if cohort not in result:
        continue
    for m in models:
        row = result[cohort][m]
        weeks = row["quiet_minutes"] / (7 * 1440)
        rate = row["raises_before_onset"] / weeks if weeks else 0.0
        print("| %s | %s | %d | %.1f | %.2f | %d |" % (cohort, m, row["patients"], weeks, rate, row["patients_with_raises"]))
        if rate > limit:
            ok = False
            print("scenarios: %s exceeds %.1f raises per patient-week on %s" % (m, limit, cohort), file=sys.stderr)
print()
print("| deterioration | model | patients alerted after onset | median minutes from onset to first alert | median lead over NEWS2 ≥ 5 (minutes) | notified raises before onset (per patient-week) |")
print("|---|---|---|---|---|---|")
for scenario in DETERIORATIONS:
    if scenario not in result:
        continue
    for m in models:
        row = result[scenario][m]
        first = row["first_alert_minutes_median"]
        lead = row["lead_over_news2_5_minutes_median"]
        weeks = row["quiet_minutes"] / (7 * 1440)
        print("| %s | %s | %d of %d | %s | %s | %d (%.2f) |" % (scenario, m, row["alerted"], row["patients"],
              "-" if first is None else str(first), "-" if lead is None else "%+d" % lead, row["raises_before_onset"],
              row["raises_before_onset"] / weeks if weeks else 0.0))
    row = result[scenario]["any"]
    if row["alerted"] * 10 < row["patients"] * 9:
        ok = False
        print("scenarios: %s alerted in only %d of %d patients" % (scenario, row["alerted"], row["patients"]), file=sys.stderr)
sys.exit(0 if ok else 1)
