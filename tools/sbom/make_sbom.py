"""Writes Vigil's CycloneDX 1.6 SBOM and validates it with cyclonedx-python-lib's own schema
validator: the Swift packages the binary links (Package.resolved), the Swift runtime linked
statically, the Debian packages it needs at run time (its ELF NEEDED entries mapped to their
packages, and the broker), and the Python tools only the tests use (scope excluded).
Usage: python make_sbom.py --version V --resolved Package.resolved --binary BIN --swift-version S
       --python-tools "name==version ..." --output FILE"""
import argparse
import json
import subprocess
import sys

from cyclonedx.model import ExternalReference, ExternalReferenceType, Property, XsUri
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentScope, ComponentType
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL


def swift_packages(resolved_path):
    with open(resolved_path) as handle:
        pins = json.load(handle)["pins"]
    components = []
    for pin in pins:
        location = pin["location"].removesuffix(".git")
        owner, name = location.rstrip("/").split("/")[-2:]
        version = pin["state"].get("version") or pin["state"]["revision"]
        component = Component(
            type=ComponentType.LIBRARY, name=name, group=owner, version=version,
            purl=PackageURL(type="swift", namespace=f"github.com/{owner}", name=name, version=version),
            bom_ref=f"swift:{owner}/{name}", scope=ComponentScope.REQUIRED,
            properties=[Property(name="vigil:linked", value="static"),
                        Property(name="vigil:revision", value=pin["state"]["revision"])])
        component.external_references.add(ExternalReference(type=ExternalReferenceType.VCS, url=XsUri(pin["location"])))
        components.append(component)
    return components


def debian_packages(binary):
    needed = [line.split()[1] for line in subprocess.run(["objdump", "-p", binary], capture_output=True, text=True,
                                                           check=True).stdout.splitlines() if line.strip().startswith("NEEDED")]
    libraries = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True).stdout.splitlines()
    owners = {}
    for lib in needed:
        path = next((line.split("=>")[-1].strip() for line in libraries if line.strip().startswith(lib + " ")), None)
        if path is None:
            sys.exit(f"sbom: no system library provides {lib}")
        real = subprocess.run(["readlink", "-f", path], capture_output=True, text=True).stdout.strip()
        found = subprocess.run(["dpkg", "-S", real], capture_output=True, text=True)
        if found.returncode != 0:
            found = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True, check=True)
        owners[found.stdout.splitlines()[0].split(":")[0]] = lib
    owners["mosquitto"] = "(the local broker)"
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True, check=True).stdout.strip()
    components = []
    for package, why in sorted(owners.items()):
        version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True,
                                 check=True).stdout
        components.append(Component(
            type=ComponentType.LIBRARY if package != "mosquitto" else ComponentType.APPLICATION, name=package,
            version=version, bom_ref=f"deb:{package}", scope=ComponentScope.REQUIRED,
            purl=PackageURL(type="deb", namespace="debian", name=package, version=version, qualifiers={"arch": arch}),
            properties=[Property(name="vigil:linked", value="dynamic" if package != "mosquitto" else "service"),
                        Property(name="vigil:provides", value=why)]))
    return components


def python_tools(spec):
    components = []
    for item in spec.split():
        name, version = item.split("==")
        components.append(Component(
            type=ComponentType.APPLICATION if "micropython" in name else ComponentType.LIBRARY, name=name, version=version,
            bom_ref=f"pypi:{name}", scope=ComponentScope.EXCLUDED,
            purl=PackageURL(type="pypi", name=name.lower(), version=version),
            properties=[Property(name="vigil:used-for", value="tests and the demo; not shipped")]))
    return components


def main():
    parser = argparse.ArgumentParser()
    for option in ("--version", "--resolved", "--binary", "--swift-version", "--python-tools", "--output"):
        parser.add_argument(option, required=True)
    args = parser.parse_args()
    bom = Bom()
    vigil = Component(type=ComponentType.APPLICATION, name="vigil", version=args.version, bom_ref="vigil",
                      purl=PackageURL(type="deb", namespace="debian", name="vigil", version=args.version))
    bom.metadata.component = vigil
    runtime = Component(type=ComponentType.FRAMEWORK, name="swift-runtime", version=args.swift_version, bom_ref="swift-runtime",
                        scope=ComponentScope.REQUIRED,
                        description="Swift standard library, Foundation, Dispatch and ICU data, linked statically",
                        properties=[Property(name="vigil:linked", value="static")])
    swift, debian = swift_packages(args.resolved), debian_packages(args.binary)
    shipped = swift + [runtime] + debian
    for component in shipped + python_tools(args.python_tools):
        bom.components.add(component)
    bom.register_dependency(vigil, shipped)
    text = JsonV1Dot6(bom).output_as_string(indent=2)
    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    if errors:
        sys.exit(f"sbom: the document does not validate: {errors}")
    with open(args.output, "w") as handle:
        handle.write(text + "\n")
    print(f"sbom: {len(swift)} Swift packages, the Swift runtime, {len(debian)} Debian packages, "
          f"{len(args.python_tools.split())} test tools; CycloneDX 1.6, validated: {args.output}")


main()
