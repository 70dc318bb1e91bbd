#!/usr/bin/env python3
"""Writes and checks the Package.swift of a release: the Swift package users add by URL.

A release of the Swift package is a tag `<version>` (no `v`: SwiftPM prefers it over the
source tag `v<version>` when both exist) whose commit holds this manifest at the repository
root. Its binary target is the release's XCFramework zip (url + checksum); its Swift target is
the generated Swift in bindings-uniffi/swift/Sources/PosemeshRegistration, committed to that
tag's commit only. The text is generated here in one piece (no sed), from values that are
checked first, and a check reads it back: a manifest is valid only when it is exactly what
`write` makes for the url and checksum it names, so a stray `n` or a lost comma fails.

  swift-manifest.py write --url URL (--checksum HEX | --zip FILE) --out FILE [--sources DIR]
  swift-manifest.py check FILE [--url URL] [--checksum HEX]
      FILE is exactly the manifest `write` makes (for the url/checksum given, if given); it
      parses with tree-sitter-swift where that is installed; its platforms and product agree
      with bindings-uniffi/swift/Package.swift (the package developers build locally).
  swift-manifest.py verify-dump DUMP.json --url URL --checksum HEX
      DUMP.json is `swift package dump-package` of that manifest (a Swift toolchain read it):
      binary target PosemeshRegistrationFFI at URL with CHECKSUM, product PosemeshRegistration.
  swift-manifest.py --selftest
      writes a manifest, checks it, then plants faults (BSD sed's literal `n`, a lost comma, a
      short checksum, another url, a quote in the url, a dump that disagrees) and fails unless
      each is caught.

The checksum is SwiftPM's: the SHA-256 of the zip, as `swift package compute-checksum` prints.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEV_MANIFEST = REPO / "bindings-uniffi" / "swift" / "Package.swift"
MODULE = "PosemeshRegistration"
FFI_MODULE = "PosemeshRegistrationFFI"
DEFAULT_SOURCES = "bindings-uniffi/swift/Sources/PosemeshRegistration"
PLATFORMS = "[.iOS(.v15), .macOS(.v12)]"

TEMPLATE = """\
// swift-tools-version:5.9
// The Swift package of a posemesh-registration release, written by scripts/swift-manifest.py
// (docs/release.md). The binary target is the release's XCFramework; the Swift target is the
// generated Swift committed with this manifest to the release's tag.
import PackageDescription

