#!/usr/bin/env python3
"""The hospital's check of a gateway's audit log against the AuditEvents it received.

Each Vigil audit entry reaches the hospital as an AuditEvent whose chain entity carries the entry's
seq, key, prev and mac and the line itself (base64). The hospital holds no key, but it holds what
the box said, entry by entry, when it said it: a box whose log no longer agrees was tampered with.

    audit_check.py --log <state>/audit/audit.log (--events FILE | --url URL) [--gateway ID]

FILE is a searchset Bundle of AuditEvents or JSON lines of resources (the test endpoint's
--store file); URL answers such a Bundle (the test endpoint's /_control/audit, or a server's
AuditEvent?site=<gateway>). Verdicts, the first found:

    truncated   the box's log ends before the last entry the hospital holds
    removed     an entry the hospital holds is missing from the middle of the box's log
    forged      one entry differs from the hospital's copy while the chain around it agrees
                (edited, or replaced), or it differs only in content under the same MAC
    rewritten   every entry from one on differs from the hospital's copy (re-chained, with or
                without the key), or the box's first entry after the hospital's head does not
                link to it
    intact      every entry the hospital holds is on the box as received, and the rest links on

It prints the verdict, the hospital's chain head as `vigil audit verify --anchor` takes it, and
exits 0 for intact, 1 for a problem, 2 for unusable input. Entries the hospital lacks between
two it holds (not delivered yet, or lost upstream) are reported, not judged.
"""
import argparse
import base64
import hashlib
import json
import sys
import urllib.request


def chain_detail(event):
    for entity in event.get("entity", []):
        details = {d.get("type"): d for d in entity.get("detail", [])}
        if {"seq", "prev", "mac", "line"} <= details.keys():
            return {
                "seq": int(details["seq"]["valueString"]),
                "prev": details["prev"]["valueString"],
                "mac": details["mac"]["valueString"],
                "line": base64.b64decode(details["line"]["valueBase64Binary"]),
            }
    return None


def load_events(text, gateway):
    try:
        document = json.loads(text)
        resources = [e.get("resource", {}) for e in document.get("entry", [])] if document.get("resourceType") == "Bundle" else [document]
    except ValueError:
        resources = [json.loads(line) for line in text.splitlines() if line.strip()]
    held = {}
    for resource in resources:
        if resource.get("resourceType") != "AuditEvent":
            continue
        if gateway and resource.get("source", {}).get("site") != gateway:
            continue
        link = chain_detail(resource)
        if link:
            # The first copy received is the one that counts.
            held.setdefault(link["seq"], link)
    return held


def load_box(path):
    entries = {}
    with open(path, "rb") as handle:
        lines = handle.read().split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for number, line in enumerate(lines, 1):
        try:
            fields = json.loads(line)
        except ValueError:
            fields = {}
        seq = int(fields["seq"]) if isinstance(fields, dict) and str(fields.get("seq", "")).isdigit() else number
        mac = fields.get("mac") if isinstance(fields, dict) else None
        entries[seq] = {"line": line, "prev": fields.get("prev") if isinstance(fields, dict) else None,
                        "mac": mac or hashlib.sha256(line).hexdigest()}
    return entries


def check(box, held):
    """(verdict, explanation)."""
    if not held:
        return "intact", "the hospital holds no audit entries of this gateway yet: nothing to compare"
    head = max(held)
    last = max(box) if box else 0
    seqs = sorted(held)
    for index, seq in enumerate(seqs):
        upstream = held[seq]
        mine = box.get(seq)
        if mine is None:
            if seq > last:
                return "truncated", "the box's log ends at entry %d, but the hospital holds entries through %d (its tail was cut off)" % (last, head)
            return "removed", "entry %d, which the hospital holds, is missing from the box's log" % seq
        if mine["line"] == upstream["line"]:
            continue
        if mine["mac"] == upstream["mac"]:
            return "forged", "entry %d was edited on the box: its content differs from the hospital's copy under the same MAC" % seq
        later = [s for s in seqs[index + 1:] if s in box]
        if later and all(box[s]["mac"] != held[s]["mac"] for s in later):
            return "rewritten", "the box's log was rewritten from entry %d on: every entry from there differs from the hospital's copy" % seq
        if not later and seq == head and last > seq:
            return "rewritten", "the box's log was rewritten from entry %d on: it differs from the hospital's head" % seq
        return "forged", "entry %d differs from the hospital's copy while the entries after it agree (replaced on the box)" % seq
    following = box.get(head + 1)
    if following is not None and following["prev"] != held[head]["mac"]:
        return "rewritten", "entry %d on the box does not link to the hospital's head (entry %d): the log was rewritten after it" % (head + 1, head)
    pending = len([s for s in box if s > head])
    return "intact", "the box's log agrees with the %d entries the hospital holds; %d newer entries not yet received" % (len(held), pending)


def gaps(held):
    seqs = sorted(held)
    missing = []
    expected = 1
    for seq in seqs:
        if seq > expected:
            missing.append((expected, seq - 1))
        expected = seq + 1
    broken = [s for s in seqs if s - 1 in held and held[s]["prev"] != held[s - 1]["mac"]]
    return missing, broken


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--log", required=True)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--events")
    source.add_argument("--url")
    parser.add_argument("--gateway")
    args = parser.parse_args()
    try:
        text = open(args.events).read() if args.events else urllib.request.urlopen(args.url, timeout=30).read().decode()
        held = load_events(text, args.gateway)
        box = load_box(args.log)
    except (OSError, ValueError, KeyError) as error:
        print("audit check: unusable input: %s" % error)
        return 2
    missing, broken = gaps(held)
    verdict, explanation = check(box, held)
    if broken:
        verdict, explanation = "forged", "the hospital's own copy does not chain at entries %s: it was not received from one log" % broken[:5]
    print("verdict: %s" % verdict)
    print("audit check: %s" % explanation)
    if held:
        head = max(held)
        print("anchor: %d:%s" % (head, held[head]["mac"]))
    for first, last in missing:
        print("note: the hospital lacks entries %d-%d (not delivered yet, or lost upstream)" % (first, last))
    return 0 if verdict == "intact" else 1


if __name__ == "__main__":
    sys.exit(main())
