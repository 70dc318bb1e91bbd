#!/usr/bin/env python3
"""Adjusts the Kotlin uniffi 0.32 generates, where its templates cannot be configured.

Run by generate.sh on the generated file, in place. Each edit must match exactly as often as
expected, or the script fails (a new uniffi version then needs a look, not a silent no-op).

1. Foreign callbacks catch `Throwable`, not only `Exception`. An `Error` thrown by app code
   (`TODO()`'s `NotImplementedError`, an `AssertionError`, a `StackOverflowError`) escaped
   uniffi's `catch (e: Exception)`: from a sync callback (Logger, Signer.address) it reached
   JNA, which printed it and returned "success" to Rust; from an async one (HttpClient.send,
   SnapshotStore) it killed the coroutine, so Rust waited for an answer that never came and a
   failed save counted as saved. Now every Throwable is reported to Rust as an unexpected
   error: a failed request, a failed save (a `state.save.error` event), an ignored log call.
2. `RegistrationException.message` is the Rust error text (the `Display` the crate exports,
   which uniffi turns into `toString()`), not uniffi's `field=value` dump (empty for
   `AlreadyRunning` and `Stopped`).
3. `close()` on a `Registrar` stops its loop first, and on a `RegistrationLoop` cancels it:
   closing says "done". So does `destroy()`: with the package imported by `*`, `use {}` is
   uniffi's `Disposable.use`, which calls `destroy()`, not `close()`, and left the loop
   running. Garbage collection frees the Rust object through its cleaner, calling neither,
   so a started loop is never stopped silently.
4. A call on a closed object throws `RegistrationException.Closed` ("Registrar is closed"),
   the library's own exception type, rather than uniffi's `IllegalStateException`.

Usage: patch_kotlin.py FILE
"""

from __future__ import annotations

import re
import sys
from pathlib import Path


class PatchFailed(Exception):
    pass


def replace_exactly(text: str, old: str, new: str, count: int, what: str) -> str:
    found = text.count(old)
    if found != count:
        raise PatchFailed(f"{what}: expected {count} occurrence(s) of {old!r}, found {found}")
    return text.replace(old, new)


def class_span(text: str, header: str) -> tuple[int, int]:
    """Start and end offsets of the top-level class whose declaration starts with `header`."""
    start = text.find("\n" + header)
    if start < 0:
        raise PatchFailed(f"no class declaration starting with {header!r}")
    start += 1
    # uniffi follows each class with its converter, `public object FfiConverter…` (a "}" at
    # column 0 inside the class, closing a constructor call, rules out a simpler end).
    end = text.find("\npublic object ", start)
    if end < 0:
        raise PatchFailed(f"no end of {header!r}")
    return start, end


def patch_callbacks(text: str) -> str:
    # uniffiTraitInterfaceCall, ...WithError, ...Async, ...AsyncWithError.
    return replace_exactly(
        text,
        "} catch(e: kotlin.Exception) {",
        "} catch(e: kotlin.Throwable) { // patched by patch_kotlin.py: Errors too",
        4,
        "callback catch clauses",
    )


MESSAGE_GETTER = re.compile(r'override val message\n(\s+)get\(\) = "[^"\n]*"')


def patch_error_messages(text: str) -> str:
    start, end = class_span(text, "sealed class RegistrationException")
    body = text[start:end]
    if "override fun toString(): String" not in body:
        raise PatchFailed("RegistrationException has no toString() (is Display exported?)")
    body, n = MESSAGE_GETTER.subn(
        lambda m: "override val message: String\n" + m.group(1) + "get() = this.toString() // patched: the Rust text",
        body,
    )
    variants = len(re.findall(r"\n    class \w+\(", body))
    if n == 0 or n != variants:
        raise PatchFailed(f"RegistrationException: patched {n} message getters for {variants} variants")
    return text[:start] + body + text[end:]


CLOSE = """    @Synchronized
    override fun close() {
        this.destroy()
    }"""


def patch_close(text: str, class_name: str, stop_call: str) -> str:
    start, end = class_span(text, f"open class {class_name}")
    class_name = class_name.rstrip(":")
    body = text[start:end]
    patched = f"""    /**
     * {"Stops the loop" if stop_call == "stop" else "Cancels the loop"} (`{stop_call}()`), then frees the object. Garbage collection
     * only frees it: a started loop is never stopped silently. (patched by patch_kotlin.py)
     */
    @Synchronized
    override fun close() {{
        if (!this.uniffiIsDestroyed) {{
            try {{ this.{stop_call}() }} catch (_: RegistrationException.Closed) {{ /* destroyed meanwhile */ }}
        }}
        this.destroy()
    }}"""
    body = replace_exactly(body, CLOSE, patched, 1, f"{class_name}.close()")
    patched_destroy = f"""    /**
     * {"Stops the loop" if stop_call == "stop" else "Cancels the loop"} (`{stop_call}()`), then frees the object, as `close()` does: uniffi's
     * `use {{}}` calls this. Garbage collection calls neither. (patched by patch_kotlin.py)
     */
    override fun destroy() {{
        if (!this.uniffiIsDestroyed) {{
            try {{ this.{stop_call}() }} catch (_: RegistrationException.Closed) {{ /* destroyed meanwhile */ }}
        }}
"""
    # The generated body follows: mark destroyed, and free once no call is running.
    body = replace_exactly(body, DESTROY, patched_destroy, 1, f"{class_name}.destroy()")
    return text[:start] + body + text[end:]


DESTROY = """    override fun destroy() {
"""


DESTROYED = 'throw IllegalStateException("${this.javaClass.simpleName} object has already been destroyed")'
CLOSED = 'throw RegistrationException.Closed(this.javaClass.simpleName) // patched: the library\'s exception'


def patch_closed_calls(text: str) -> str:
    found = text.count(DESTROYED)
    if found == 0:
        raise PatchFailed(f"closed objects: expected the destroyed-object throw, found none")
    return text.replace(DESTROYED, CLOSED)


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    path = Path(sys.argv[1])
    text = path.read_text()
    if "patched by patch_kotlin.py" in text:
        raise PatchFailed(f"{path} is patched already")
    text = patch_callbacks(text)
    text = patch_error_messages(text)
    text = patch_closed_calls(text)
    text = patch_close(text, "Registrar:", "stop")
    text = patch_close(text, "RegistrationLoop:", "cancel")
    path.write_text(text)
    print(f"patched {path.name}: callbacks catch Throwable, exception messages, close() and destroy() stop, closed calls")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except PatchFailed as err:
        print(f"patch_kotlin.py: {err}", file=sys.stderr)
        sys.exit(1)
