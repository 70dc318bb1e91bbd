#!/usr/bin/env python3
"""Prepares and checks the Android library's Maven Central bundle (com.posemesh:posemesh-registration).

Gradle (`publishReleasePublicationToMavenLocal`, no credentials) writes the AAR, the sources jar
and a POM into a local Maven repository; this script turns that into the layout the Central
Portal takes as a bundle (docs/release.md): the AAR, sources and javadoc jars and a complete
POM, each with .md5 and .sha1. Signing (.asc) and the upload happen in release.yml's publish
job, which holds the key; `check --signed` is run on the result before it is zipped.

The POM written here is Gradle's, completed for Central and for consumers:
  - developers and scm added (Central refuses a POM without them), Gradle's metadata marker
    dropped (the .module file is not published, so Gradle reads this POM);
  - JNA as `net.java.dev.jna:jna` of type `aar` (the @aar carries JNA's Android natives) and
    kotlinx-coroutines-core, both in compile scope: the public Kotlin API exposes their types
    (com.sun.jna.Pointer in the generated classes, Flow and StateFlow in RegistrationFlows.kt),
    so consumers get them without adding them by hand.

  maven-central.py bundle --m2 DIR --version V --out DIR [--repo OWNER/NAME]
  maven-central.py check DIR [--version V] [--signed]
  maven-central.py --selftest    builds a bundle from a Gradle-like POM, then plants faults (no
                                 JNA dependency, JNA not an aar, no scm, coroutines in runtime
                                 scope, a stale checksum, a missing signature) and fails unless each is caught.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import tempfile
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

GROUP = "com.posemesh"
ARTIFACT = "posemesh-registration"
NS = "http://maven.apache.org/POM/4.0.0"
Q = f"{{{NS}}}"
# The dependencies whose types the public API exposes: (groupId, artifactId, type or None).
API_DEPENDENCIES = [("net.java.dev.jna", "jna", "aar"), ("org.jetbrains.kotlinx", "kotlinx-coroutines-core", None)]
REQUIRED = ["modelVersion", "groupId", "artifactId", "version", "packaging", "name", "description",
            "url", "licenses/license/name", "developers/developer/name", "scm/url", "scm/connection"]

ET.register_namespace("", NS)


class BundleError(Exception):
    pass


def component_dir(root: Path, version: str) -> Path:
    return root.joinpath(*GROUP.split("."), ARTIFACT, version)


def main_files(version: str) -> dict[str, str]:
    base = f"{ARTIFACT}-{version}"
    return {"aar": f"{base}.aar", "pom": f"{base}.pom", "sources": f"{base}-sources.jar",
            "javadoc": f"{base}-javadoc.jar"}


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, Q + tag)
    if text is not None:
        element.text = text
    return element


def complete_pom(source: bytes, version: str, repo: str) -> bytes:
    root = ET.fromstring(source)  # comments (Gradle's metadata marker) are dropped here
    if root.findtext(Q + "version") != version:
        raise BundleError(f"the POM is for version {root.findtext(Q + 'version')}, not {version}")
    url = f"https://github.com/{repo}"
    if root.find(Q + "developers") is None:
        developer = _sub(_sub(root, "developers"), "developer")
        _sub(developer, "name", "posemesh-registration contributors")
        _sub(developer, "url", f"{url}/graphs/contributors")
    if root.find(Q + "scm") is None:
        scm = _sub(root, "scm")
        _sub(scm, "connection", f"scm:git:{url}.git")
        _sub(scm, "developerConnection", f"scm:git:{url}.git")
        _sub(scm, "url", url)
    dependencies = root.find(Q + "dependencies")
    for group, artifact, kind in API_DEPENDENCIES:
        dep = _find_dependency(dependencies, group, artifact)
        if dep is None:
            raise BundleError(f"Gradle's POM has no dependency {group}:{artifact} (bindings-uniffi/android/build.gradle.kts)")
        if kind is not None and dep.find(Q + "type") is None:
            _sub(dep, "type", kind)
        scope = dep.find(Q + "scope")
        if scope is None:
            scope = _sub(dep, "scope")
        scope.text = "compile"
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True) + b"\n"


def _find_dependency(dependencies: ET.Element | None, group: str, artifact: str) -> ET.Element | None:
    if dependencies is None:
        return None
    for dep in dependencies.findall(Q + "dependency"):
        if dep.findtext(Q + "groupId") == group and dep.findtext(Q + "artifactId") == artifact:
            return dep
    return None


def javadoc_jar(path: Path, repo: str) -> None:
    """Central requires a javadoc jar; the API is documented in the README and bindings-uniffi/README.md."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\n\r\n")
        z.writestr("README.txt", f"posemesh-registration for Android: see https://github.com/{repo}"
                   "/blob/main/bindings-uniffi/README.md for the Kotlin API.\n")


def write_checksums(path: Path) -> None:
    data = path.read_bytes()
    path.with_name(path.name + ".md5").write_text(hashlib.md5(data).hexdigest())
    path.with_name(path.name + ".sha1").write_text(hashlib.sha1(data).hexdigest())


