#!/usr/bin/env python3
"""Checks the structure of the GitHub workflows that build and publish a release.

actionlint checks that the workflows are valid; this checks that they stay safe to tag:

  pin            every action that is not in this repository (`./…`) is referenced by a
                 40-hex commit SHA (a tag or branch can be moved under a job that publishes);
  pin-comment    … with its version in a comment: `uses: owner/repo@<sha> # v1.2.3`;
  node24         … at a version that runs on Node 24 (NODE24_SINCE below; an action not listed
                 there fails until its action.yml has been read and it is added);
  publish-command, publish-secret, publish-permission
                 only release.yml's `publish` job publishes: no other job (in any workflow or
                 composite action) runs npm publish, cargo publish (without --dry-run), twine or
                 maturin upload, `gh release create/upload/edit`, a Gradle publish task other
                 than …ToMavenLocal, `git push`, a Maven Central upload, or a publishing action;
                 references a secret other than GITHUB_TOKEN; or is granted a write permission
                 (the job that calls release.yml for the dry run excepted: a caller must grant
                 what the called workflow's jobs ask for);
  publish-needs  `publish` needs every other job of release.yml (nothing is published before
                 every artifact is built and smoke-tested);
  publish-gate   `publish` runs only for a pushed tag: its `if` requires
                 github.event_name == 'push' and startsWith(github.ref, 'refs/tags/…'), so
                 workflow_dispatch and the weekly call are dry runs; it has an environment;
  dry-run        release.yml runs on workflow_dispatch and workflow_call; ci.yml calls it on a
                 schedule, passing no secrets;
  maturin        maturin in the workflows is the version scripts/requirements-dev.txt pins;
  ndk            the Android NDK is r28 or later and the AAR's .so alignment is checked;
  fuzz           a CI job that runs scripts/fuzz.sh installs a nightly toolchain first;
  wasm-pin       the Debian wasm toolchain (RUST_WEB_VERSION, LLD_22_VERSION) is pinned in
                 release.yml, to the same versions in every workflow that names them.

  scripts/check-workflows.py [--root DIR]      check DIR/.github (default: this repository)
  scripts/check-workflows.py --selftest        also plant each fault in a copy and fail unless
                                               every one is caught (and the copy passes clean)

Needs PyYAML (scripts/requirements-dev.txt); no network; well under a second.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable

try:
    import yaml
except ImportError:  # pragma: no cover - reported to the user
    print("check-workflows: PyYAML is missing: pip install -r scripts/requirements-dev.txt "
          "(scripts/setup-python.sh)", file=sys.stderr)
    sys.exit(2)

REPO = Path(__file__).resolve().parent.parent
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
RELEASE = "release.yml"
PUBLISH_JOB = "publish"

# The first version of each action whose action.yml says `using: node24` (read in each
# action's repository at that tag). Keyed by owner/repo.
NODE24_SINCE: dict[str, tuple[int, ...]] = {
    "actions/checkout": (5,),
    "actions/setup-python": (6,),
    "actions/setup-node": (5,),
    "actions/setup-java": (5,),
    "actions/upload-artifact": (6,),
    "actions/download-artifact": (7,),
    "PyO3/maturin-action": (1, 50),
    "gradle/actions": (5,),  # setup-gradle/action.yml
}

PUBLISH_COMMANDS = [
    (re.compile(r"\bnpm\s+publish\b(?![^\n]*--dry-run)"), "npm publish"),
    (re.compile(r"\bcargo\s+(?:\+\S+\s+)?publish\b(?![^\n]*--dry-run)"), "cargo publish"),
    (re.compile(r"\btwine\s+upload\b"), "twine upload"),
    (re.compile(r"\bmaturin\s+(?:publish|upload)\b"), "maturin publish/upload"),
    (re.compile(r"\bgh\s+release\s+(?:create|upload|edit|delete)\b"), "gh release create/upload/edit"),
    (re.compile(r"\bgradlew?\b[^\n]*\bpublish(?!\w*ToMavenLocal\b)\w*"), "a Gradle publish task"),
    (re.compile(r"\bgit\s+push\b"), "git push"),
    (re.compile(r"publisher/upload"), "a Maven Central upload"),
]
PUBLISHING_ACTIONS = {
    "pypa/gh-action-pypi-publish", "softprops/action-gh-release", "ncipollo/release-action",
    "actions/create-release", "actions/upload-release-asset", "svenstaro/upload-release-action",
    "JS-DevTools/npm-publish", "katyo/publish-crates", "rust-lang/crates-io-auth-action",
}
SHA = re.compile(r"[0-9a-f]{40}")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(['\"]?)([^\s'\"#]+)\1\s*(?:#\s*(.*))?$")
VERSION_COMMENT = re.compile(r"v(\d+)\.(\d+)\.(\d+)\b")


class Report:
    def __init__(self) -> None:
        self.errors: list[tuple[str, str]] = []
        self.notes: list[str] = []

    def error(self, rule: str, message: str) -> None:
        self.errors.append((rule, message))


def load(path: Path) -> dict:
    doc = yaml.load(path.read_text(), Loader=LOADER)
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: not a YAML mapping")
    if True in doc and "on" not in doc:  # YAML 1.1 reads `on:` as true
        doc["on"] = doc.pop(True)
    return doc


def run_text(step: dict) -> str:
    text = step.get("run") or ""
    text = text.replace("\\\n", " ")  # continuation lines are one command
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def steps_of(job: dict) -> list[dict]:
    return [s for s in job.get("steps") or [] if isinstance(s, dict)]


def action_repo(ref: str) -> str:
    return "/".join(ref.split("@", 1)[0].split("/")[:2])


# ---- pins ----------------------------------------------------------------------------------
def check_pins(path: Path, rel: str, report: Report) -> int:
    count = 0
    for number, line in enumerate(path.read_text().splitlines(), 1):
        m = USES_LINE.match(line)
        if not m:
            continue
        ref, comment = m.group(2), (m.group(3) or "").strip()
        if ref.startswith("./"):
            continue
        where = f"{rel}:{number}: {ref}"
        if ref.startswith("docker://"):
            if "@sha256:" not in ref:
                report.error("pin", f"{where}: a container image without @sha256: digest")
            continue
        count += 1
        if "@" not in ref or not SHA.fullmatch(ref.rsplit("@", 1)[1]):
            report.error("pin", f"{where}: not pinned by a 40-hex commit SHA")
            continue
        version = VERSION_COMMENT.match(comment)
        if not version:
            report.error("pin-comment", f"{where}: no `# vX.Y.Z` comment naming the pinned version")
            continue
        repo = action_repo(ref)
        since = NODE24_SINCE.get(repo)
        have = tuple(int(g) for g in version.groups())
        if since is None:
            report.error("node24", f"{where}: {repo} is not in NODE24_SINCE (read its action.yml "
                                   "at that version and record the first one on node24)")
        elif have[: len(since)] < since:
            report.error("node24", f"{where}: {repo} v{'.'.join(map(str, have))} runs on Node 20 "
                                   f"or older (node24 from v{'.'.join(map(str, since))})")
    return count


# ---- publishing ----------------------------------------------------------------------------
def publishes(steps: list[dict]) -> list[str]:
    found = []
    for step in steps:
        uses = step.get("uses")
        if isinstance(uses, str) and action_repo(uses) in PUBLISHING_ACTIONS:
            found.append(f"uses {action_repo(uses)}")
        text = run_text(step)
        for pattern, name in PUBLISH_COMMANDS:
            if pattern.search(text):
                found.append(name)
    return found


def secrets_in(value: object) -> set[str]:
    text = yaml.dump(value, Dumper=DUMPER, width=10**6)
    names = set(re.findall(r"secrets\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)", text))
    if re.search(r"secrets\s*\[", text):
        names.add("secrets[…]")
    return names - {"GITHUB_TOKEN"}


def write_permissions(permissions: object) -> list[str]:
    if permissions in ("write-all",):
        return ["write-all"]
    if isinstance(permissions, dict):
        return [f"{k}: {v}" for k, v in permissions.items() if v == "write"]
    return []


def calls_release(job: dict) -> bool:
    uses = job.get("uses")
    return isinstance(uses, str) and uses.endswith(f".github/workflows/{RELEASE}")


def normalized(expr: object) -> str:
    return re.sub(r"\s+", "", str(expr or "")).replace('"', "'")


def check_workflow(path: Path, rel: str, report: Report) -> dict:
    doc = load(path)
    jobs = doc.get("jobs") or {}
    if secrets_in(doc.get("env") or {}):
        report.error("publish-secret", f"{rel}: workflow-level env references secrets")
    if write_permissions(doc.get("permissions")):
        report.error("publish-permission", f"{rel}: workflow-level permissions grant "
                                           + ", ".join(write_permissions(doc.get("permissions"))))
    is_release = path.name == RELEASE
    for name, job in jobs.items():
        if not isinstance(job, dict):
            continue
        where = f"{rel}: job {name}"
        if is_release and name == PUBLISH_JOB:
            continue
        for what in publishes(steps_of(job)):
            report.error("publish-command", f"{where} publishes ({what}); only {RELEASE}'s `{PUBLISH_JOB}` may")
        secrets = secrets_in(job)
        if secrets:
            report.error("publish-secret", f"{where} references secrets {', '.join(sorted(secrets))}")
        if calls_release(job):
            if "secrets" in job:
                report.error("dry-run", f"{where} calls {RELEASE} with secrets: the dry run gets none")
        elif write_permissions(job.get("permissions")):
            report.error("publish-permission", f"{where} is granted "
                                               + ", ".join(write_permissions(job.get("permissions"))))
    return doc


def check_release(doc: dict, report: Report) -> None:
    jobs = doc.get("jobs") or {}
    publish = jobs.get(PUBLISH_JOB)
    if not isinstance(publish, dict):
        report.error("publish-needs", f"{RELEASE} has no `{PUBLISH_JOB}` job")
        return
    needs = publish.get("needs") or []
    needs = {needs} if isinstance(needs, str) else set(needs)
    missing = sorted(set(jobs) - {PUBLISH_JOB} - needs)
    if missing:
        report.error("publish-needs", f"{RELEASE}: `{PUBLISH_JOB}` does not need {', '.join(missing)}")
    gate = normalized(publish.get("if"))
    if "github.event_name=='push'" not in gate or "startsWith(github.ref,'refs/tags/" not in gate \
            or "||" in gate:
        report.error("publish-gate", f"{RELEASE}: `{PUBLISH_JOB}` must run only for a pushed tag "
                                     f"(if: github.event_name == 'push' && startsWith(github.ref, "
                                     f"'refs/tags/v')), has if: {publish.get('if')!r}")
    if not publish.get("environment"):
        report.error("publish-gate", f"{RELEASE}: `{PUBLISH_JOB}` has no environment (its secrets and protection rules)")
    if not publishes(steps_of(publish)):
        report.error("publish-needs", f"{RELEASE}: `{PUBLISH_JOB}` publishes nothing")
    on = doc.get("on") or {}
    on = {on: None} if isinstance(on, str) else ({k: None for k in on} if isinstance(on, list) else on)
    for trigger in ("workflow_dispatch", "workflow_call", "push"):
        if trigger not in on:
            report.error("dry-run", f"{RELEASE} does not run on {trigger}")
    push = on.get("push") or {}
    if push.get("branches") or not push.get("tags"):
        report.error("dry-run", f"{RELEASE}: push must trigger on tags only")
    report.notes.append(f"{RELEASE}: `{PUBLISH_JOB}` is the only publishing job, needs all "
                        f"{len(needs)} others, runs only for a pushed tag")


def check_ci(docs: dict[str, dict], report: Report) -> None:
    callers = [(wf, name) for wf, doc in docs.items() for name, job in (doc.get("jobs") or {}).items()
               if isinstance(job, dict) and calls_release(job)]
    scheduled = [wf for wf, _ in callers if "schedule" in (docs[wf].get("on") or {})]
    if not scheduled:
        report.error("dry-run", f"no scheduled workflow calls {RELEASE} (the weekly dry run)")
    else:
        report.notes.append(f"dry run: workflow_dispatch, and {', '.join(sorted(set(scheduled)))} "
                            f"on a schedule")


def check_maturin(root: Path, docs: dict[str, dict], report: Report) -> None:
    reqs = root / "scripts" / "requirements-dev.txt"
    pinned = re.search(r"^maturin==(\S+)", reqs.read_text(), re.M) if reqs.is_file() else None
    if not pinned:
        report.error("maturin", "scripts/requirements-dev.txt pins no maturin version")
        return
    want = pinned.group(1)
    for wf, doc in docs.items():
        for name, job in (doc.get("jobs") or {}).items():
            for step in steps_of(job) if isinstance(job, dict) else []:
                uses = step.get("uses")
                if isinstance(uses, str) and action_repo(uses) == "PyO3/maturin-action":
                    got = str((step.get("with") or {}).get("maturin-version", "latest")).lstrip("v")
                    if got != want:
                        report.error("maturin", f"{wf}: job {name}: maturin-action installs maturin {got}, "
                                                f"requirements-dev.txt pins {want}")
                for got in re.findall(r"maturin==([^\s\"']+)", run_text(step)):
                    if got != want:
                        report.error("maturin", f"{wf}: job {name}: pip installs maturin {got}, "
                                                f"requirements-dev.txt pins {want}")


def check_android(doc: dict, report: Report) -> None:
    ndk = str((doc.get("env") or {}).get("ANDROID_NDK_VERSION", ""))
    major = re.match(r"(\d+)\.", ndk)
    if not major or int(major.group(1)) < 28:
        report.error("ndk", f"{RELEASE}: env ANDROID_NDK_VERSION {ndk!r} is not NDK r28 or later")
    runs = "\n".join(run_text(s) for job in (doc.get("jobs") or {}).values() if isinstance(job, dict)
                     for s in steps_of(job))
    if "scripts/check-so-alignment.sh" not in runs:
        report.error("ndk", f"{RELEASE}: no job checks the AAR with scripts/check-so-alignment.sh")


def check_fuzz(docs: dict[str, dict], report: Report) -> None:
    for wf, doc in docs.items():
        for name, job in (doc.get("jobs") or {}).items():
            if not isinstance(job, dict):
                continue
            texts = [run_text(s) for s in steps_of(job)]
            if any("scripts/fuzz.sh" in t for t in texts):
                if not any(re.search(r"toolchain\s+install\s+nightly", t) for t in texts):
                    report.error("fuzz", f"{wf}: job {name} runs scripts/fuzz.sh without installing nightly Rust")


def check_wasm_pin(docs: dict[str, dict], report: Report) -> None:
    for name in ("RUST_WEB_VERSION", "LLD_22_VERSION"):
        values = {wf: str((doc.get("env") or {}).get(name)) for wf, doc in docs.items()
                  if name in (doc.get("env") or {})}
        if RELEASE in docs and RELEASE not in values:
            report.error("wasm-pin", f"{RELEASE}: env {name} is not set (the pinned wasm toolchain)")
        if len(set(values.values())) > 1:
            report.error("wasm-pin", f"env {name} differs between workflows: "
                                     + ", ".join(f"{wf} {v}" for wf, v in sorted(values.items())))


def check(root: Path) -> Report:
    report = Report()
    github = root / ".github"
    workflows = sorted([*github.glob("workflows/*.yml"), *github.glob("workflows/*.yaml")])
    actions = sorted([*github.glob("actions/**/action.yml"), *github.glob("actions/**/action.yaml")])
    pinned = 0
    docs: dict[str, dict] = {}
    for path in workflows:
        rel = str(path.relative_to(root))
        pinned += check_pins(path, rel, report)
        docs[path.name] = check_workflow(path, rel, report)
    for path in actions:
        rel = str(path.relative_to(root))
        pinned += check_pins(path, rel, report)
        action = load(path)
        for what in publishes(steps_of(action.get("runs") or {})):
            report.error("publish-command", f"{rel} publishes ({what}); only {RELEASE}'s `{PUBLISH_JOB}` may")
    if RELEASE not in docs:
        report.error("publish-needs", f"no .github/workflows/{RELEASE}")
    else:
        check_release(docs[RELEASE], report)
        check_android(docs[RELEASE], report)
    check_ci(docs, report)
    check_maturin(root, docs, report)
    check_fuzz(docs, report)
    check_wasm_pin(docs, report)
    report.notes.insert(0, f"{len(workflows)} workflows, {len(actions)} composite action(s): "
                           f"{pinned} action references pinned by SHA with their version, on Node 24")
    return report


# ---- selftest ------------------------------------------------------------------------------
def _job_span(lines: list[str], job: str) -> tuple[int, int]:
    start = next(i for i, line in enumerate(lines) if line.rstrip() == f"  {job}:")
    end = next((i for i in range(start + 1, len(lines)) if re.match(r"^  \S|^\S", lines[i])), len(lines))
    return start, end


def insert_in_job(text: str, job: str, after: str, block: str) -> str:
    """Inserts BLOCK (already indented) after the first line of JOB equal to AFTER (stripped)."""
    lines = text.splitlines(keepends=True)
    start, end = _job_span(lines, job)
    at = next(i for i in range(start, end) if lines[i].strip() == after)
    lines.insert(at + 1, block if block.endswith("\n") else block + "\n")
    return "".join(lines)


def replace_in_job(text: str, job: str, old: str, new: str) -> str:
    lines = text.splitlines(keepends=True)
    start, end = _job_span(lines, job)
    body = "".join(lines[start:end])
    if old not in body:
        raise KeyError(f"{old!r} not in job {job}")
    return "".join(lines[:start]) + body.replace(old, new, 1) + "".join(lines[end:])


def sub_once(pattern: str, new: str) -> Callable[[str], str]:
    def plant(text: str) -> str:
        out, n = re.subn(pattern, new, text, count=1, flags=re.M)
        if n != 1:
            raise KeyError(pattern)
        return out
    return plant


STEP = "      - "
FAULTS: list[tuple[str, str, str, Callable[[str], str]]] = [
    ("an action pinned by tag", "workflows/release.yml", "pin",
     sub_once(r"actions/checkout@[0-9a-f]{40} # v[\d.]+", "actions/checkout@v7")),
    ("a pin without its version comment", "workflows/release.yml", "pin-comment",
     sub_once(r"(PyO3/maturin-action@[0-9a-f]{40}) # v[\d.]+", r"\1")),
    ("an action version on Node 20", "workflows/release.yml", "node24",
     sub_once(r"(actions/setup-java@[0-9a-f]{40}) # v[\d.]+", r"\1 # v4.7.1")),
    ("an unknown action", "workflows/ci.yml", "node24",
     lambda t: insert_in_job(t, "test", "steps:", STEP + "uses: someone/else@" + "a" * 40 + " # v1.0.0")),
    ("a composite action pinned by tag", "actions/debian-toolchain/action.yml", "pin",
     sub_once(r"actions/setup-node@[0-9a-f]{40} # v[\d.]+", "actions/setup-node@v4")),
    ("npm publish in a build job", "workflows/release.yml", "publish-command",
     lambda t: insert_in_job(t, "linux", "steps:", STEP + "run: npm publish --access public x.tgz")),
    ("gh release upload in a build job", "workflows/release.yml", "publish-command",
     lambda t: insert_in_job(t, "apple", "steps:", STEP + 'run: gh release upload "$TAG" dist/x.zip')),
    ("a Gradle publish task in the Android job", "workflows/release.yml", "publish-command",
     lambda t: replace_in_job(t, "android", "publishReleasePublicationToMavenLocal", "publish")),
    ("cargo publish in CI", "workflows/ci.yml", "publish-command",
     lambda t: insert_in_job(t, "test", "steps:", STEP + "run: cargo publish -p posemesh-registration-core")),
    ("a publishing action in a build job", "workflows/release.yml", "publish-command",
     lambda t: insert_in_job(t, "linux", "steps:", STEP + "uses: pypa/gh-action-pypi-publish@" + "b" * 40 + " # v1.13.0")),
    ("git push in a build job", "workflows/release.yml", "publish-command",
     lambda t: insert_in_job(t, "apple", "steps:", STEP + "run: git push origin HEAD:refs/tags/1.0.0")),
    ("a publishing secret in a build job", "workflows/release.yml", "publish-secret",
     lambda t: insert_in_job(t, "wheels", "steps:",
                             STEP + "run: echo ok\n        env:\n          T: ${{ secrets.NPM_TOKEN }}")),
    ("a write permission on a build job", "workflows/release.yml", "publish-permission",
     lambda t: insert_in_job(t, "linux", "linux:", "    permissions:\n      id-token: write")),
    ("publish not needing a smoke test", "workflows/release.yml", "publish-needs",
     lambda t: replace_in_job(t, "publish", "wheels-smoke, ", "")),
    ("publish without a gate", "workflows/release.yml", "publish-gate",
     sub_once(r"^    if: github\.event_name == 'push' && startsWith\(github\.ref, 'refs/tags/v'\)$",
              "    if: always()")),
    ("publish on any tag ref, dispatch included", "workflows/release.yml", "publish-gate",
     sub_once(r"^    if: github\.event_name == 'push' && (startsWith\(github\.ref, 'refs/tags/v'\))$",
              r"    if: \1")),
    ("the dry run given secrets", "workflows/ci.yml", "dry-run",
     lambda t: insert_in_job(t, "release-dry-run", "uses: ./.github/workflows/release.yml", "    secrets: inherit")),
    ("no weekly dry run", "workflows/ci.yml", "dry-run",
     sub_once(r"^  schedule:\n    - cron: .*\n", "")),
    ("maturin other than requirements-dev.txt's", "workflows/release.yml", "maturin",
     sub_once(r"maturin-version: v[\d.]+", "maturin-version: v1.15.0")),
    ("an NDK older than r28", "workflows/release.yml", "ndk",
     sub_once(r'ANDROID_NDK_VERSION: "[\d.]+"', 'ANDROID_NDK_VERSION: "27.2.12479018"')),
    ("the wasm toolchain pinned apart in CI", "workflows/ci.yml", "wasm-pin",
     sub_once(r'RUST_WEB_VERSION: "[^"]+"', 'RUST_WEB_VERSION: "1.85.0+dfsg3-1~deb12u3"')),
    ("fuzzing without nightly", "workflows/ci.yml", "fuzz",
     sub_once(r"rustup toolchain install nightly[^\n]*", "true")),
]


def copy_tree(root: Path, dest: Path) -> None:
    shutil.copytree(root / ".github", dest / ".github")
    (dest / "scripts").mkdir(parents=True)
    shutil.copy(root / "scripts" / "requirements-dev.txt", dest / "scripts")


def selftest(root: Path) -> int:
    with tempfile.TemporaryDirectory(prefix="check-workflows-") as tmp:
        clean = Path(tmp) / "clean"
        copy_tree(root, clean)
        report = check(clean)
        if report.errors:
            print("selftest: the unmodified copy fails, so the planted faults prove nothing:", file=sys.stderr)
            for rule, message in report.errors:
                print(f"  [{rule}] {message}", file=sys.stderr)
            return 1
        failed = 0
        for index, (name, rel, rule, plant) in enumerate(FAULTS):
            copy = Path(tmp) / f"fault{index}"
            copy_tree(root, copy)
            target = copy / ".github" / rel
            try:
                target.write_text(plant(target.read_text()))
            except (KeyError, StopIteration) as e:
                print(f"selftest: could not plant '{name}' in .github/{rel} (the workflow changed: update "
                      f"FAULTS): {e}", file=sys.stderr)
                failed += 1
                continue
            caught = [m for r, m in check(copy).errors if r == rule]
            if caught:
                print(f"selftest ok: {name} caught [{rule}] ({caught[0][:110]})")
            else:
                print(f"selftest FAIL: {name} (.github/{rel}) not caught by [{rule}]", file=sys.stderr)
                failed += 1
        print(f"selftest: {len(FAULTS) - failed} of {len(FAULTS)} planted faults caught")
        return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO, help="the repository (default: this one)")
    parser.add_argument("--selftest", action="store_true", help="also prove every rule catches a planted fault")
    args = parser.parse_args()
    report = check(args.root)
    for rule, message in report.errors:
        print(f"check-workflows: [{rule}] {message}", file=sys.stderr)
    if report.errors:
        print(f"check-workflows: {len(report.errors)} problem(s)", file=sys.stderr)
        return 1
    for note in report.notes:
        print(f"check-workflows: {note}")
    return selftest(args.root) if args.selftest else 0


if __name__ == "__main__":
    sys.exit(main())
