#!/usr/bin/env python3
"""Checks the generated Swift bindings without a Swift compiler (there is none here).

1. Parse: the generated `.swift`, the example(s) and the package's `Package.swift` parse with
   tree-sitter-swift without ERROR or MISSING nodes. Two constructs the grammar lacks are
   rewritten first, keeping lengths (so positions stay right): `@_documentation(...)`
   attributes are blanked, and the Void closure `{ () }` becomes the equivalent `{    }`.
2. Header: the generated C header compiles with `gcc -fsyntax-only -std=c11 -Wall -Wextra
   -Wpedantic -Werror` (Clang's `_Nonnull`/`_Nullable` defined away), and `-aux-info` lists
   every prototype it declares.
3. Symbols: every `uniffi_*` / `ffi_*` function the header declares is exported by the built
   library (`nm -D --defined-only`, type `T`).
4. Package: the module map names the header, and the Swift package's copies of the generated
   files are identical to the generated ones.
5. Hand-written Swift (every other `.swift` in the package's Sources/PosemeshRegistration):
   parses, and every member it reaches with `.name` is declared by the generated Swift, by
   itself, or is one of the few standard-library members it uses (`KNOWN_SWIFT_MEMBERS`); a
   renamed Rust method then fails here rather than on a Mac. The generated `RegistrationError`
   must have the Rust text as `description` and `errorDescription`, and the hand-written file
   must declare its `CustomStringConvertible` conformance (without it `errorDescription` is a
   dump of the enum).

With --selftest, plants one fault per check in scratch copies (a broken Swift line, a header
syntax error, a prototype the library does not export, a stale package copy, a call of a
method nobody declares, a missing conformance) and fails unless every fault is caught.

Usage: check_swift.py --generated DIR --library LIB --package DIR [--extra FILE ...] [--selftest]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import tree_sitter
import tree_sitter_swift

MODULE = "PosemeshRegistration"
FFI_MODULE = "PosemeshRegistrationFFI"
# The bindings declare well over a hundred FFI functions; far fewer means a truncated header.
MIN_DECLARATIONS = 50


class CheckFailed(Exception):
    pass


_DOC_ATTR = re.compile(rb"@_documentation\([^)]*\)")
# tree-sitter-swift 0.7.4 has no empty-tuple expression `()`; uniffi writes `{ () }` for a
# callback returning Void. `{    }` is the same closure (an empty body returns `()`).
_VOID_CLOSURE = re.compile(rb"\{ \(\) \}")


def normalize_for_grammar(source: bytes) -> bytes:
    """Same-length rewrites of valid Swift the grammar does not know (positions stay right)."""
    source = _DOC_ATTR.sub(lambda m: b" " * len(m.group(0)), source)
    return _VOID_CLOSURE.sub(b"{    }", source)


def parse_errors(source: bytes) -> list[str]:
    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_swift.language()))
    tree = parser.parse(normalize_for_grammar(source))
    problems: list[str] = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type == "ERROR" or node.is_missing:
            line, column = node.start_point
            kind = f"missing {node.type}" if node.is_missing else "syntax error"
            snippet = source.splitlines()[line][:120].decode("utf-8", "replace") if source else ""
            problems.append(f"line {line + 1} column {column + 1}: {kind}: {snippet.strip()}")
        elif node.has_error:
            stack.extend(node.children)
    return problems


def check_parse(path: Path) -> int:
    source = path.read_bytes()
    if not source.strip():
        raise CheckFailed(f"{path}: empty")
    problems = parse_errors(source)
    if problems:
        raise CheckFailed(f"{path} does not parse:\n  " + "\n  ".join(problems[:20]))
    return len(source.splitlines())


_DECL = re.compile(r"\b((?:uniffi|ffi)_[A-Za-z0-9_]+)\s*\(")


def header_declarations(header: Path, scratch: Path) -> list[str]:
    aux = scratch / "decls.txt"
    aux.unlink(missing_ok=True)
    command = [
        "gcc", "-fsyntax-only", "-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Werror",
        "-D_Nonnull=", "-D_Nullable=", "-I", str(header.parent), "-aux-info", str(aux),
        "-x", "c", "-",
    ]
    result = subprocess.run(
        command, input=f'#include "{header.name}"\n', capture_output=True, text=True,
    )
    if result.returncode != 0:
        raise CheckFailed(f"{header} does not compile:\n{result.stderr.strip()[:3000]}")
    names = []
    for line in aux.read_text().splitlines():
        # Each line: /* <file>:<line>:<flags> */ <declaration>; keep those from our header.
        if f"{header.name}:" not in line:
            continue
        match = _DECL.search(line.split("*/", 1)[-1])
        if match:
            names.append(match.group(1))
    if len(names) < MIN_DECLARATIONS:
        raise CheckFailed(f"{header} declares only {len(names)} uniffi functions")
    return sorted(set(names))


def exported_symbols(library: Path) -> set[str]:
    result = subprocess.run(
        ["nm", "-D", "--defined-only", str(library)], capture_output=True, text=True,
    )
    if result.returncode != 0:
        raise CheckFailed(f"nm failed on {library}: {result.stderr.strip()}")
    symbols = set()
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] == "T":
            symbols.add(parts[2])
    return symbols


def check_symbols(declared: list[str], library: Path) -> None:
    exported = exported_symbols(library)
    missing = [name for name in declared if name not in exported]
    if missing:
        raise CheckFailed(
            f"{len(missing)} declared functions are not exported by {library.name}: "
            + ", ".join(missing[:10])
        )


def check_package(generated: Path, package: Path) -> None:
    modulemap = (generated / f"{FFI_MODULE}.modulemap").read_text()
    if f"module {FFI_MODULE}" not in modulemap or f'header "{FFI_MODULE}.h"' not in modulemap:
        raise CheckFailed(f"the module map does not declare {FFI_MODULE} over {FFI_MODULE}.h")
    copies = {
        generated / f"{MODULE}.swift": package / "Sources" / MODULE / f"{MODULE}.swift",
        generated / f"{FFI_MODULE}.h": package / "Headers" / f"{FFI_MODULE}.h",
        generated / f"{FFI_MODULE}.modulemap": package / "Headers" / "module.modulemap",
    }
    for source, copy in copies.items():
        if not copy.is_file() or copy.read_bytes() != source.read_bytes():
            raise CheckFailed(f"{copy} is missing or differs from {source}: run generate.sh")
    manifest = (package / "Package.swift").read_text()
    for name in (MODULE, FFI_MODULE):
        if f'"{name}"' not in manifest:
            raise CheckFailed(f"Package.swift does not mention target {name}")


# Standard-library and Foundation members the hand-written Swift uses (`x.name`).
KNOWN_SWIFT_MEMBERS = {
    "yield", "finish", "onTermination", "cancel", "isCancelled", "sleep", "Stopped", "init",
}
_DECLARED = re.compile(
    r"\b(?:func|var|let|case|class|struct|enum|protocol|typealias|actor)\s+`?([A-Za-z_]\w*)"
)
# `.name` after an identifier, `)`, `]` or `?` (a member), not a number or a `..` range.
_MEMBER = re.compile(r"(?<=[\w)\]?])\.([A-Za-z_]\w*)")
_COMMENT = re.compile(r"//[^\n]*")


def handwritten_files(package: Path) -> list[Path]:
    sources = package / "Sources" / MODULE
    return sorted(p for p in sources.glob("*.swift") if p.name != f"{MODULE}.swift")


def check_handwritten(generated: Path, files: list[Path]) -> int:
    generated_text = (generated / f"{MODULE}.swift").read_text()
    declared = set(_DECLARED.findall(generated_text))
    for path in files:
        declared |= set(_DECLARED.findall(path.read_text()))
    used = 0
    for path in files:
        code = _COMMENT.sub("", path.read_text())
        # String literals can hold anything; members inside interpolations are rare here.
        code = re.sub(r'"[^"\n]*"', '""', code)
        unknown = sorted(
            {m for m in _MEMBER.findall(code) if m not in declared and m not in KNOWN_SWIFT_MEMBERS}
        )
        if unknown:
            raise CheckFailed(
                f"{path.name} uses members the generated Swift does not declare: {', '.join(unknown)}"
            )
        used += len(_MEMBER.findall(code))
    # Readable errors: the Rust Display as `description`, reached by `errorDescription`.
    # The enum up to its converter (a "}" at column 0 closes the generated description).
    error_enum = re.search(
        r"\nenum RegistrationError\b.*?\npublic struct FfiConverterTypeRegistrationError",
        generated_text, re.S,
    )
    if not error_enum:
        raise CheckFailed("the generated Swift has no enum RegistrationError")
    body = error_enum.group(0)
    for needle in ("public var description: String", "uniffi_trait_display",
                   "public var errorDescription: String?", "String(reflecting: self)"):
        if needle not in body:
            raise CheckFailed(f"RegistrationError lacks {needle!r} (is Display exported?)")
    if not any(
        re.search(r"extension\s+RegistrationError\s*:\s*CustomStringConvertible", p.read_text())
        for p in files
    ):
        raise CheckFailed(
            "no hand-written `extension RegistrationError: CustomStringConvertible`: "
            "errorDescription would dump the enum"
        )
    return used


def run_checks(args: argparse.Namespace, scratch: Path, quiet: bool = False) -> None:
    say = (lambda *_: None) if quiet else print
    generated: Path = args.generated
    handwritten = handwritten_files(args.package)
    if not handwritten:
        raise CheckFailed(f"no hand-written Swift in {args.package}/Sources/{MODULE}")
    swift_files = [generated / f"{MODULE}.swift", args.package / "Package.swift", *handwritten,
                   *args.extra]
    for path in swift_files:
        lines = check_parse(path)
        say(f"parse ok: {path} ({lines} lines)")
    declared = header_declarations(generated / f"{FFI_MODULE}.h", scratch)
    say(f"header ok: {FFI_MODULE}.h compiles with gcc -Werror, {len(declared)} functions declared")
    check_symbols(declared, args.library)
    say(f"symbols ok: all {len(declared)} exported as T by {args.library.name}")
    check_package(generated, args.package)
    say(f"package ok: {args.package}/Package.swift, module map, sources current")
    used = check_handwritten(generated, handwritten)
    say(f"hand-written ok: {', '.join(p.name for p in handwritten)}: {used} member uses, all "
        "declared; RegistrationError describes itself with the Rust text")


def selftest(args: argparse.Namespace, scratch: Path) -> None:
    """Plants one fault per check in copies and requires each to be caught."""
    def copy_inputs(name: str) -> argparse.Namespace:
        root = scratch / name
        shutil.copytree(args.generated, root / "generated")
        shutil.copytree(args.package, root / "package", ignore=shutil.ignore_patterns(".build"))
        (root / args.library.name).symlink_to(args.library.resolve())
        return argparse.Namespace(
            generated=root / "generated",
            package=root / "package",
            library=root / args.library.name,
            extra=list(args.extra),
        )

    def plant_swift(ns: argparse.Namespace) -> None:
        path = ns.generated / f"{MODULE}.swift"
        lines = path.read_text().splitlines(keepends=True)
        at = next(i for i, line in enumerate(lines) if line.startswith("open class Registrar"))
        lines.insert(at + 1, "    public func broken( -> {\n")
        path.write_text("".join(lines))

    def plant_header_syntax(ns: argparse.Namespace) -> None:
        path = ns.generated / f"{FFI_MODULE}.h"
        path.write_text(path.read_text() + "\nvoid uniffi_broken(int x\n")

    def plant_unexported(ns: argparse.Namespace) -> None:
        path = ns.generated / f"{FFI_MODULE}.h"
        path.write_text(
            path.read_text()
            + "\nvoid uniffi_posemesh_registration_uniffi_fn_func_not_in_the_library(void);\n"
        )

    def plant_stale_copy(ns: argparse.Namespace) -> None:
        path = ns.package / "Sources" / MODULE / f"{MODULE}.swift"
        path.write_text(path.read_text() + "\n// stale\n")

    def plant_bad_documentation(ns: argparse.Namespace) -> None:
        # Blanking must only hide @_documentation attributes, not errors next to them.
        path = ns.generated / f"{MODULE}.swift"
        path.write_text(path.read_text() + "\n@_documentation(visibility: private) func f( {\n")

    def plant_unknown_member(ns: argparse.Namespace) -> None:
        path = handwritten_files(ns.package)[0]
        path.write_text(path.read_text().replace(
            "self.registerOnceWith(", "self.registerOnceWithToken(", 1))

    def plant_missing_conformance(ns: argparse.Namespace) -> None:
        for path in handwritten_files(ns.package):
            path.write_text(path.read_text().replace(
                "extension RegistrationError: CustomStringConvertible {}", ""))

    faults = {
        "broken Swift line": plant_swift,
        "broken line after @_documentation": plant_bad_documentation,
        "header syntax error": plant_header_syntax,
        "declared symbol not exported": plant_unexported,
        "stale package copy": plant_stale_copy,
        "undeclared member in hand-written Swift": plant_unknown_member,
        "missing CustomStringConvertible conformance": plant_missing_conformance,
    }
    # The unmodified copies must pass, or the planted faults prove nothing.
    run_checks(copy_inputs("clean"), scratch, quiet=True)
    for index, (name, plant) in enumerate(faults.items()):
        ns = copy_inputs(f"fault{index}")
        plant(ns)
        try:
            run_checks(ns, scratch, quiet=True)
        except CheckFailed as caught:
            print(f"selftest ok: {name} caught ({str(caught).splitlines()[0][:100]})")
            continue
        raise CheckFailed(f"selftest: the checks missed a planted fault: {name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generated", type=Path, required=True, help="uniffi's Swift output dir")
    parser.add_argument("--library", type=Path, required=True, help="the built cdylib")
    parser.add_argument("--package", type=Path, required=True, help="the Swift package dir")
    parser.add_argument("--extra", type=Path, action="append", default=[], help="more Swift files to parse")
    parser.add_argument("--selftest", action="store_true", help="prove each check catches a planted fault")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="check-swift-") as tmp:
        try:
            if args.selftest:
                selftest(args, Path(tmp))
            else:
                run_checks(args, Path(tmp))
        except CheckFailed as failure:
            print(f"check_swift: FAILED: {failure}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
