//! Several workers of one node behind one port, sharing one snapshot and its
//! lock: the callback slot of each attempt, merges by workers that do not hold
//! the lock, and the lock held for the whole of its holder's attempt. The
//! protocol as a whole is exercised by `tests/sim` (`protocol-sim`); these are
//! its rules one at a time.

mod common;

use common::*;
use posemesh_registration_core::callback::CALLBACK_PATH as CALLBACK;
use posemesh_registration_core::{
    CallbackSlot, Event, LockOutcome, NodeResponse, Output, Snapshot, Status,
};

/// A worker that shares the snapshot and does not hold the lock receives the
/// callback: the shared snapshot (as `stored`) shows the holder's window.
fn sibling_callback(
    sim: &mut Sim,
    stored: &Snapshot,
    body: &[u8],
) -> (posemesh_registration_core::NodeResponse, Vec<Output>) {
    let response =
        sim.reg
            .handle_node_request_shared("POST", CALLBACK, &[], body, Some(stored), sim.now);
    (response, sim.drain())
}

/// The holder's attempt, taken to the point where its request is out:
/// returns the holder and the snapshot it shared before sending.
fn holder_in_flight() -> (Sim, Snapshot) {
    let mut holder = Sim::new(lock_config(), None);
    holder.advance_to_wake();
    let outs = holder.lock(LockOutcome::Acquired { fresh: None });
    let k = kinds(&outs);
    let persist = k
        .iter()
        .position(|x| x == "persist")
        .expect("window shared");
    let transmit = k.iter().position(|x| x == "transmit").expect("sent");
    assert!(
        persist < transmit,
        "the window is stored before the request: {k:?}"
    );
    let shared = persists(&outs).pop().unwrap();
    assert!(shared.callback.is_some());
    (holder, shared)
}

