import json, sys
result = json.load(open(sys.argv[1]))
models = sorted({m for row in result.values() for m in row})
print("| scenario | model | patients alerted after onset | median minutes from onset to first alert | median lead over NEWS2 ≥ 5 (minutes) | false alerts per patient-day |")
print("|---|---|---|---|---|---|")
ok = True
for scenario in ["sepsis", "desaturation", "stable", "motion", "detachment", "low_battery"]:
    deteriorates = scenario in ("sepsis", "desaturation")
    for m in models:
        row = result[scenario][m]
        rate = row["false_alerts"] / row["quiet_minutes"] * 1440 if row["quiet_minutes"] else 0.0
        first = row["first_alert_minutes_median"]
        lead = row["lead_over_news2_medium_minutes_median"]
        print("| %s | %s | %s | %s | %s | %.2f |" % (
            scenario, m,
            "%d of %d" % (row["alerted"], row["patients"]) if deteriorates else "n/a",
            "-" if first is None else str(first), "-" if lead is None else "%+d" % lead, rate))
        # Gate (scripts/test): NEWS2 and the quantized model find every deterioration; no model
        # alerts on a patient who is not deteriorating.
        if row["false_alerts"] > 0:
            ok = False
        if deteriorates and m != "drift" and row["alerted"] != row["patients"]:
            ok = False
sys.exit(0 if ok else 1)
