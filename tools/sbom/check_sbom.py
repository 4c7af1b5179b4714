"""Checks an SBOM as a reader of it would: the file validates against the CycloneDX 1.6 schema
(cyclonedx-python-lib's validator) and reads back as a Bom, and it lists what the product is
made of, found here independently of how make_sbom.py found it: every pin of Package.resolved at
its version, a Debian package for every library the binary loads (asked of the dynamic loader,
ldd, and dpkg), the broker, and the pinned Python tools of the test venvs (scope excluded).
Then it removes one Swift package from a copy and must refuse that.
Usage: python check_sbom.py SBOM.json Package.resolved BINARY"""
import copy
import json
import subprocess
import sys

from cyclonedx.model.bom import Bom
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL


def problems(document, resolved, binary):
    found = []
    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(document))
    if errors:
        return ["schema: %s" % errors]
    bom = Bom.from_json(copy.deepcopy(document))  # noqa: the library's own reader
    purls = [PackageURL.from_string(str(c.purl)) for c in bom.components if c.purl]
    listed = {(p.type, p.namespace, p.name, p.version) for p in purls}

    def has(kind, namespace, name, version=None):
        return any(entry[:3] == (kind, namespace, name) and (version is None or entry[3] == version) for entry in listed)
    for pin in json.load(open(resolved))["pins"]:
        owner, name = pin["location"].removesuffix(".git").rstrip("/").split("/")[-2:]
        version = pin["state"].get("version") or pin["state"]["revision"]
        if not has("swift", "github.com/" + owner, name, version):
            found.append("Swift package %s/%s %s is not listed" % (owner, name, version))
    for line in subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout.splitlines():
        if "=>" not in line or "not found" in line:
            continue
        path = line.split("=>")[1].split("(")[0].strip()
        owner = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
        for alias in (subprocess.run(["readlink", "-f", path], capture_output=True, text=True).stdout.strip(), "/usr" + path):
            if owner.returncode != 0:
                # Debian's merged /usr: dpkg knows a library by one of its paths only.
                owner = subprocess.run(["dpkg", "-S", alias], capture_output=True, text=True)
        package = owner.stdout.split(":")[0] if owner.returncode == 0 else None
        direct = path.rsplit("/", 1)[-1] in subprocess.run(["objdump", "-p", binary], capture_output=True, text=True).stdout
        if package and direct and not has("deb", "debian", package):
            found.append("Debian package %s (for %s) is not listed" % (package, path))
    if not has("deb", "debian", "mosquitto"):
        found.append("the broker (mosquitto) is not listed")
    for venv in (".venv-endpoint",):
        freeze = subprocess.run([venv + "/bin/pip", "freeze", "--disable-pip-version-check"], capture_output=True, text=True)
        for item in freeze.stdout.split():
            if "==" in item:
                name, version = item.split("==")
                # The purl spec's pypi names: lower case, `_` as `-`.
                if not has("pypi", None, name.lower().replace("_", "-"), version):
                    found.append("test tool %s %s is not listed" % (name, version))
    return found


def main():
    sbom, resolved, binary = sys.argv[1:4]
    document = json.load(open(sbom))
    found = problems(document, resolved, binary)
    for problem in found:
        print("sbom check: " + problem)
    # The check must fail on an SBOM that leaves a package out.
    damaged = copy.deepcopy(document)
    damaged["components"] = [c for c in damaged["components"] if not c.get("purl", "").startswith("pkg:swift/github.com/apple/swift-nio@")]
    if not problems(damaged, resolved, binary):
        print("sbom check: an SBOM without swift-nio passed the check")
        found.append("self-test")
    count = len(document["components"])
    print("sbom check: %s (%d components)" % ("FAILED" if found else "ok: valid CycloneDX 1.6, every Swift pin, system library, the broker and test tool listed", count))
    sys.exit(1 if found else 0)


main()