#[test]
fn a_callback_for_a_siblings_attempt_is_accepted_and_stored_once_it_succeeds() {
    let (mut holder, shared) = holder_in_flight();
    let mut sibling = Sim::new(lock_config(), None);
    sibling.now = holder.now;
    let body = br#"{"id":"n1","secret":"s3cr3t","organization_id":"org-7"}"#;
    let (response, outs) = sibling_callback(&mut sibling, &shared, body);
    assert_eq!(response.status, 200);
    assert!(event_names(&outs).contains(&"registration.callback"));
    assert_eq!(kinds(&outs).last().map(String::as_str), Some("share_state"));
    assert!(
        persists(&outs).is_empty(),
        "a non-holder never writes it whole"
    );
    // The same callback again is fine; a different one is a conflict.
    assert_eq!(sibling_callback(&mut sibling, &shared, body).0.status, 200);
    let (other, _) = sibling_callback(&mut sibling, &shared, br#"{"id":"n2","secret":"x"}"#);
    assert_eq!(other.status, 409);

    // The holder still holds the lock: the sibling tries again in a second.
    sibling.reg.share_busy(sibling.now);
    sibling.drain();
    assert!(sibling.wake <= sibling.now + secs(1));

    let outs = holder.respond(200, &[], b"");
    let stored = persists(&outs).pop().unwrap();
    assert_eq!(stored.status, Status::Registered);
    assert!(
        stored.credentials.is_none(),
        "the holder never saw the callback"
    );
    assert!(
        stored
            .callback
            .as_ref()
            .is_some_and(|slot| slot.taken.is_none()),
        "its window stays open for the grace, its slot free"
    );

    sibling.now = holder.now + secs(1);
    let outs = sibling.timeout();
    assert!(
        kinds(&outs).contains(&"share_state".to_owned()),
        "{:?}",
        kinds(&outs)
    );
    let merged = sibling
        .reg
        .merge_shared(Some(stored), sibling.now)
        .expect("written");
    let credentials = merged.credentials.as_ref().expect("stored");
    assert_eq!(credentials.secret.expose(), "s3cr3t");
    assert_eq!(merged.status, Status::Registered);
    let slot = merged.callback.as_ref().expect("the attempt's slot");
    assert_eq!(
        slot.taken.as_deref(),
        Some(credentials.fingerprint().as_str()),
        "the slot is taken"
    );
    assert_eq!(sibling.reg.credentials().unwrap().id, "n1");
    // Its secret is redacted from this worker's messages from now on.
    assert!(!format!("{:?}", sibling.reg.snapshot()).contains("s3cr3t"));
}

#[test]
fn a_siblings_callback_for_a_failed_attempt_is_dropped() {
    let (mut holder, shared) = holder_in_flight();
    let mut sibling = Sim::new(lock_config(), None);
    sibling.now = holder.now;
    let (response, _) =
        sibling_callback(&mut sibling, &shared, br#"{"id":"n1","secret":"forged"}"#);
    assert_eq!(
        response.status, 200,
        "in the window of the holder's attempt"
    );
    let outs = holder.respond(503, &[], b"");
    let stored = persists(&outs).pop().unwrap();
    assert_eq!(stored.callback, None, "a failure closes the window");
    sibling.now = holder.now;
    assert_eq!(sibling.reg.merge_shared(Some(stored), sibling.now), None);
    assert!(sibling.reg.credentials().is_none());
    // Nothing is left to deliver: no more retries.
    sibling.reg.share_busy(sibling.now);
    sibling.drain();
    sibling.elapse(secs(2));
    assert!(!kinds(&sibling.timeout()).contains(&"share_state".to_owned()));
}

#[test]
fn a_callback_with_no_window_in_any_worker_is_refused() {
    let (holder, mut shared) = holder_in_flight();
    let mut sibling = Sim::new(lock_config(), None);
    sibling.now = holder.now;
    // The holder's window as stored has closed.
    shared.callback.as_mut().unwrap().until = holder.now - ms(1);
    let (response, outs) = sibling_callback(&mut sibling, &shared, br#"{"id":"n1","secret":"s"}"#);
    assert_eq!(response.status, 409);
    assert!(!kinds(&outs).contains(&"share_state".to_owned()));
    // Without a shared store (no lock), a stored window means nothing.
    let mut alone = Sim::new(legacy_config(), None);
    alone.now = holder.now;
    shared.callback.as_mut().unwrap().until = holder.now + secs(10);
    assert_eq!(
        sibling_callback(&mut alone, &shared, br#"{"id":"n1","secret":"s"}"#)
            .0
            .status,
        409
    );
}

#[test]
fn a_probe_at_a_worker_without_the_lock_merges_its_time_and_keeps_the_credentials() {
    // The holder registered and got its credentials; another worker adopted
    // the registration and is probed. It must not write its own (credential-
    // less, older) view over the shared snapshot.
    let checked = t0();
    let stored = Snapshot {
        status: Status::Registered,
        last_health_check: Some(checked),
        registered_as: Some(legacy_config().registered_as(KEY_ADDRESS)),
        credentials: Some(posemesh_registration_core::DdsCredentials {
            id: "n1".into(),
            secret: "s3cr3t".into(),
            organization_id: None,
        }),
        ..Snapshot::default()
    };
    let mut worker = Sim::new(lock_config(), None);
    worker.advance_to_wake();
    worker.lock(LockOutcome::Acquired {
        fresh: Some(Snapshot {
            credentials: None,
            ..stored.clone()
        }),
    });
    assert_eq!(worker.reg.status(), Status::Registered);
    worker.elapse(secs(20));
    let (_, outs) = worker.node_request("GET", "/health", &[("user-agent", "DDS v1")], b"");
    assert_eq!(kinds(&outs).last().map(String::as_str), Some("share_state"));
    assert!(persists(&outs).is_empty());
    let merged = worker
        .reg
        .merge_shared(Some(stored.clone()), worker.now)
        .expect("written");
    assert_eq!(merged.last_health_check, Some(worker.now));
    assert_eq!(merged.credentials, stored.credentials, "kept");
    assert_eq!(
        worker.reg.credentials(),
        stored.credentials.as_ref(),
        "learned"
    );
    // A snapshot of another configuration (an upgrade in progress) is left alone.
    let mut other = stored;
    other.registered_as.as_mut().unwrap().version = "9.9.9".into();
    assert_eq!(worker.reg.merge_shared(Some(other), worker.now), None);
}

#[test]
fn a_worker_never_probed_stays_registered_while_a_sibling_is() {
    // Probes reach one worker behind the port; another's own view lapses. It
    // reads the shared snapshot under the lock before calling it expired, and
    // stays registered without a word while the siblings' probes keep it fresh.
    let mut worker = Sim::new(lock_config(), None);
    worker.advance_to_event();
    let registered = Snapshot {
        status: Status::Registered,
        last_health_check: Some(worker.now),
        registered_as: Some(legacy_config().registered_as(KEY_ADDRESS)),
        ..Snapshot::default()
    };
    worker.lock(LockOutcome::Acquired {
        fresh: Some(registered.clone()),
    });
    assert_eq!(worker.reg.status(), Status::Registered);
    let outs = worker.advance_to_event();
    assert_eq!(kinds(&outs), ["acquire_lock"], "no expiry announced yet");
    let probed = Snapshot {
        last_health_check: Some(worker.now - secs(5)),
        ..registered.clone()
    };
    let outs = worker.lock(LockOutcome::Acquired {
        fresh: Some(probed),
    });
    assert_eq!(kinds(&outs), ["lock.acquired", "release_lock"], "quiet");
    assert_eq!(worker.reg.status(), Status::Registered);

    // Nobody was probed for a TTL: now it is expired, and the worker registers.
    worker.advance_to_event();
    let outs = worker.lock(LockOutcome::Acquired {
        fresh: Some(registered),
    });
    assert!(event_names(&outs).contains(&"healthcheck.expired"));
    assert_eq!(transmits(&outs).len(), 1);
}

fn conflicts(outputs: &[Output]) -> Vec<String> {
    events(outputs)
        .into_iter()
        .filter_map(|event| match event {
            Event::CallbackConflict { id } => Some(id),
            _ => None,
        })
        .collect()
}

/// A worker without the lock that accepted `body` (answered 200) for the
/// holder's attempt, as the shared snapshot showed it.
fn sibling_that_accepted(holder: &Sim, shared: &Snapshot, body: &[u8]) -> Sim {
    let mut sibling = Sim::new(lock_config(), None);
    sibling.now = holder.now;
    assert_eq!(sibling_callback(&mut sibling, shared, body).0.status, 200);
    sibling
}

const REAL: &[u8] = br#"{"id":"real","secret":"dds-s3cret"}"#;
const FORGED: &[u8] = br#"{"id":"forged","secret":"evil-s3cret"}"#;

/// The holder's own callback is written to the attempt's slot at once (it
/// holds the lock), so a sibling that then receives a different one refuses
/// it with 409 and reports it, as one process would.
#[test]
fn the_holders_callback_takes_the_slot_so_a_sibling_refuses_a_different_one() {
    let (mut holder, shared) = holder_in_flight();
    let response = holder.reg.handle_node_request_shared(
        "POST",
        CALLBACK,
        &[],
        REAL,
        Some(&shared),
        holder.now,
    );
    assert_eq!(response.status, 200);
    let stored = persists(&holder.drain())
        .pop()
        .expect("the slot is written under the attempt's lock");
    let slot = stored.callback.clone().expect("the window");
    assert!(slot.taken.is_some(), "the slot is taken");
    assert!(
        stored.credentials.is_none(),
        "committed only once the attempt succeeds"
    );
    assert!(!String::from_utf8_lossy(&stored.encode()).contains("dds-s3cret"));

    let mut sibling = Sim::new(lock_config(), None);
    sibling.now = holder.now;
    let (response, outs) = sibling_callback(&mut sibling, &stored, FORGED);
    assert_eq!(response.status, 409);
    assert_eq!(conflicts(&outs), ["forged"]);
    assert!(!kinds(&outs).contains(&"share_state".to_owned()));
    // The DDS repeating the same callback is still answered 200.
    assert_eq!(sibling_callback(&mut sibling, &stored, REAL).0.status, 200);
}

/// A sibling accepted a forgery while the holder, which could not know,
/// accepted the DDS's callback: the holder's is committed, and the sibling's
/// merge reports the conflict instead of dropping it silently.
#[test]
fn a_siblings_callback_that_loses_the_slot_is_reported_at_the_merge() {
    let (mut holder, shared) = holder_in_flight();
    let mut sibling = sibling_that_accepted(&holder, &shared, FORGED);
    sibling.reg.share_busy(sibling.now);
    sibling.drain();

    let response = holder.reg.handle_node_request_shared(
        "POST",
        CALLBACK,
        &[],
        REAL,
        Some(&shared),
        holder.now,
    );
    assert_eq!(response.status, 200, "the slot looked free to the holder");
    holder.drain();
    let stored = persists(&holder.respond(200, &[], b"")).pop().unwrap();
    assert_eq!(stored.credentials.as_ref().unwrap().id, "real");

    sibling.now = holder.now + secs(1);
    let outs = sibling.timeout();
    assert!(kinds(&outs).contains(&"share_state".to_owned()));
    let merged = sibling.reg.merge_shared(Some(stored), sibling.now);
    let outs = sibling.drain();
    assert_eq!(conflicts(&outs), ["forged"]);
    let merged = merged.expect("the health check is still merged");
    assert_eq!(merged.credentials.unwrap().id, "real", "the holder's stays");
}

/// The first attempt of [`a_siblings_callback_that_loses_the_slot_is_reported_at_the_merge`],
/// then, an hour later (the clock jumped: a suspended machine), another
/// worker's new attempt replaces its slot before the sibling could merge.
/// Returns the sibling, still holding the forgery, and the new attempt's
/// stored snapshot.
fn slot_replaced_before_the_siblings_merge() -> (Sim, Snapshot) {
    let (mut holder, shared) = holder_in_flight();
    let mut sibling = sibling_that_accepted(&holder, &shared, FORGED);
    sibling.reg.share_busy(sibling.now);
    sibling.drain();
    let response = holder.reg.handle_node_request_shared(
        "POST",
        CALLBACK,
        &[],
        REAL,
        Some(&shared),
        holder.now,
    );
    assert_eq!(response.status, 200);
    holder.drain();
    let stored = persists(&holder.respond(200, &[], b"")).pop().unwrap();
    let first = stored.callback.clone().expect("the first attempt's slot");

    // Another worker (another seed: another attempt id).
    let mut newcomer = Sim::with_seed(lock_config(), None, 2, holder.now + secs(3600));
    newcomer.advance_to_wake();
    let outs = newcomer.lock(LockOutcome::Acquired {
        fresh: Some(stored),
    });
    assert_eq!(transmits(&outs).len(), 1, "a new attempt");
    let replaced = persists(&outs).pop().expect("its window is stored");
    assert_ne!(replaced.callback.as_ref().unwrap().attempt, first.attempt);
    let earlier = replaced.earlier_callback.clone().expect("kept");
    assert_eq!(
        (earlier.attempt, Some(earlier.taken)),
        (first.attempt, first.taken)
    );
    sibling.now = newcomer.now;
    (sibling, replaced)
}

/// A merge that comes after a newer attempt replaced the slot, past the
/// window, still reports the conflict, and stores nothing.
#[test]
fn a_late_merge_reports_a_conflict_with_a_replaced_slot() {
    let (mut sibling, replaced) = slot_replaced_before_the_siblings_merge();
    // Still busy (the new holder's attempt): tried again, though the window closed.
    let outs = sibling.timeout();
    assert!(kinds(&outs).contains(&"share_state".to_owned()));
    sibling.reg.share_busy(sibling.now);
    sibling.drain();
    sibling.elapse(secs(1));
    assert!(kinds(&sibling.timeout()).contains(&"share_state".to_owned()));
    sibling.reg.merge_shared(Some(replaced), sibling.now);
    assert_eq!(conflicts(&sibling.drain()), ["forged"]);
    assert!(sibling.reg.credentials().is_none(), "nothing merged");
}

/// When, before it could merge, the sibling accepts a callback for the newer
/// attempt, the older one is settled then: its conflict is reported.
#[test]
fn a_callback_for_a_newer_attempt_settles_the_older_unmerged_one() {
    let (mut sibling, replaced) = slot_replaced_before_the_siblings_merge();
    let (response, outs) = sibling_callback(
        &mut sibling,
        &replaced,
        br#"{"id":"next","secret":"n3xt-s3cret"}"#,
    );
    assert_eq!(response.status, 200, "the new attempt's slot is free");
    assert_eq!(conflicts(&outs), ["forged"]);
}

/// Two siblings accepted different callbacks for the holder's attempt (each
/// saw its slot free), and the clock jumped past the window before either
/// could merge: the first merge still stores its callback, as one process
/// commits what its window took, and the second reports the conflict.
#[test]
fn merges_after_the_window_closed_still_commit_and_report_conflicts() {
    let (mut holder, shared) = holder_in_flight();
    let mut first = sibling_that_accepted(&holder, &shared, REAL);
    let mut second = sibling_that_accepted(&holder, &shared, FORGED);
    let stored = persists(&holder.respond(200, &[], b"")).pop().unwrap();
    let later = holder.now + secs(3600);

    let merged = first
        .reg
        .merge_shared(Some(stored), later)
        .expect("the registration is this configuration's");
    assert_eq!(merged.credentials.as_ref().unwrap().id, "real");
    assert!(merged.callback.as_ref().unwrap().taken.is_some());
    first.drain();
    second.reg.merge_shared(Some(merged), later);
    assert_eq!(conflicts(&second.drain()), ["forged"]);
}

/// A callback accepted during one attempt is merged into that attempt only:
/// not into a later attempt whose window happens to be open when the lock
/// is free again (the first one failed, or its holder crashed).
#[test]
fn a_callback_accepted_for_one_attempt_is_never_merged_into_another() {
    let (holder, shared) = holder_in_flight();
    let mut sibling = sibling_that_accepted(&holder, &shared, FORGED);
    let first = shared.callback.clone().unwrap();
    let later = Snapshot {
        status: Status::Registered,
        last_health_check: Some(holder.now),
        registered_as: Some(lock_config().registered_as(KEY_ADDRESS)),
        callback: Some(CallbackSlot {
            attempt: first.attempt.wrapping_add(1),
            until: holder.now + secs(30),
            taken: None,
        }),
        ..Snapshot::default()
    };
    let merged = sibling
        .reg
        .merge_shared(Some(later), sibling.now)
        .expect("the registration is this configuration's");
    assert_eq!(merged.credentials, None);
    assert_eq!(merged.callback.unwrap().taken, None);
    assert!(sibling.reg.credentials().is_none());
}

/// With nothing stored (or nothing readable), a worker that does not hold
/// the lock has nothing to merge into: it writes nothing rather than its
/// whole, possibly stale, view.
#[test]
fn a_worker_without_the_lock_writes_nothing_over_a_missing_snapshot() {
    let mut worker = Sim::new(lock_config(), None);
    let (response, outs) = worker.node_request("GET", "/health", &[("user-agent", "DDS v1")], b"");
    assert_eq!(response.status, 200);
    assert!(
        kinds(&outs).contains(&"share_state".to_owned()),
        "a probe is merged: {:?}",
        kinds(&outs)
    );
    assert_eq!(worker.reg.merge_shared(None, worker.now), None);
}

/// A merge that comes due while this worker holds the lock for its own
/// attempt waits for the release: `ShareState` takes and releases the lock,
/// which would end the attempt's exclusion with its request in flight.
#[test]
fn a_merge_due_during_the_workers_own_attempt_waits_for_its_end() {
    let (holder, shared) = holder_in_flight();
    let mut sibling = sibling_that_accepted(&holder, &shared, FORGED);
    sibling.reg.share_busy(sibling.now);
    sibling.drain();
    // Its own check comes first: it takes the lock (the holder's attempt ended
    // meanwhile in a crash) and sends its own request.
    sibling.timeout();
    let outs = sibling.lock(LockOutcome::Acquired { fresh: None });
    assert!(
        kinds(&outs).contains(&"transmit".to_owned()),
        "{:?}",
        kinds(&outs)
    );
    assert!(sibling.reg.holds_lock());
    for _ in 0..5 {
        sibling.elapse(secs(1));
        let outs = sibling.timeout();
        assert!(
            !kinds(&outs).contains(&"share_state".to_owned()),
            "a merge with the attempt in flight: {:?}",
            kinds(&outs)
        );
    }
    let outs = sibling.respond(200, &[], b"");
    let k = kinds(&outs);
    let release = k
        .iter()
        .position(|x| x == "release_lock")
        .expect("released");
    let share = k.iter().position(|x| x == "share_state");
    assert!(share.is_none_or(|share| share > release), "{k:?}");
}

#[test]
fn node_response_for_a_refused_callback_names_no_secret() {
    let (mut holder, shared) = holder_in_flight();
    holder
        .reg
        .handle_node_request_shared("POST", CALLBACK, &[], REAL, Some(&shared), holder.now);
    let stored = persists(&holder.drain()).pop().unwrap();
    let mut sibling = Sim::new(lock_config(), None);
    sibling.now = holder.now;
    let (response, outs): (NodeResponse, _) = sibling_callback(&mut sibling, &stored, FORGED);
    for text in [
        String::from_utf8_lossy(&response.body).into_owned(),
        format!("{outs:?}"),
    ] {
        assert!(
            !text.contains("evil-s3cret") && !text.contains("dds-s3cret"),
            "{text}"
        );
    }
}

fn registered_by_a_sibling(at: posemesh_registration_core::UnixTime, id: &str) -> Snapshot {
    Snapshot {
        status: Status::Registered,
        last_health_check: Some(at),
        registered_as: Some(lock_config().registered_as(KEY_ADDRESS)),
        credentials: Some(posemesh_registration_core::DdsCredentials {
            id: id.into(),
            secret: "sibling-s3cret".into(),
            organization_id: None,
        }),
        ..Snapshot::default()
    }
}

/// Workers started together race for the lock; the losers do not report
/// `disconnected` for an interval: within a second of the winner storing its
/// registration they take it over, credentials included.
#[test]
fn a_worker_that_found_the_lock_busy_adopts_the_winners_registration_within_a_second() {
    let mut sim = Sim::new(lock_config(), None);
    assert_eq!(kinds(&sim.advance_to_event()), ["acquire_lock"]);
    sim.lock(LockOutcome::Busy);
    let busy_at = sim.now;
    assert_eq!(sim.reg.status(), Status::Disconnected);
    // Nothing stored yet: reads come and go without a change.
    sim.advance_to_wake();
    assert_eq!(sim.now, busy_at + secs(1));
    assert_eq!(sim.reg.status(), Status::Disconnected);
    // The winner registers and stores it.
    sim.shared = Some(registered_by_a_sibling(sim.now + ms(300), "winner"));
    sim.elapse(ms(300));
    let outs = sim.advance_to_event();
    assert!(sim.now <= busy_at + secs(2), "adopted at {:?}", sim.now);
    assert!(
        event_names(&outs).contains(&"registration.adopted"),
        "{:?}",
        kinds(&outs)
    );
    assert_eq!(sim.reg.status(), Status::Registered);
    assert_eq!(sim.reg.credentials().unwrap().id, "winner");
    assert!(transmits(&outs).is_empty());
    // Its secret is redacted from this worker's messages too.
    assert!(!format!("{:?}", sim.reg.snapshot()).contains("sibling-s3cret"));
}

/// A worker that took over a registration before its callback arrived (at a
/// sibling) learns the credentials within a second of their being stored.
#[test]
fn a_registered_worker_learns_the_credentials_a_sibling_stored_within_a_second() {
    let mut sim = Sim::new(lock_config(), None);
    sim.advance_to_wake();
    let mut without = registered_by_a_sibling(sim.now, "n1");
    without.credentials = None;
    sim.lock(LockOutcome::Acquired {
        fresh: Some(without),
    });
    assert_eq!(sim.reg.status(), Status::Registered);
    assert!(sim.reg.credentials().is_none());
    sim.shared = Some(registered_by_a_sibling(sim.now, "n1"));
    let stored_at = sim.now;
    while sim.reg.credentials().is_none() {
        sim.advance_to_wake();
        assert!(sim.now <= stored_at + secs(1), "not learnt within a second");
    }
    assert_eq!(sim.reg.credentials().unwrap().id, "n1");
}

/// After `register_again` the stored registration is what is gone: reading
/// it does not take it over again.
#[test]
fn register_again_is_not_undone_by_the_stored_registration() {
    let mut sim = Sim::new(lock_config(), None);
    sim.advance_to_wake();
    sim.lock(LockOutcome::Busy);
    sim.shared = Some(registered_by_a_sibling(sim.now, "gone"));
    sim.reg.register_again(sim.now);
    sim.drain();
    sim.advance_to_wake();
    assert_ne!(sim.reg.status(), Status::Registered);
}