let package = Package(
    name: "{module}",
    platforms: {platforms},
    products: [
        .library(name: "{module}", targets: ["{module}"]),
    ],
    targets: [
        .binaryTarget(
            name: "{ffi}",
            url: "{url}",
            checksum: "{checksum}"
        ),
        .target(
            name: "{module}",
            dependencies: ["{ffi}"],
            path: "{sources}"
        ),
    ]
)
"""

_URL = re.compile(r"https://[A-Za-z0-9._~:/%+-]+\.zip")
_CHECKSUM = re.compile(r"[0-9a-f]{64}")
_SOURCES = re.compile(r"[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*")


class ManifestError(Exception):
    pass


def validate(url: str, checksum: str, sources: str) -> None:
    if not _URL.fullmatch(url):
        raise ManifestError(f"url must be https://… ending in .zip, without quotes or spaces: {url!r}")
    if not _CHECKSUM.fullmatch(checksum):
        raise ManifestError(f"checksum must be 64 lowercase hex digits (SHA-256): {checksum!r}")
    if not _SOURCES.fullmatch(sources) or ".." in sources.split("/"):
        raise ManifestError(f"sources must be a relative path inside the repository: {sources!r}")


def render(url: str, checksum: str, sources: str = DEFAULT_SOURCES) -> str:
    validate(url, checksum, sources)
    return TEMPLATE.format(module=MODULE, ffi=FFI_MODULE, platforms=PLATFORMS,
                           url=url, checksum=checksum, sources=sources)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _field(text: str, name: str) -> str:
    found = re.findall(rf'^\s*{name}: "([^"\n]*)"', text, re.M)
    if len(found) != 1:
        raise ManifestError(f"expected one `{name}: \"…\"` line, found {len(found)}")
    return found[0]


def swift_parse_errors(text: str) -> list[str] | None:
    """tree-sitter-swift's ERROR/MISSING nodes, or None when it is not installed."""
    try:
        import tree_sitter
        import tree_sitter_swift
    except ImportError:
        return None
    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_swift.language()))
    tree = parser.parse(text.encode())
    problems, stack = [], [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type == "ERROR" or node.is_missing:
            problems.append(f"line {node.start_point[0] + 1}: {'missing ' + node.type if node.is_missing else 'syntax error'}")
        elif node.has_error:
            stack.extend(node.children)
    return problems


def dev_manifest_agrees() -> None:
    """The local package (bindings-uniffi/swift) declares the same platforms and product."""
    if not DEV_MANIFEST.is_file():
        return
    dev = DEV_MANIFEST.read_text()
    if f"platforms: {PLATFORMS}," not in dev:
        raise ManifestError(f"{DEV_MANIFEST.relative_to(REPO)} declares other platforms than {PLATFORMS}")
    if f'.library(name: "{MODULE}", targets: ["{MODULE}"])' not in dev:
        raise ManifestError(f"{DEV_MANIFEST.relative_to(REPO)} has no library product {MODULE}")


def check(text: str, url: str | None = None, checksum: str | None = None) -> str:
    """Returns a one-line summary; raises ManifestError on any deviation."""
    found_url, found_checksum = _field(text, "url"), _field(text, "checksum")
    if url is not None and found_url != url:
        raise ManifestError(f"url is {found_url!r}, expected {url!r}")
    if checksum is not None and found_checksum != checksum:
        raise ManifestError(f"checksum is {found_checksum!r}, expected {checksum!r}")
    sources = _field(text, "path")
    expected = render(found_url, found_checksum, sources)
    if text != expected:
        for number, (got, want) in enumerate(zip(text.splitlines(), expected.splitlines()), 1):
            if got != want:
                raise ManifestError(f"line {number} differs from the generated manifest:\n"
                                    f"  got:  {got.strip()}\n  want: {want.strip()}")
        raise ManifestError("the manifest's length differs from the generated one")
    errors = swift_parse_errors(text)
    if errors:
        raise ManifestError("tree-sitter-swift: " + "; ".join(errors[:5]))
    dev_manifest_agrees()
    parsed = "parses (tree-sitter-swift)" if errors is not None else "tree-sitter-swift not installed"
    return f"binaryTarget {FFI_MODULE} at {found_url} (sha256 {found_checksum[:12]}…), sources {sources}; {parsed}"


def verify_dump(dump: dict, url: str, checksum: str) -> str:
    targets = {t.get("name"): t for t in dump.get("targets", [])}
    binary = targets.get(FFI_MODULE)
    if binary is None:
        raise ManifestError(f"dump-package: no target {FFI_MODULE}")
    if binary.get("type") != "binary":
        raise ManifestError(f"dump-package: {FFI_MODULE} is {binary.get('type')!r}, not a binary target")
    if binary.get("url") != url or binary.get("checksum") != checksum:
        raise ManifestError(f"dump-package: {FFI_MODULE} is {binary.get('url')!r} / {binary.get('checksum')!r}")
    if MODULE not in targets:
        raise ManifestError(f"dump-package: no target {MODULE}")
    if MODULE not in [p.get("name") for p in dump.get("products", [])]:
        raise ManifestError(f"dump-package: no product {MODULE}")
    return f"dump-package: product {MODULE}, binary target {FFI_MODULE} at the release url with its checksum"


def selftest() -> None:
    url = "https://github.com/posemesh/posemesh-registration/releases/download/v1.2.3/PosemeshRegistrationFFI-1.2.3.xcframework.zip"
    with tempfile.TemporaryDirectory(prefix="swift-manifest-") as tmp:
        zip_path = Path(tmp) / "x.zip"
        zip_path.write_bytes(b"not really a zip, but hashed like one")
        checksum = sha256_of(zip_path)
    good = render(url, checksum)
    print("selftest ok: clean manifest: " + check(good, url, checksum))
    dump = {"name": MODULE, "products": [{"name": MODULE}],
            "targets": [{"name": FFI_MODULE, "type": "binary", "url": url, "checksum": checksum},
                        {"name": MODULE, "type": "regular"}]}
    print("selftest ok: clean dump: " + verify_dump(dump, url, checksum))

    line = f'            url: "{url}",\n'
    faults = {
        # What `sed 's#…#…\n…#'` writes on macOS: a literal n instead of a newline.
        "BSD sed's literal n": lambda: check(good.replace(
            line + "            checksum:", f'            url: "{url}",n            checksum:'), url, checksum),
        "a lost comma": lambda: check(good.replace(f'"{url}",', f'"{url}"'), url, checksum),
        "a short checksum": lambda: check(good.replace(checksum, checksum[:-1]), None, None),
        "another url than the release's": lambda: check(good, url.replace("v1.2.3", "v1.2.4"), checksum),
        "another checksum than the zip's": lambda: check(good, url, "0" * 64),
        "a quote in the url": lambda: render(url + '"', checksum),
        "a path outside the repository": lambda: render(url, checksum, "../elsewhere"),
        "a second binary target": lambda: check(good.replace(
            "    targets: [\n", f'    targets: [\n        .binaryTarget(name: "X", url: "{url}", checksum: "{checksum}"),\n'),
            url, checksum),
        "a dump with another checksum": lambda: verify_dump(
            {**dump, "targets": [{**dump["targets"][0], "checksum": "1" * 64}, dump["targets"][1]]}, url, checksum),
        "a dump without the product": lambda: verify_dump({**dump, "products": []}, url, checksum),
    }
    for name, fault in faults.items():
        try:
            fault()
        except ManifestError as caught:
            print(f"selftest ok: {name} caught ({str(caught).splitlines()[0][:90]})")
            continue
        raise ManifestError(f"selftest: a planted fault was not caught: {name}")


def main() -> int:
    if sys.argv[1:] == ["--selftest"]:
        try:
            selftest()
        except ManifestError as e:
            print(f"swift-manifest: {e}", file=sys.stderr)
            return 1
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("write", help="write the release's Package.swift")
    w.add_argument("--url", required=True)
    group = w.add_mutually_exclusive_group(required=True)
    group.add_argument("--checksum")
    group.add_argument("--zip", type=Path, help="the XCFramework zip: its SHA-256 is the checksum")
    w.add_argument("--sources", default=DEFAULT_SOURCES)
    w.add_argument("--out", type=Path, required=True)
    c = sub.add_parser("check", help="check a written Package.swift")
    c.add_argument("file", type=Path)
    c.add_argument("--url")
    c.add_argument("--checksum")
    d = sub.add_parser("verify-dump", help="check `swift package dump-package` output")
    d.add_argument("dump", type=Path)
    d.add_argument("--url", required=True)
    d.add_argument("--checksum", required=True)
    args = parser.parse_args()
    try:
        if args.command == "write":
            checksum = args.checksum if args.checksum else sha256_of(args.zip)
            text = render(args.url, checksum, args.sources)
            check(text, args.url, checksum)
            args.out.write_text(text)
            print(f"wrote {args.out}: binaryTarget {FFI_MODULE} at {args.url}, checksum {checksum}")
        elif args.command == "check":
            print(f"{args.file}: " + check(args.file.read_text(), args.url, args.checksum))
        else:
            print(verify_dump(json.loads(args.dump.read_text()), args.url, args.checksum))
    except (ManifestError, OSError, json.JSONDecodeError) as e:
        print(f"swift-manifest: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