def bundle(m2: Path, version: str, out: Path, repo: str) -> Path:
    src, dest = component_dir(m2, version), component_dir(out, version)
    files = main_files(version)
    for key in ("aar", "pom", "sources"):
        if not (src / files[key]).is_file():
            raise BundleError(f"missing {src / files[key]} (gradle publishReleasePublicationToMavenLocal)")
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    shutil.copyfile(src / files["aar"], dest / files["aar"])
    shutil.copyfile(src / files["sources"], dest / files["sources"])
    (dest / files["pom"]).write_bytes(complete_pom((src / files["pom"]).read_bytes(), version, repo))
    javadoc_jar(dest / files["javadoc"], repo)
    for name in files.values():
        write_checksums(dest / name)
    return dest


def check(out: Path, version: str | None = None, signed: bool = False) -> str:
    poms = sorted(out.rglob("*.pom"))
    if len(poms) != 1:
        raise BundleError(f"expected one POM under {out}, found {len(poms)}")
    dest = poms[0].parent
    version = version or dest.name
    if dest != component_dir(out, version):
        raise BundleError(f"{dest} is not {GROUP}:{ARTIFACT}:{version} in Maven layout")
    files = main_files(version)
    for name in files.values():
        path = dest / name
        if not path.is_file():
            raise BundleError(f"missing {name}")
        data = path.read_bytes()
        for ext, algo in ((".md5", hashlib.md5), (".sha1", hashlib.sha1)):
            sums = path.with_name(name + ext)
            if not sums.is_file() or sums.read_text().strip() != algo(data).hexdigest():
                raise BundleError(f"{name}{ext} is missing or does not match {name}")
        if signed and not path.with_name(name + ".asc").is_file():
            raise BundleError(f"{name}.asc is missing (unsigned)")
    root = ET.fromstring((dest / files["pom"]).read_bytes())
    for field in REQUIRED:
        if not (root.findtext(Q + field.replace("/", "/" + Q)) or "").strip():
            raise BundleError(f"the POM has no <{field}>")
    if (root.findtext(Q + "groupId"), root.findtext(Q + "artifactId"), root.findtext(Q + "version")) != (GROUP, ARTIFACT, version):
        raise BundleError("the POM's coordinates differ from the bundle's")
    if root.findtext(Q + "packaging") != "aar":
        raise BundleError(f"packaging is {root.findtext(Q + 'packaging')!r}, not aar")
    described = []
    for group, artifact, kind in API_DEPENDENCIES:
        dep = _find_dependency(root.find(Q + "dependencies"), group, artifact)
        if dep is None:
            raise BundleError(f"the POM does not depend on {group}:{artifact}")
        if kind is not None and dep.findtext(Q + "type") != kind:
            raise BundleError(f"{group}:{artifact} must be of type {kind} (its Android natives)")
        if dep.findtext(Q + "scope") != "compile" or not dep.findtext(Q + "version"):
            raise BundleError(f"{group}:{artifact} must have a version and compile scope")
        described.append(f"{artifact} {dep.findtext(Q + 'version')}" + (f"@{kind}" if kind else ""))
    with zipfile.ZipFile(dest / files["aar"]) as aar:
        names = aar.namelist()
    if "classes.jar" not in names or not any(n.startswith("jni/") and n.endswith(".so") for n in names):
        raise BundleError("the AAR has no classes.jar or no jni/<abi>/*.so")
    return (f"{GROUP}:{ARTIFACT}:{version}: aar, sources, javadoc, POM (depends on {', '.join(described)})"
            + ("; signed" if signed else "") + "; md5 + sha1 match")


GRADLE_LIKE_POM = """<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 https://maven.apache.org/xsd/maven-4.0.0.xsd">
  <!-- This module was also published with a richer model, Gradle metadata,  -->
  <!-- which should be used instead. Do not delete the following line which  -->
  <!-- is to indicate to Gradle or any Gradle module metadata file consumer  -->
  <!-- that they should prefer consuming it instead. -->
  <!-- do_not_remove: published-with-gradle-metadata -->
  <modelVersion>4.0.0</modelVersion>
  <groupId>com.posemesh</groupId>
  <artifactId>posemesh-registration</artifactId>
  <version>{version}</version>
  <packaging>aar</packaging>
  <name>posemesh-registration</name>
  <description>Register a posemesh node (a capture device) with the Domain Discovery Service.</description>
  <url>https://github.com/posemesh/posemesh-registration</url>
  <licenses>
    <license>
      <name>MIT</name>
      <url>https://github.com/posemesh/posemesh-registration/blob/main/LICENSE</url>
    </license>
  </licenses>
  <dependencies>
    <dependency>
      <groupId>org.jetbrains.kotlin</groupId>
      <artifactId>kotlin-stdlib</artifactId>
      <version>2.1.0</version>
      <scope>compile</scope>
    </dependency>
    <dependency>
      <groupId>net.java.dev.jna</groupId>
      <artifactId>jna</artifactId>
      <version>5.14.0</version>
      <scope>runtime</scope>
    </dependency>
    <dependency>
      <groupId>org.jetbrains.kotlinx</groupId>
      <artifactId>kotlinx-coroutines-core</artifactId>
      <version>1.8.1</version>
      <scope>runtime</scope>
    </dependency>
  </dependencies>
</project>
"""


