"""The package's logger: silent when logging is not configured, every record
names its registrar, and a failure nothing retries does not say it retries."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap

import pytest

import posemesh_registration as pr

from conftest import Dds, events, new_key, new_secret, wait_for

CAPABILITIES = ["/reconstruction/global-refinement/v1"]


def make(dds: Dds, **kwargs) -> pr.Registrar:
    options = dict(dds_url=dds.url, node_version="2.0.0", capabilities=CAPABILITIES,
                   registration_secret=new_secret(), private_key=new_key())
    options.update(kwargs)
    return pr.Registrar(**options)


def test_unconfigured_logging_prints_no_warning(dds: Dds) -> None:
    dds.faults({"status": 503}, {"status": 503})
    script = textwrap.dedent(
        """
        import sys
        import posemesh_registration as pr
        registrar = pr.Registrar(dds_url=sys.argv[1], node_version="1", capabilities=["/c/v1"],
                                 registration_secret="unused-secret-value",
                                 private_key=pr.PrivateKey.generate())
        try:
            registrar.register_once()
        except pr.DdsRejectedError:
            print("rejected")
        """
    )
    result = subprocess.run([sys.executable, "-c", script, dds.url], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "rejected"
    assert result.stderr == ""  # no "registration.error: ..." from logging.lastResort
    make(dds)  # the handler is added with the first registrar (importing logging is slow)
    assert any(isinstance(h, logging.NullHandler)
               for h in logging.getLogger("posemesh_registration").handlers)


def test_records_name_the_rust_source_that_raised_them(
        dds: Dds, caplog: pytest.LogCaptureFixture) -> None:
    registrar = make(dds)
    assert registrar.register_once() == "registered"
    records = events(caplog)
    assert records
    for record in records:
        # Where the library raised the event, not logging/__init__.py's log().
        assert record.pathname.endswith(".rs"), record.pathname
        assert "logging" not in record.pathname
        assert record.lineno > 0
        assert record.module == record.pathname.rsplit("/", 1)[-1][: -len(".rs")]
    success = next(r for r in records if r.event == "registration.success")  # type: ignore[attr-defined]
    assert success.pathname.replace("\\", "/").endswith("registrar/attempt.rs")
    assert not any(r.threadName.startswith("Dummy-") for r in records)


def test_every_record_names_its_registrar(dds: Dds, caplog: pytest.LogCaptureFixture) -> None:
    registrar = make(dds)
    other = make(dds)
    assert registrar.register_once() == "registered"
    assert other.register_once() == "registered"
    records = events(caplog)
    assert records
    for record in records:
        assert record.posemesh_dds_url == dds.url  # type: ignore[attr-defined]
        assert record.posemesh_address in (registrar.eth_address, other.eth_address)  # type: ignore[attr-defined]
    mine = [r for r in records if r.posemesh_address == registrar.eth_address]  # type: ignore[attr-defined]
    assert {r.event for r in mine} >= {"status.transition", "registration.success"}  # type: ignore[attr-defined]


#: What every LogRecord has, whatever was logged.
STANDARD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def test_records_carry_the_event_schema(dds: Dds, caplog: pytest.LogCaptureFixture) -> None:
    """Each record's extras are its event's fields of pr.EVENT_FIELDS (the core's
    schema, in every binding), with the core's units, and nothing else."""
    caplog.set_level(logging.DEBUG, logger="posemesh_registration")
    registrar = make(dds)
    dds.faults({"status": 503})
    with pytest.raises(pr.DdsRejectedError):
        registrar.register_once()
    assert registrar.register_once() == "registered"
    records = events(caplog)
    seen = set()
    for record in records:
        schema = pr.EVENT_FIELDS[record.event]  # type: ignore[attr-defined]
        extras = set(record.__dict__) - STANDARD_ATTRIBUTES - {
            "event", "posemesh_dds_url", "posemesh_address"}
        assert extras <= set(schema), (record.event, extras)  # type: ignore[attr-defined]
        seen.add(record.event)  # type: ignore[attr-defined]
    assert {"status.transition", "registration.error", "registration.success"} <= seen
    [moved] = [r for r in records if r.event == "status.transition"][:1]  # type: ignore[attr-defined]
    assert (moved.from_, moved.to) == ("disconnected", "registering")  # type: ignore[attr-defined]
    [failed] = events(caplog, "registration.error")
    assert (failed.attempt, failed.failure_class) == (1, "retry_fast")  # type: ignore[attr-defined]
    [success] = events(caplog, "registration.success")
    assert isinstance(success.elapsed_ms, int)  # type: ignore[attr-defined]
    assert set(pr.EVENT_FIELDS["registration.error"]) == {
        "attempt", "error", "failure_class", "retry_in_ms", "status", "hint"}


def test_register_once_failure_does_not_say_it_retries(dds: Dds, caplog: pytest.LogCaptureFixture) -> None:
    registrar = make(dds)
    dds.faults({"status": 503})
    with pytest.raises(pr.DdsRejectedError):
        registrar.register_once()
    [failed] = events(caplog, "registration.error")
    assert "retrying" not in failed.getMessage()
    assert not hasattr(failed, "retry_in_ms")  # nothing retries it
    assert failed.status == "503 Service Unavailable"  # type: ignore[attr-defined]
    # The loop does retry, and says when.
    caplog.clear()
    dds.faults({"status": 503})
    with registrar:
        assert registrar.wait_until_registered(timeout=20)
    [failed] = events(caplog, "registration.error")
    assert "retrying in" in failed.getMessage()
    assert failed.retry_in_ms > 0  # type: ignore[attr-defined]


def test_a_logging_handler_may_stop_the_registrar_but_not_block_on_it(dds: Dds) -> None:
    """A handler runs on the registrar's own thread: stop() there asks and returns;
    a call that would wait for the loop raises StateError (never a PanicException)."""
    registrar = make(dds)
    seen: list = []

    class StopOnFirstFailure(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if getattr(record, "event", None) != "registration.error" or seen:
                return
            for call in (registrar.register_once, registrar.wait_until_registered,
                         lambda: registrar.handle_node_request("GET", "/health"),
                         registrar.stop):
                try:
                    seen.append(call())
                except BaseException as err:  # a PanicException is a BaseException
                    seen.append(err)

    handler = StopOnFirstFailure()
    logger = logging.getLogger("posemesh_registration")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        dds.faults(*[{"status": 503}] * 50)
        registrar.start()
        wait_for(lambda: len(seen) == 4, what="the handler's four calls")
        wait_for(lambda: registrar.status == "disconnected" and not registrar.is_running,
                 what="the loop to stop")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
        registrar.stop()
    *refused, stopped = seen
    assert all(type(err) is pr.StateError for err in refused), refused
    assert all("cannot block inside" in str(err) for err in refused)
    assert stopped is None
