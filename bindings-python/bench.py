"""Benchmark of the Python package: import time, signing speed vs coincurve, and
how soon a started loop is registered.

    python bench.py [--quick]

Prints, asserts nothing. Targets: import <= 20 ms; signing within 1.5x of
coincurve (libsecp256k1) on the same message; a started loop (wallet flow)
registered within 50 ms of start() on loopback, measured when POSEMESH_DDS_URL
names a conformance DDS (scripts/with-mock-dds). Needs the package and
coincurve + pycryptodome installed (the test venv has them).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import time

IMPORT_TARGET_MS = 20.0
STARTED_TARGET_MS = 50.0
SIGN_TARGET_RATIO = 1.5
KEY_HEX = "4c0883a69102937d6231471b5dbb6204fe5129617082798ce3f4fdf2548b6f90"
# What a node signs: its URL followed by an RFC 3339 timestamp.
MESSAGE = b"https://node.example.com2024-01-02T03:04:05.006007008Z"


def import_time_ms(runs: int) -> tuple[float, float]:
    """`python -X importtime -c "import posemesh_registration"`: the package's
    cumulative import time (best and median of `runs` fresh interpreters)."""
    totals = []
    for _ in range(runs):
        result = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import posemesh_registration"],
            capture_output=True, text=True, check=True,
        )
        cumulative = None
        for line in result.stderr.splitlines():
            # "import time: self [us] | cumulative | imported package"
            parts = [p.strip() for p in line.split("|")]
            if len(parts) == 3 and parts[2] == "posemesh_registration":
                cumulative = int(parts[1])
        if cumulative is None:
            raise SystemExit("posemesh_registration not found in -X importtime output:\n" + result.stderr)
        totals.append(cumulative / 1000.0)
    return min(totals), statistics.median(totals)


def per_second(function, seconds: float) -> float:
    """Calls per second of `function`, best of 3 rounds of about `seconds` / 3."""
    best = 0.0
    for _ in range(3):
        count, started = 0, time.perf_counter()
        deadline = started + seconds / 3
        while True:
            for _ in range(100):
                function()
            count += 100
            now = time.perf_counter()
            if now >= deadline:
                break
        best = max(best, count / (now - started))
    return best


def started_to_registered_ms(pr, dds_url: str, runs: int) -> tuple[float, float]:
    """start() to wait_until_registered() returning, fresh registrars, wallet flow."""
    times = []
    for run in range(runs):
        registrar = pr.Registrar(dds_url=dds_url, node_version="1.0.0",
                                 capabilities=["/reconstruction/global-refinement/v1"],
                                 registration_secret=f"bench-secret-{run}",
                                 private_key=pr.PrivateKey.generate())
        started = time.perf_counter()
        registrar.start()
        registered = registrar.wait_until_registered(timeout=10)
        times.append((time.perf_counter() - started) * 1000)
        registrar.stop()
        assert registered, "the conformance DDS did not register the node"
    return statistics.median(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    args = parser.parse_args()
    seconds = 1.5 if args.quick else 4.5
    runs = 5 if args.quick else 15

    import coincurve
    from Crypto.Hash import keccak

    import posemesh_registration as pr

    def keccak256(data: bytes) -> bytes:
        return keccak.new(digest_bits=256, data=data).digest()

    def sha256(data: bytes) -> bytes:
        return hashlib.sha256(data).digest()

    ours = pr.PrivateKey.from_hex(KEY_HEX)
    theirs = coincurve.PrivateKey(bytes.fromhex(KEY_HEX))
    # Same message, same signature (both RFC 6979, low-S): compare like with like.
    assert ours.sign_registration(MESSAGE) == theirs.sign_recoverable(MESSAGE, hasher=keccak256).hex()
    digest = keccak256(MESSAGE)

    best, median = import_time_ms(runs)
    print(f"import posemesh_registration: {best:.1f} ms best, {median:.1f} ms median "
          f"of {runs} (target <= {IMPORT_TARGET_MS:.0f} ms): {'OK' if best <= IMPORT_TARGET_MS else 'OVER'}")

    dds_url = os.environ.get("POSEMESH_DDS_URL")
    if dds_url:
        median, worst = started_to_registered_ms(pr, dds_url, runs * 2)
        print(f"start() to registered (wallet flow, loopback DDS): {median:.1f} ms median, "
              f"{worst:.1f} ms max of {runs * 2} (target <= {STARTED_TARGET_MS:.0f} ms): "
              f"{'OK' if median <= STARTED_TARGET_MS else 'OVER'}")

    cases = [
        ("registration signature (keccak256 + recoverable, hex)",
         lambda: ours.sign_registration(MESSAGE),
         lambda: theirs.sign_recoverable(MESSAGE, hasher=keccak256).hex()),
        ("registration signature vs coincurve signing the precomputed keccak digest",
         lambda: ours.sign_registration(MESSAGE),
         lambda: theirs.sign_recoverable(digest, hasher=None)),
        ("compact signature (sha256)",
         lambda: ours.sign_compact(MESSAGE),
         lambda: theirs.sign(MESSAGE, hasher=sha256)),
    ]
    print(f"signing {len(MESSAGE)}-byte message, posemesh_registration vs coincurve {coincurve.__version__ if hasattr(coincurve, '__version__') else ''}".rstrip())
    for name, mine, reference in cases:
        mine_rate = per_second(mine, seconds)
        their_rate = per_second(reference, seconds)
        ratio = their_rate / mine_rate  # how many times slower we are
        verdict = "OK" if ratio <= SIGN_TARGET_RATIO else "OVER"
        print(f"  {name}: {mine_rate:,.0f}/s vs {their_rate:,.0f}/s -> "
              f"our time / coincurve time = {ratio:.2f}x (target <= {SIGN_TARGET_RATIO}x): {verdict}")


if __name__ == "__main__":
    main()