def selftest() -> None:
    version = "1.2.3"
    with tempfile.TemporaryDirectory(prefix="maven-central-") as tmp:
        root = Path(tmp)

        def m2_with(pom: str) -> Path:
            m2 = root / f"m2-{len(list(root.iterdir()))}"
            src = component_dir(m2, version)
            src.mkdir(parents=True)
            files = main_files(version)
            with zipfile.ZipFile(src / files["aar"], "w") as z:
                z.writestr("classes.jar", b"")
                z.writestr("jni/arm64-v8a/libposemesh_registration_uniffi.so", b"\x7fELF")
            with zipfile.ZipFile(src / files["sources"], "w") as z:
                z.writestr("com/posemesh/registration/A.kt", "package com.posemesh.registration\n")
            (src / files["pom"]).write_text(pom.replace("{version}", version))
            return m2

        def fresh_bundle(pom: str = GRADLE_LIKE_POM) -> Path:
            out = root / f"out-{len(list(root.iterdir()))}"
            bundle(m2_with(pom), version, out, "posemesh/posemesh-registration")
            return out

        good = fresh_bundle()
        print("selftest ok: bundle from a Gradle-like POM: " + check(good, version))
        pom_text = (component_dir(good, version) / main_files(version)["pom"]).read_text()
        if "do_not_remove" in pom_text or "<type>aar</type>" not in pom_text:
            raise BundleError("selftest: the POM kept Gradle's metadata marker or lost JNA's aar type")
        for path in component_dir(good, version).iterdir():
            if path.suffix in (".aar", ".jar", ".pom"):
                path.with_name(path.name + ".asc").write_text("-----BEGIN PGP SIGNATURE-----\n")
        print("selftest ok: signed: " + check(good, version, signed=True))

        def tamper(out: Path, name: str, old: str, new: str, resum: bool = True) -> Path:
            path = component_dir(out, version) / name
            path.write_text(path.read_text().replace(old, new))
            if resum:  # the checksums follow, so only the planted fault is wrong
                write_checksums(path)
            return out

        pom_name = main_files(version)["pom"]
        faults = {
            "no JNA dependency in Gradle's POM": lambda: fresh_bundle(GRADLE_LIKE_POM.replace(
                "<artifactId>jna</artifactId>", "<artifactId>jna-platform</artifactId>")),
            "a POM for another version": lambda: bundle(m2_with(GRADLE_LIKE_POM.replace("{version}", "9.9.9")),
                                                        version, root / "other", "posemesh/posemesh-registration"),
            "JNA not an aar": lambda: check(tamper(fresh_bundle(), pom_name, "<type>aar</type>", ""), version),
            "no scm": lambda: check(tamper(fresh_bundle(), pom_name, "scm>", "source>"), version),
            "coroutines in runtime scope": lambda: check(tamper(
                fresh_bundle(), pom_name, "<version>1.8.1</version>\n      <scope>compile</scope>",
                "<version>1.8.1</version>\n      <scope>runtime</scope>"), version),
            "a stale checksum": lambda: check(tamper(fresh_bundle(), pom_name, "MIT", "MIT ", resum=False), version),
            "a missing signature": lambda: check(fresh_bundle(), version, signed=True),
        }
        for name, fault in faults.items():
            try:
                fault()
            except (BundleError, ET.ParseError) as caught:
                print(f"selftest ok: {name} caught ({str(caught).splitlines()[0][:90]})")
                continue
            raise BundleError(f"selftest: a planted fault was not caught: {name}")


def main() -> int:
    if sys.argv[1:] == ["--selftest"]:
        try:
            selftest()
        except BundleError as e:
            print(f"maven-central: {e}", file=sys.stderr)
            return 1
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("bundle", help="Maven layout for the Central Portal from Gradle's local publication")
    b.add_argument("--m2", type=Path, required=True, help="the local Maven repository (~/.m2/repository)")
    b.add_argument("--version", required=True)
    b.add_argument("--out", type=Path, required=True)
    b.add_argument("--repo", default="posemesh/posemesh-registration", help="GitHub OWNER/NAME for url and scm")
    c = sub.add_parser("check", help="check a bundle directory")
    c.add_argument("dir", type=Path)
    c.add_argument("--version")
    c.add_argument("--signed", action="store_true", help="every file must have its .asc")
    args = parser.parse_args()
    try:
        if args.command == "bundle":
            dest = bundle(args.m2, args.version, args.out, args.repo)
            print(f"{dest}: " + check(args.out, args.version))
        else:
            print(check(args.dir, args.version, args.signed))
    except (BundleError, OSError, ET.ParseError, zipfile.BadZipFile) as e:
        print(f"maven-central: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
