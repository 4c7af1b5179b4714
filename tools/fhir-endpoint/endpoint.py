#!/usr/bin/env python3
"""A receiving FHIR endpoint for Vigil's tests and demo (not a FHIR server).

It accepts transaction (and batch) Bundles of conditional creates and updates at POST /fhir,
validates every resource with an independent library (fhir.resources, its R4B models), checks
the profiles each claims against the official FHIR R4 StructureDefinitions (profiles.py; an
Observation whose LOINC code has an R4 vital-signs profile must claim it), refuses references
it cannot resolve (urn:uuid to another entry, Type?identifier= of a resource it holds or that
the Bundle carries; Patient, CareTeam and other hospital-side references are counted, not
resolved: this endpoint holds none), stores
each resource by its identifier (a second create with the same identifier is counted as a
duplicate, not created; a conditional update replaces), and injects faults on demand. Control and inspection over HTTP:

    POST /_control/faults   {"fail_500": N, "throttle_429": N, "retry_after": S, "timeout": N,
                             "reset": N, "reject_identifiers": ["...", ...],
                             "reject_unattributed": ["...", ...]}   (N: next N requests; the
                            second list is rejected with 400 and no Bundle.entry[N] location)
    GET  /_control/stats    counts per type, duplicates, invalid resources (with reasons),
                            requests, faults injected, rejected identifiers
    GET  /_control/identifiers?type=Observation    every stored identifier of that type
    GET  /_control/device?identifier=ID    the latest Device stored under that identifier, with
                            meta.lastUpdated set as a server would
    GET  /_control/audit    every AuditEvent held, as a searchset Bundle (what audit_check.py reads)

AuditEvents arrive as updates by logical id (PUT AuditEvent/<id>) and are kept as an audit
repository keeps them: immutable. The same content again is answered 200; other content under
an id already held is refused with 409.

    POST /token             OAuth 2.0 client credentials: HTTP Basic with --client-id and the
                            secret in --client-secret-file, or a SMART Backend Services JWT
                            assertion (ES384/RS384) verified with --client-public-key; answers an
                            access token valid --token-lifetime seconds, which /fhir then requires

    endpoint.py --port P [--token-file F | --client-id ID (--client-secret-file F | --client-public-key F)]
                [--token-lifetime S] [--store FILE.jsonl]

Run it from the repo's .venv-endpoint (scripts/setup installs fhir.resources there).
"""
import argparse
import base64
import gzip
import json
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from fhir.resources.R4B import get_fhir_model_class

import profiles

CHECKER = profiles.Checker()
# LOINC codes whose R4 core vital-signs profile an Observation carrying them must claim.
VITAL_PROFILES = {"2708-6": "oxygensat", "8867-4": "heartrate", "9279-1": "resprate", "8310-5": "bodytemp", "85354-9": "bp"}
# Resources on the hospital's side: references to them are the hospital's to resolve.
EXTERNAL = {"Patient", "CareTeam", "Organization", "Practitioner", "PractitionerRole", "RelatedPerson", "Group"}

LOCK = threading.Lock()
STATE = {
    "resources": {},        # identifier -> resourceType
    "by_type": {},
    "duplicates": 0,
    "updates": 0,
    "devices": {},          # identifier -> the latest Device resource (for inspection)
    "invalid": [],          # (identifier or index, reason)
    "requests": 0,
    "gzip_requests": 0,
    "token_requests": 0,
    "token_refusals": 0,
    "faults": {"fail_500": 0, "throttle_429": 0, "timeout": 0, "reset": 0, "reject": 0, "reject_unattributed": 0},
    "rejected": [],
    "profiles": {},         # profile -> resources that claimed and met it
    "references": {"in_bundle": 0, "by_identifier": 0, "external": 0},
    "audit": {},            # AuditEvent id -> the resource, as first received (immutable)
    "audit_conflicts": 0,   # updates of an AuditEvent with other content, refused
    "audit_repeats": 0,     # the same AuditEvent sent again (answered 200)
}
FAULTS = {"fail_500": 0, "throttle_429": 0, "retry_after": 1, "timeout": 0, "reset": 0, "reject_identifiers": set(),
          "reject_unattributed": set()}
TOKEN = None
STORE = None
OAUTH = {"client_id": None, "secret": None, "public_key": None, "lifetime": 300, "tokens": {}, "issued": 0, "jtis": set()}


def outcome(code, text, expression=None):
    issue = {"severity": "error", "code": code, "diagnostics": text}
    if expression:
        issue["expression"] = [expression]
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def identifier_of(entry):
    """The identifier a conditional create (ifNoneExist) or conditional update (PUT Type?identifier=) names,
    or the logical id of an update by id (PUT AuditEvent/<id>)."""
    request = entry.get("request", {})
    query = request.get("ifNoneExist", "")
    if request.get("method") == "PUT" and "?" in request.get("url", ""):
        query = request["url"].split("?", 1)[1]
    elif request.get("method") == "PUT" and request.get("url", "").count("/") == 1:
        kind, _, logical = request["url"].partition("/")
        return logical if logical and entry.get("resource", {}).get("id") == logical and kind == "AuditEvent" else None
    if query.startswith("identifier="):
        value = query[len("identifier="):]
        return value.split("|", 1)[1] if "|" in value else value
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, headers=None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path.rstrip("/") == "/fhir/metadata":
            # What `vigil setup` reads first; public, as on most servers (the write needs the token).
            return self.reply(200, {"resourceType": "CapabilityStatement", "status": "active", "date": "2026-01-01",
                                    "kind": "instance", "fhirVersion": "4.0.1", "format": ["json"],
                                    "software": {"name": "vigil test endpoint"},
                                    "rest": [{"mode": "server", "interaction": [{"code": "transaction"}]}]})
        if self.path.startswith("/_control/stats"):
            with LOCK:
                body = {"by_type": dict(STATE["by_type"]), "duplicates": STATE["duplicates"],
                        "invalid": len(STATE["invalid"]), "invalid_samples": STATE["invalid"][:5],
                        "requests": STATE["requests"], "gzip_requests": STATE["gzip_requests"], "updates": STATE["updates"],
                        "token_requests": STATE["token_requests"], "token_refusals": STATE["token_refusals"], "faults": dict(STATE["faults"]),
                        "rejected": list(STATE["rejected"]), "profiles": dict(STATE["profiles"]),
                        "references": dict(STATE["references"]), "audit_conflicts": STATE["audit_conflicts"],
                        "audit_repeats": STATE["audit_repeats"]}
            return self.reply(200, body)
        if self.path.startswith("/_control/device?identifier="):
            with LOCK:
                device = STATE["devices"].get(urllib.parse.unquote(self.path.split("identifier=", 1)[1]))
            return self.reply(200 if device else 404, device or outcome("not-found", "no such Device"))
        if self.path.startswith("/_control/audit"):
            with LOCK:
                events = sorted(STATE["audit"].values(), key=lambda e: e["id"])
            return self.reply(200, {"resourceType": "Bundle", "type": "searchset", "total": len(events),
                                    "entry": [{"resource": e} for e in events]})
        if self.path.startswith("/_control/identifiers"):
            wanted = self.path.split("type=", 1)[1] if "type=" in self.path else None
            with LOCK:
                ids = [i for i, t in STATE["resources"].items() if wanted is None or t == wanted]
            return self.reply(200, ids)
        self.reply(404, outcome("not-found", "unknown path"))

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        if self.path.startswith("/_control/faults"):
            body = json.loads(self.rfile.read(length) or b"{}")
            with LOCK:
                for key in ("fail_500", "throttle_429", "retry_after", "timeout", "reset"):
                    if key in body:
                        FAULTS[key] = int(body[key])
                FAULTS["reject_identifiers"] |= set(body.get("reject_identifiers", []))
                FAULTS["reject_unattributed"] |= set(body.get("reject_unattributed", []))
            return self.reply(200, {"ok": True})
        if self.path.startswith("/token"):
            return self.token(self.rfile.read(length))
        if not self.path.startswith("/fhir"):
            return self.reply(404, outcome("not-found", "unknown path"))
        with LOCK:
            STATE["requests"] += 1
            fault = None
            for kind in ("reset", "timeout", "fail_500", "throttle_429"):
                if FAULTS[kind] > 0:
                    FAULTS[kind] -= 1
                    STATE["faults"][kind] += 1
                    fault = kind
                    break
        if fault == "reset":
            # Read part of the body, then drop the connection mid-request.
            self.rfile.read(min(length, 512))
            self.close_connection = True
            self.connection.shutdown(2)
            return
        raw = self.rfile.read(length)
        if fault == "timeout":
            time.sleep(FAULTS.get("timeout_seconds", 6))
            self.close_connection = True
            return
        if fault == "fail_500":
            return self.reply(500, outcome("exception", "injected failure"))
        if fault == "throttle_429":
            return self.reply(429, outcome("throttled", "injected throttling"), {"Retry-After": str(FAULTS["retry_after"])})
        if not self.authorized():
            return self.reply(401, outcome("login", "missing, wrong or expired bearer token"))
        if self.headers.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
            with LOCK:
                STATE["gzip_requests"] += 1
        try:
            bundle = json.loads(raw)
        except ValueError as error:
            return self.reply(400, outcome("structure", "not JSON: %s" % error))
        self.reply(*self.process(bundle))

    def authorized(self):
        header = self.headers.get("Authorization", "")
        if TOKEN is not None:
            return header == "Bearer " + TOKEN
        if OAUTH["client_id"] is None:
            return True
        with LOCK:
            expiry = OAUTH["tokens"].get(header[len("Bearer "):]) if header.startswith("Bearer ") else None
        return expiry is not None and time.time() < expiry

    def token(self, raw):
        form = dict(urllib.parse.parse_qsl(raw.decode()))
        with LOCK:
            STATE["token_requests"] += 1
        refusal = self.check_client(form)
        if refusal:
            with LOCK:
                STATE["token_refusals"] += 1
            body = json.dumps({"error": "invalid_client", "error_description": refusal}).encode()
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        token = secrets.token_urlsafe(24)
        with LOCK:
            OAUTH["tokens"][token] = time.time() + OAUTH["lifetime"]
        body = json.dumps({"access_token": token, "token_type": "bearer", "expires_in": OAUTH["lifetime"],
                           "scope": form.get("scope", "")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def check_client(self, form):
        if form.get("grant_type") != "client_credentials":
            return "grant_type must be client_credentials"
        if OAUTH["public_key"] is not None:
            import jwt  # PyJWT, only needed for SMART Backend Services
            if form.get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
                return "expected a jwt-bearer client assertion"
            try:
                claims = jwt.decode(form.get("client_assertion", ""), OAUTH["public_key"], algorithms=["ES384", "RS384"],
                                    audience="http://127.0.0.1:%d/token" % self.server.server_address[1])
            except Exception as error:  # noqa: BLE001
                return "assertion rejected: %s" % error
            if claims.get("iss") != OAUTH["client_id"] or claims.get("sub") != OAUTH["client_id"]:
                return "iss and sub must be the client id"
            with LOCK:
                if claims.get("jti") in OAUTH["jtis"]:
                    return "jti reused"
                OAUTH["jtis"].add(claims.get("jti"))
            return None
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return "expected HTTP Basic client authentication"
        client, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        if urllib.parse.unquote(client) != OAUTH["client_id"] or urllib.parse.unquote(secret) != OAUTH["secret"]:
            return "wrong client id or secret"
        return None

    def process(self, bundle):
        kind = bundle.get("type")
        if bundle.get("resourceType") != "Bundle" or kind not in ("transaction", "batch"):
            return 400, outcome("structure", "expected a transaction or batch Bundle")
        entries = bundle.get("entry", [])
        answers, problems = [], []
        full_urls = {e.get("fullUrl"): e.get("resource", {}).get("resourceType") for e in entries if e.get("fullUrl")}
        carried = {(e.get("resource", {}).get("resourceType"), identifier_of(e)) for e in entries}
        for index, entry in enumerate(entries):
            resource = entry.get("resource", {})
            identifier = identifier_of(entry)
            try:
                get_fhir_model_class(resource.get("resourceType", "")).model_validate(resource)
                reason = check_profiles(resource) + check_references(resource, full_urls, carried)
            except Exception as error:  # noqa: BLE001 - any validation failure is reported
                reason = str(error).splitlines()[:3]
            if reason:
                with LOCK:
                    STATE["invalid"].append([identifier or index, " ".join(reason)])
                problems.append((index, 422, outcome("invalid", "invalid resource: %s" % " ".join(reason), "Bundle.entry[%d]" % index)))
                continue
            if identifier is None or entry.get("request", {}).get("method") not in ("POST", "PUT"):
                problems.append((index, 400, outcome("required", "expected a conditional create or update by identifier", "Bundle.entry[%d]" % index)))
                continue
            if resource.get("resourceType") == "AuditEvent":
                with LOCK:
                    held = STATE["audit"].get(identifier)
                    if held is not None and held != resource:
                        STATE["audit_conflicts"] += 1
                if held is not None and held != resource:
                    problems.append((index, 409, outcome("conflict", "AuditEvent %s is held with other content: audit events are immutable" % identifier,
                                                         "Bundle.entry[%d]" % index)))
                    continue
            if identifier in FAULTS["reject_identifiers"]:
                problems.append((index, 422, outcome("business-rule", "injected permanent rejection", "Bundle.entry[%d]" % index)))
                continue
            if identifier in FAULTS["reject_unattributed"]:
                # A rejection that does not say which entry: the client has to find it.
                problems.append((index, 400, outcome("business-rule", "injected rejection without location")))
                continue
            answers.append((index, identifier, resource, entry["request"]["method"]))
        if kind == "transaction" and problems:
            # All or nothing: the first problem answers for the whole transaction.
            index, status, body = problems[0]
            with LOCK:
                if body["issue"][0]["code"] == "business-rule":
                    STATE["faults"]["reject" if "expression" in body["issue"][0] else "reject_unattributed"] += 1
            return status, body
        responses = [None] * len(entries)
        with LOCK:
            for index, identifier, resource, method in answers:
                if resource["resourceType"] == "AuditEvent":
                    if identifier in STATE["audit"]:
                        STATE["audit_repeats"] += 1
                    STATE["audit"].setdefault(identifier, resource)
                # A conditional create of an existing Device leaves it as it is; an update replaces it.
                if resource["resourceType"] == "Device" and (method == "PUT" or identifier not in STATE["resources"]):
                    # As a server does: meta.lastUpdated is when it last changed (what a hospital
                    # alarms on for a gateway whose heartbeat stopped).
                    stored = dict(resource)
                    stored["meta"] = dict(resource.get("meta", {}),
                                          lastUpdated=time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z")
                    STATE["devices"][identifier] = stored
                if method == "PUT" and identifier in STATE["resources"]:
                    STATE["updates"] += 1
                    responses[index] = {"response": {"status": "200 OK"}}
                    if STORE and resource["resourceType"] != "Device":
                        # The new version, after the old one (readers keep the last per identifier).
                        STORE.write(json.dumps(resource) + "\n")
                elif identifier in STATE["resources"]:
                    STATE["duplicates"] += 1
                    responses[index] = {"response": {"status": "200 OK"}}
                else:
                    STATE["resources"][identifier] = resource["resourceType"]
                    STATE["by_type"][resource["resourceType"]] = STATE["by_type"].get(resource["resourceType"], 0) + 1
                    responses[index] = {"response": {"status": "201 Created",
                                                     "location": "%s/%d" % (resource["resourceType"], len(STATE["resources"]))}}
                    if STORE:
                        STORE.write(json.dumps(resource) + "\n")
            for index, status, body in problems:
                responses[index] = {"response": {"status": "%d" % status, "outcome": body}}
                if body["issue"][0]["code"] == "business-rule":
                    STATE["rejected"].append(identifier_of(entries[index]))
        return 200, {"resourceType": "Bundle", "type": kind + "-response", "entry": responses}


def check_profiles(resource):
    """Problems with the profiles the resource claims, or should claim."""
    claimed = resource.get("meta", {}).get("profile", [])
    problems = CHECKER.check(resource)
    if resource.get("resourceType") == "Observation":
        for coding in resource.get("code", {}).get("coding", []):
            profile = VITAL_PROFILES.get(coding.get("code")) if coding.get("system") == "http://loinc.org" else None
            if profile and profiles.CORE + profile not in claimed:
                problems.append("LOINC %s without the R4 %s profile in meta.profile" % (coding["code"], profile))
    if not problems:
        with LOCK:
            for profile in claimed:
                STATE["profiles"][profile] = STATE["profiles"].get(profile, 0) + 1
    return problems


def references(value):
    if isinstance(value, dict):
        if isinstance(value.get("reference"), str):
            yield value["reference"]
        for child in value.values():
            yield from references(child)
    elif isinstance(value, list):
        for child in value:
            yield from references(child)


def check_references(resource, full_urls, carried):
    """References a server enforcing referential integrity could not resolve."""
    problems = []
    for reference in references(resource):
        if reference.startswith("urn:uuid:"):
            if reference in full_urls:
                count = "in_bundle"
            else:
                problems.append("reference %s names no entry of the Bundle" % reference)
                continue
        elif "?identifier=" in reference:
            kind, query = reference.split("?identifier=", 1)
            system, _, value = query.partition("|")
            if kind in EXTERNAL:
                count = "external"
            else:
                with LOCK:
                    held = STATE["resources"].get(value) == kind
                if system != "urn:ietf:rfc:3986" or not (held or (kind, value) in carried):
                    problems.append("reference %s matches no resource" % reference)
                    continue
                count = "by_identifier"
        elif reference.split("/", 1)[0] in EXTERNAL:
            count = "external"
        else:
            problems.append("reference %s cannot be resolved" % reference)
            continue
        with LOCK:
            STATE["references"][count] += 1
    return problems


def main():
    global TOKEN, STORE
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token-file")
    parser.add_argument("--store")
    parser.add_argument("--timeout-seconds", type=float, default=6)
    parser.add_argument("--client-id")
    parser.add_argument("--client-secret-file")
    parser.add_argument("--client-public-key")
    parser.add_argument("--token-lifetime", type=int, default=300)
    args = parser.parse_args()
    if args.client_id:
        OAUTH["client_id"] = args.client_id
        OAUTH["lifetime"] = args.token_lifetime
        if args.client_secret_file:
            OAUTH["secret"] = open(args.client_secret_file).read().strip()
        if args.client_public_key:
            OAUTH["public_key"] = open(args.client_public_key).read()
    if args.token_file:
        TOKEN = open(args.token_file).read().strip()
    if args.store:
        STORE = open(args.store, "a", buffering=1)
    FAULTS["timeout_seconds"] = args.timeout_seconds
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print("fhir endpoint listening on 127.0.0.1:%d" % args.port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
