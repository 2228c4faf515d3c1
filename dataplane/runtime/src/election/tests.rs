use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use argo_events_bus::config::JetStreamOptions;
use argo_events_bus::testserver::NatsServer;

use super::bus::BusElector;
use super::k8s::{check_lease_timings, lease_params};
use super::*;
use async_trait::async_trait;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |k| map.get(k).cloned()
}

type Env<'a> = &'a [(&'a str, &'a str)];

#[test]
fn timings_come_from_the_environment_with_upstreams_defaults() {
    let cases: &[(Env, Timings, usize)] = &[
        (&[], Timings::default(), 0),
        (
            &[
                (LEADER_ELECTION_LEASE_DURATION, "15s"),
                (LEADER_ELECTION_RENEW_DEADLINE, "10s"),
                (LEADER_ELECTION_RETRY_PERIOD, "2s"),
            ],
            Timings {
                lease_duration: ms(15_000),
                renew_deadline: ms(10_000),
                retry_period: ms(2_000),
            },
            0,
        ),
        // Unparsable: the default, with a warning (upstream prints one to stderr).
        (
            &[(LEADER_ELECTION_RETRY_PERIOD, "fast")],
            Timings::default(),
            1,
        ),
        (
            &[(LEADER_ELECTION_RETRY_PERIOD, "500ms")],
            Timings {
                retry_period: ms(500),
                ..Timings::default()
            },
            0,
        ),
    ];
    for (env, want, warnings) in cases {
        let (got, w) = Timings::from_lookup(lookup(env)).unwrap();
        assert_eq!(got, *want, "{env:?}");
        assert_eq!(w.len(), *warnings, "{env:?}: {w:?}");
    }
}

#[test]
fn timings_that_cannot_work_are_refused() {
    for env in [
        &[(LEADER_ELECTION_RENEW_DEADLINE, "5s")][..],
        &[(LEADER_ELECTION_RETRY_PERIOD, "2s")][..],
        &[(LEADER_ELECTION_RETRY_PERIOD, "0s")][..],
        // lease < renew + 2 * retry: 5s < 3s + 2 * 1.5s.
        &[
            (LEADER_ELECTION_RENEW_DEADLINE, "3s"),
            (LEADER_ELECTION_RETRY_PERIOD, "1500ms"),
        ][..],
        &[(LEADER_ELECTION_LEASE_DURATION, "3999ms")][..],
    ] {
        let err = Timings::from_lookup(lookup(env)).unwrap_err();
        for var in [
            LEADER_ELECTION_LEASE_DURATION,
            LEADER_ELECTION_RENEW_DEADLINE,
            LEADER_ELECTION_RETRY_PERIOD,
        ] {
            assert!(err.contains(var), "{env:?}: {err}");
        }
    }
    // Exactly renew + 2 * retry is enough.
    assert!(Timings::from_lookup(lookup(&[(LEADER_ELECTION_LEASE_DURATION, "4s")])).is_ok());
}

fn elect_plan(mechanism: Mechanism, lease: &str, key: &str) -> Plan {
    elect_plan_on(mechanism, lease, key, OnOutage::GiveUp)
}

fn elect_plan_on(mechanism: Mechanism, lease: &str, key: &str, on_outage: OnOutage) -> Plan {
    Plan::Elect {
        mechanism,
        lease_name: lease.into(),
        lock_key: key.into(),
        on_outage,
    }
}

#[test]
fn sensors_elect_unless_the_bus_is_kafka_and_a_single_replica_rides_out_outages() {
    use Mechanism::*;
    use OnOutage::*;
    let kafka = Plan::Everyone {
        reason: "Sensors on a Kafka bus scale horizontally",
    };
    let cases = [
        (
            1,
            false,
            None,
            elect_plan_on(Bus, "sensor-s", "ns-sensor-s", RideOut),
        ),
        (
            1,
            false,
            Some(""),
            elect_plan_on(Bus, "sensor-s", "ns-sensor-s", RideOut),
        ),
        (
            2,
            false,
            None,
            elect_plan_on(Bus, "sensor-s", "ns-sensor-s", GiveUp),
        ),
        (
            3,
            false,
            Some(""),
            elect_plan_on(Bus, "sensor-s", "ns-sensor-s", GiveUp),
        ),
        (
            1,
            false,
            Some("k8s"),
            elect_plan_on(Kubernetes, "sensor-s", "ns-sensor-s", RideOut),
        ),
        (
            2,
            false,
            Some("K8S"),
            elect_plan_on(Kubernetes, "sensor-s", "ns-sensor-s", GiveUp),
        ),
        (1, true, Some("k8s"), kafka.clone()),
        (3, true, None, kafka),
    ];
    for (replicas, kafka, env, want) in cases {
        assert_eq!(
            plan_sensor("ns", "s", replicas, kafka, env),
            want,
            "{replicas} {kafka} {env:?}"
        );
    }
}

#[test]
fn event_sources_elect_when_recreate_class_with_several_replicas() {
    use Mechanism::*;
    use SourceClass::*;
    let rolling = Plan::Everyone {
        reason: "rolling-class event sources run on every replica",
    };
    let single = Plan::Everyone {
        reason: "a single replica needs no election",
    };
    let cases = [
        (Rolling, 1, false, None, rolling.clone()),
        (Rolling, 3, false, Some("k8s"), rolling),
        (Recreate, 1, false, None, single.clone()),
        (Recreate, 0, false, None, single),
        (
            Recreate,
            2,
            false,
            None,
            elect_plan(Bus, "eventsource-cal", "ns-eventsource-cal"),
        ),
        (
            Recreate,
            2,
            false,
            Some("k8s"),
            elect_plan(Kubernetes, "eventsource-cal", "ns-eventsource-cal"),
        ),
        // A Kafka bus has no graft: upstream uses the Lease.
        (
            Recreate,
            2,
            true,
            None,
            elect_plan(Kubernetes, "eventsource-cal", "ns-eventsource-cal"),
        ),
    ];
    for (class, replicas, kafka, env, want) in cases {
        assert_eq!(
            plan_event_source("ns", "cal", class, replicas, kafka, env),
            want,
            "{class:?} {replicas} {kafka} {env:?}"
        );
    }
}

fn spec(value: serde_json::Value) -> EventSourceSpec {
    argo_events_api::gocompat::from_value(&value).unwrap().value
}

#[test]
fn source_classes_and_replicas() {
    let cases = [
        (
            serde_json::json!({"webhook": {"a": {"port": "12000", "endpoint": "/a", "method": "POST"}}}),
            Ok(SourceClass::Rolling),
        ),
        (
            serde_json::json!({"calendar": {"c": {"interval": "1s"}}}),
            Ok(SourceClass::Recreate),
        ),
        (
            serde_json::json!({"nats": {"n": {"url": "nats://x", "subject": "s"}}}),
            Ok(SourceClass::Recreate),
        ),
        (serde_json::json!({}), Ok(SourceClass::Rolling)),
        (
            serde_json::json!({
                "calendar": {"c": {"interval": "1s"}},
                "webhook": {"a": {"port": "12000", "endpoint": "/a", "method": "POST"}},
            }),
            Err(
                "event sources with rolling update and recreate update strategy can not be put together"
                    .to_owned(),
            ),
        ),
    ];
    for (value, want) in cases {
        assert_eq!(source_class(&spec(value.clone())), want, "{value}");
    }
    for (given, want) in [
        (None, 1),
        (Some(0), 1),
        (Some(-3), 1),
        (Some(1), 1),
        (Some(4), 4),
    ] {
        assert_eq!(replicas(given), want, "{given:?}");
    }
}

#[test]
fn identity_prefers_the_pod_name() {
    assert_eq!(
        identity(lookup(&[("POD_NAME", "s-sensor-abc"), ("HOSTNAME", "h")])),
        "s-sensor-abc"
    );
    assert_eq!(
        identity(lookup(&[("POD_NAME", " "), ("HOSTNAME", "h")])),
        "h"
    );
    let random = identity(lookup(&[]));
    assert!(random.starts_with("argo-events-"), "{random}");
    assert_ne!(random, identity(lookup(&[])));
}

fn held(holder: &str, revision: u64) -> LockView {
    LockView::Held {
        holder: holder.into(),
        revision,
    }
}

#[test]
fn a_standby_creates_a_free_lock_and_waits_on_a_live_one() {
    let t0 = Instant::now();
    let timings = Timings::default();
    // (view, seconds after t0, expected step), in order, on one candidate.
    let script = [
        (LockView::Absent, 0, Step::Create),
        (held("b", 7), 0, Step::Wait),
        (held("b", 7), 4, Step::Wait),
        // The holder renewed: the stale clock restarts.
        (held("b", 8), 4, Step::Wait),
        (held("b", 8), 8, Step::Wait),
        (held("b", 8), 9, Step::TakeOver { revision: 8 }),
        // A new holder: wait a whole lease again.
        (held("c", 9), 9, Step::Wait),
        (held("c", 9), 13, Step::Wait),
        (held("c", 9), 14, Step::TakeOver { revision: 9 }),
        // Our own lock from an earlier run of this pod: take it back at once.
        (held("a", 10), 14, Step::TakeOver { revision: 10 }),
        (LockView::Absent, 20, Step::Create),
    ];
    let mut c = Candidate::new("a", timings);
    for (i, (view, secs, want)) in script.into_iter().enumerate() {
        let got = c.observe(&view, t0 + Duration::from_secs(secs));
        assert_eq!(got, want, "step {i}: {view:?} at +{secs}s");
        assert!(!c.is_leader());
    }
}

#[test]
fn the_leader_renews_until_the_exact_deadline_then_loses() {
    let t0 = Instant::now();
    let mut c = Candidate::new("a", Timings::default());
    assert!(matches!(c.renewal(t0), Renewal::Lost(_)));
    assert_eq!(c.pause(t0), ms(1000), "a standby waits a retry period");
    c.acquired(3, t0);
    assert!(c.is_leader());
    assert_eq!(c.revision(), Some(3));
    // (ms after t0, expected renewal, expected pause) with the last renew at t0.
    let table = [
        (0, Some(2000), ms(1000)),
        (1000, Some(1000), ms(1000)),
        (1500, Some(500), ms(500)),
        (1999, Some(1), ms(1)),
        (2000, None, Duration::ZERO),
        (5000, None, Duration::ZERO),
    ];
    for (at, budget, pause) in table {
        let now = t0 + ms(at);
        match (c.renewal(now), budget) {
            (Renewal::Renew { revision, budget }, Some(want)) => {
                assert_eq!((revision, budget), (3, ms(want)), "+{at}ms");
            }
            (Renewal::Lost(reason), None) => {
                assert!(reason.contains("renew deadline"), "{reason}");
            }
            (got, want) => panic!("+{at}ms: got {got:?}, want budget {want:?}"),
        }
        assert_eq!(c.pause(now), pause, "+{at}ms");
    }
    // A successful renew that started at +1000ms moves the deadline to +3000ms.
    c.renewed(4, t0 + ms(1000));
    assert_eq!(
        c.renewal(t0 + ms(2900)),
        Renewal::Renew {
            revision: 4,
            budget: ms(100)
        }
    );
    assert!(matches!(c.renewal(t0 + ms(3000)), Renewal::Lost(_)));
    c.conflicted();
    assert!(!c.is_leader());
    // A standby ignores renewals.
    c.renewed(9, t0);
    assert_eq!(c.revision(), None);
}

#[test]
fn a_single_replica_keeps_leading_past_the_deadline_until_it_sees_another_holder() {
    let t0 = Instant::now();
    let mut c = Candidate::new("a", Timings::default()).with_on_outage(OnOutage::RideOut);
    c.acquired(3, t0);
    // Before the deadline: as any leader.
    assert_eq!(
        c.renewal(t0 + ms(1500)),
        Renewal::Renew {
            revision: 3,
            budget: ms(500)
        }
    );
    assert!(!c.past_deadline(t0 + ms(1500)));
    // Past it (an outage): renewals go on, one per retry period, each bounded by it.
    for at in [2000, 5000, 3_600_000] {
        let now = t0 + ms(at);
        assert!(c.past_deadline(now));
        assert_eq!(
            c.renewal(now),
            Renewal::Renew {
                revision: 3,
                budget: ms(1000)
            },
            "+{at}ms"
        );
        assert_eq!(c.pause(now), ms(1000), "+{at}ms");
    }
    // The bus is back: the first renewal lands and the deadline moves on.
    c.renewed(4, t0 + ms(10_000));
    assert!(!c.past_deadline(t0 + ms(10_500)));
    // Our own renew that landed late is adopted; someone else's write ends it.
    assert!(c.after_conflict(&held("a", 5)));
    assert!(!c.after_conflict(&held("b", 6)));
    assert!(!c.is_leader());
    assert!(matches!(c.renewal(t0 + ms(20_000)), Renewal::Lost(_)));
}

#[test]
fn renew_window_is_min_of_retry_and_time_left() {
    let t0 = Instant::now();
    let t = Timings {
        lease_duration: ms(10_000),
        renew_deadline: ms(5_000),
        retry_period: ms(2_000),
    };
    let cases = [
        (0, Some((ms(2000), ms(5000)))),
        (3500, Some((ms(1500), ms(1500)))),
        (4999, Some((ms(1), ms(1)))),
        (5000, None),
        (9000, None),
    ];
    for (at, want) in cases {
        assert_eq!(renew_window(t, t0, t0 + ms(at)), want, "+{at}ms");
    }
}

#[test]
fn a_conflict_on_renew_is_adopted_only_for_our_own_newer_revision() {
    let t0 = Instant::now();
    // (view after the conflict, still leading, revision afterwards)
    let cases = [
        (held("a", 6), true, Some(6)),
        (held("a", 5), false, None),
        (held("a", 4), false, None),
        (held("b", 6), false, None),
        (LockView::Absent, false, None),
    ];
    for (view, leads, revision) in cases {
        let mut c = Candidate::new("a", Timings::default());
        c.acquired(5, t0);
        assert_eq!(c.after_conflict(&view), leads, "{view:?}");
        assert_eq!(c.is_leader(), leads, "{view:?}");
        assert_eq!(c.revision(), revision, "{view:?}");
        if leads {
            // The deadline stays that of the last renew seen to succeed.
            assert!(matches!(c.renewal(t0 + ms(2000)), Renewal::Lost(_)));
        }
    }
    let mut standby = Candidate::new("a", Timings::default());
    assert!(!standby.after_conflict(&held("a", 9)));
}

#[test]
fn a_standby_tracks_holder_and_revision_and_forgets_on_read_errors() {
    let t0 = Instant::now();
    let mut c = Candidate::new("a", Timings::default());
    let at = |s: u64| t0 + Duration::from_secs(s);
    assert_eq!(c.observe(&held("b", 7), at(0)), Step::Wait);
    // The bucket was recreated: revisions restart and 7 is reused by another holder.
    assert_eq!(c.observe(&held("c", 7), at(3)), Step::Wait);
    assert_eq!(c.observe(&held("c", 7), at(7)), Step::Wait);
    assert_eq!(
        c.observe(&held("c", 7), at(8)),
        Step::TakeOver { revision: 7 }
    );
    // A read error resets the observation.
    let mut c = Candidate::new("a", Timings::default());
    assert_eq!(c.observe(&held("b", 7), at(0)), Step::Wait);
    c.read_failed();
    assert_eq!(c.seen_holder(), None);
    assert_eq!(c.observe(&held("b", 7), at(6)), Step::Wait);
    assert_eq!(c.observe(&held("b", 7), at(10)), Step::Wait);
    assert_eq!(
        c.observe(&held("b", 7), at(11)),
        Step::TakeOver { revision: 7 }
    );
}

/// An elector that leads at once and loses after `lose_after`.
struct LosingElector {
    lose_after: Duration,
}

#[async_trait]
impl Elector for LosingElector {
    fn describe(&self) -> String {
        "fake".into()
    }
    fn identity(&self) -> &str {
        "a"
    }
    async fn acquire(&mut self, _: &CancellationToken) -> Result<bool, ElectionError> {
        Ok(true)
    }
    async fn hold(&mut self, stop: &CancellationToken) -> Hold {
        tokio::select! {
            _ = stop.cancelled() => Hold::Released,
            _ = tokio::time::sleep(self.lose_after) => Hold::Lost("gone".into()),
        }
    }
}

struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_lost_lock_aborts_work_that_ignores_its_token_at_once() {
    let dropped = Arc::new(AtomicBool::new(false));
    let guard = SetOnDrop(dropped.clone());
    let child_aborted = Arc::new(AtomicBool::new(false));
    let child_guard = SetOnDrop(child_aborted.clone());
    let mut elector = LosingElector {
        lose_after: ms(100),
    };
    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let outcome = tokio::time::timeout(
        ms(2000),
        run_while_leader(&mut elector, &shutdown, &|_| {}, |_token| async move {
            let _guard = guard;
            // Work that owns a task and never looks at its token.
            let mut tasks = tokio::task::JoinSet::new();
            tasks.spawn(async move {
                let _g = child_guard;
                tokio::time::sleep(Duration::from_secs(3600)).await;
            });
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }),
    )
    .await
    .expect("no grace period after a loss")
    .unwrap();
    assert!(
        matches!(outcome, Outcome::Lost(ref r) if r == "gone"),
        "{outcome:?}"
    );
    assert!(started.elapsed() < ms(1000), "{:?}", started.elapsed());
    assert!(dropped.load(Ordering::SeqCst), "the work was not dropped");
    wait_for("the work's task to be aborted", ms(2000), || {
        child_aborted.load(Ordering::SeqCst)
    })
    .await;
}

#[tokio::test]
async fn shutdown_lets_the_work_finish_before_the_release() {
    let finished = Arc::new(AtomicBool::new(false));
    let done = finished.clone();
    let mut elector = LosingElector {
        lose_after: Duration::from_secs(3600),
    };
    let shutdown = CancellationToken::new();
    shutdown.cancel();
    let outcome = tokio::time::timeout(
        ms(2000),
        run_while_leader(&mut elector, &shutdown, &|_| {}, |token| async move {
            token.cancelled().await;
            tokio::time::sleep(ms(100)).await;
            done.store(true, Ordering::SeqCst);
            7
        }),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(matches!(outcome, Outcome::Finished(7)), "{outcome:?}");
    assert!(finished.load(Ordering::SeqCst));
}

#[test]
fn lease_parameters_map_upstreams_durations_to_whole_seconds() {
    let cases = [
        (Timings::default(), (5, 4)),
        (
            Timings {
                lease_duration: ms(15_000),
                renew_deadline: ms(10_000),
                retry_period: ms(2_000),
            },
            (15, 13),
        ),
        (
            Timings {
                lease_duration: ms(1_500),
                renew_deadline: ms(1_000),
                retry_period: ms(200),
            },
            (2, 1),
        ),
        (
            Timings {
                lease_duration: ms(3_000),
                renew_deadline: ms(2_500),
                retry_period: ms(2_200),
            },
            (3, 1),
        ),
    ];
    for (timings, want) in cases {
        let got = lease_params(timings);
        assert_eq!(got, want, "{timings:?}");
        assert!(
            got.1 >= 1 && got.1 < got.0,
            "kube-lease-manager would panic on {got:?}"
        );
    }
}

#[test]
fn the_lease_elector_refuses_a_renew_deadline_within_its_whole_second_interval() {
    let cases = [
        (Timings::default(), true),
        (fast(), true),
        // Renews every 1 s, deadline 1 s: every renew would come too late.
        (
            Timings {
                lease_duration: ms(1_500),
                renew_deadline: ms(1_000),
                retry_period: ms(200),
            },
            false,
        ),
        (
            Timings {
                lease_duration: ms(3_000),
                renew_deadline: ms(2_500),
                retry_period: ms(2_200),
            },
            true,
        ),
    ];
    for (timings, ok) in cases {
        let got = check_lease_timings(timings);
        assert_eq!(got.is_ok(), ok, "{timings:?}: {got:?}");
        if let Err(e) = got {
            assert!(e.contains(LEADER_ELECTION_RENEW_DEADLINE), "{e}");
        }
    }
}

// ------------------------------------------------------------- the bus elector on a real server

/// Short enough for tests, long enough that a loaded 2-core machine keeps renewing in time.
fn fast() -> Timings {
    Timings {
        lease_duration: ms(3000),
        renew_deadline: ms(2000),
        retry_period: ms(250),
    }
}

#[test]
fn the_test_timings_are_valid() {
    fast().validate().unwrap();
}

fn bus_elector(server: &NatsServer, identity: &str) -> BusElector {
    BusElector::new(
        JetStreamOptions::new(&server.url),
        "ns-sensor-pair",
        identity,
        fast(),
    )
}

/// Runs `run_while_leader` with work that waits for its token, recording leadership.
fn spawn_replica(
    mut elector: BusElector,
    shutdown: CancellationToken,
    leading: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Result<Outcome<()>, ElectionError>> {
    tokio::spawn(async move {
        let flag = leading.clone();
        let set = move |l: bool| flag.store(l, Ordering::SeqCst);
        run_while_leader(&mut elector, &shutdown, &set, |token| async move {
            token.cancelled().await;
        })
        .await
    })
}

async fn wait_for(what: &str, limit: Duration, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(ms(50)).await;
    }
}

#[tokio::test]
async fn two_electors_one_leader_and_a_crashed_leader_is_replaced() {
    let server = NatsServer::start().unwrap();
    let (a_flag, b_flag) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let (a_stop, b_stop) = (CancellationToken::new(), CancellationToken::new());
    let a = spawn_replica(bus_elector(&server, "a"), a_stop.clone(), a_flag.clone());
    let b = spawn_replica(bus_elector(&server, "b"), b_stop.clone(), b_flag.clone());
    wait_for("a leader", ms(10_000), || {
        a_flag.load(Ordering::SeqCst) || b_flag.load(Ordering::SeqCst)
    })
    .await;
    // Exactly one, and it stays that way over several lease durations.
    for _ in 0..30 {
        let (x, y) = (a_flag.load(Ordering::SeqCst), b_flag.load(Ordering::SeqCst));
        assert!(x ^ y, "leaders: a={x} b={y}");
        tokio::time::sleep(ms(150)).await;
    }
    let (leader, leader_flag, standby_flag, standby, standby_stop) =
        if a_flag.load(Ordering::SeqCst) {
            (a, a_flag, b_flag, b, b_stop)
        } else {
            (b, b_flag, a_flag, a, a_stop)
        };
    // The leader dies without releasing (no renewals any more).
    leader.abort();
    let _ = leader.await;
    let died = Instant::now();
    wait_for("the standby to take over", ms(10_000), || {
        standby_flag.load(Ordering::SeqCst)
    })
    .await;
    let took = died.elapsed();
    assert!(
        took >= fast().renew_deadline,
        "took over after {took:?}, before the lock could be stale"
    );
    drop(leader_flag);
    // A graceful stop releases the lock.
    standby_stop.cancel();
    let outcome = tokio::time::timeout(ms(5000), standby)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(matches!(outcome, Outcome::Finished(())), "{outcome:?}");
    let lock = argo_events_bus::leaderlock::LeaderLock::open(
        &JetStreamOptions::new(&server.url),
        "ns-sensor-pair",
        fast().lease_duration,
    )
    .await
    .unwrap();
    assert_eq!(lock.read().await.unwrap(), LockView::Absent);
}

#[tokio::test]
async fn a_leader_whose_lock_is_overwritten_aborts_its_work_and_reports_lost() {
    let server = NatsServer::start().unwrap();
    let flag = Arc::new(AtomicBool::new(false));
    let stop = CancellationToken::new();
    let work_stopped = Arc::new(AtomicBool::new(false));
    let stopped = work_stopped.clone();
    let mut elector = bus_elector(&server, "a");
    let set_flag = flag.clone();
    let task = tokio::spawn(async move {
        let set = move |l: bool| set_flag.store(l, Ordering::SeqCst);
        run_while_leader(&mut elector, &stop, &set, |_token| async move {
            let _guard = SetOnDrop(stopped);
            std::future::pending::<()>().await;
        })
        .await
    });
    wait_for("leadership", ms(10_000), || flag.load(Ordering::SeqCst)).await;
    // Someone else overwrites the key (as a standby would after a partition).
    let lock = argo_events_bus::leaderlock::LeaderLock::open(
        &JetStreamOptions::new(&server.url),
        "ns-sensor-pair",
        fast().lease_duration,
    )
    .await
    .unwrap();
    let LockView::Held { revision, .. } = lock.read().await.unwrap() else {
        panic!("no lock held");
    };
    lock.update("intruder", revision).await.unwrap();
    let outcome = tokio::time::timeout(ms(5000), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    match outcome {
        Outcome::Lost(reason) => assert!(reason.contains("another replica"), "{reason}"),
        other => panic!("expected Lost, got {other:?}"),
    }
    assert!(work_stopped.load(Ordering::SeqCst));
    assert!(!flag.load(Ordering::SeqCst));
}

/// Leads with `elector`; returns the task holding the lock and the token that stops it.
async fn lead(mut elector: BusElector) -> (tokio::task::JoinHandle<Hold>, CancellationToken) {
    let shutdown = CancellationToken::new();
    assert!(
        tokio::time::timeout(ms(10_000), elector.acquire(&shutdown))
            .await
            .expect("acquired in time")
            .expect("no setup error")
    );
    let stop = CancellationToken::new();
    let hold_stop = stop.clone();
    let task = tokio::spawn(async move { elector.hold(&hold_stop).await });
    (task, stop)
}

#[tokio::test]
async fn a_leader_cut_off_from_the_bus_gives_up_by_its_exact_renew_deadline() {
    let mut server = NatsServer::start().unwrap();
    let (task, _stop) = lead(bus_elector(&server, "a")).await;
    // Some renewals succeed first.
    tokio::time::sleep(ms(600)).await;
    server.stop();
    let cut = Instant::now();
    let held = tokio::time::timeout(ms(10_000), task)
        .await
        .expect("the loss is noticed")
        .unwrap();
    let after = cut.elapsed();
    match held {
        Hold::Lost(reason) => assert!(reason.contains("renew deadline"), "{reason}"),
        other => panic!("expected Lost, got {other:?}"),
    }
    // The last good renew started at most one retry period (plus a call) before the cut, and
    // the loss comes exactly at its deadline: never later than the deadline after the cut
    // (the former loop allowed up to renew + 2 * retry).
    let t = fast();
    assert!(
        after <= t.renew_deadline + ms(150),
        "lost {after:?} after the cut"
    );
    assert!(
        after + t.retry_period + ms(200) >= t.renew_deadline,
        "lost {after:?} after the cut, before the deadline"
    );
}

#[tokio::test]
async fn a_renew_that_landed_after_its_timeout_is_adopted() {
    let server = NatsServer::start().unwrap();
    let (task, stop) = lead(bus_elector(&server, "a")).await;
    let lock = argo_events_bus::leaderlock::LeaderLock::open(
        &JetStreamOptions::new(&server.url),
        "ns-sensor-pair",
        fast().lease_duration,
    )
    .await
    .unwrap();
    // Our own write at a newer revision than the elector knows (as a renew it gave up on
    // would leave behind).
    let LockView::Held { holder, revision } = lock.read().await.unwrap() else {
        panic!("no lock held");
    };
    assert_eq!(holder, "a");
    let landed = lock.update("a", revision).await.unwrap();
    // Still leading well past the renew deadline, and renewing beyond the landed revision.
    tokio::time::sleep(fast().renew_deadline + ms(500)).await;
    assert!(!task.is_finished(), "the leader gave up");
    match lock.read().await.unwrap() {
        LockView::Held { holder, revision } => {
            assert_eq!(holder, "a");
            assert!(revision > landed, "{revision} <= {landed}");
        }
        LockView::Absent => panic!("the lock disappeared"),
    }
    stop.cancel();
    let held = tokio::time::timeout(ms(5000), task).await.unwrap().unwrap();
    assert_eq!(held, Hold::Released);
}

// ---------------------------------------------------------- a Sensor pair on a real server

mod sensor_pair {
    use super::*;
    use crate::metrics::SensorMetrics;
    use crate::sensor::{LogObserver, Options, SensorRunner};
    use crate::triggers::{ActionSink, Executor, KubeTarget, TriggerContext};
    use argo_events_api::Sensor;
    use argo_events_api::cloudevent::{Event, MEDIA_TYPE_JSON};
    use argo_events_bus::jetstream::JetStreamBus;
    use argo_events_bus::{EventBus, Subscription};

    #[derive(Default)]
    struct Counting(AtomicUsize);

    impl ActionSink for Counting {
        fn log(&self, _trigger: &str, _message: &str) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
        fn print_resource(&self, _: &str, _: &str, _: &serde_json::Value) {}
    }

    fn sensor() -> Sensor {
        let value = serde_json::json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Sensor",
            "metadata": {"name": "pair", "namespace": "ns"},
            "spec": {
                "replicas": 2,
                "dependencies": [{"name": "dep", "eventSourceName": "src", "eventName": "ev"}],
                "triggers": [{"template": {"name": "log", "log": {}}}],
            },
        });
        argo_events_api::gocompat::from_value(&value).unwrap().value
    }

    fn event(i: usize) -> Event {
        Event {
            id: format!("event-{i}"),
            source: "src".into(),
            specversion: "1.0".into(),
            type_: "webhook".into(),
            datacontenttype: MEDIA_TYPE_JSON.into(),
            subject: "ev".into(),
            time: None,
            trace: Default::default(),
            data: br#"{"n":1}"#.to_vec(),
        }
    }

    struct Replica {
        sink: Arc<Counting>,
        leading: Arc<AtomicBool>,
        task: tokio::task::JoinHandle<()>,
    }

    async fn replica(server: &NatsServer, identity: &str) -> Replica {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let bus: Arc<dyn EventBus> = Arc::new(
            JetStreamBus::connect(JetStreamOptions::new(&server.url))
                .await
                .unwrap(),
        );
        let sink = Arc::new(Counting::default());
        let executor = Executor::new(TriggerContext {
            sensor: "pair".into(),
            namespace: "ns".into(),
            secrets: Arc::new(argo_events_eventsource::secrets::MapSecrets::default()),
            kube: KubeTarget::Unavailable("no Kubernetes API in this test".into()),
            http: reqwest::Client::new(),
            sink: sink.clone(),
        });
        let metrics = Arc::new(SensorMetrics::new("ns", "pair", &["log"]));
        let runner = SensorRunner {
            sensor: sensor(),
            bus,
            executor: Arc::new(executor),
            loader: Arc::new(argo_events_engine::render::InlineOnly),
            metrics: metrics.clone(),
            observer: Arc::new(LogObserver),
            options: Options::default(),
        };
        let mut elector = bus_elector(server, identity);
        let leading = Arc::new(AtomicBool::new(false));
        let flag = leading.clone();
        let task = tokio::spawn(async move {
            let set = move |l: bool| {
                metrics.set_leader(l);
                flag.store(l, Ordering::SeqCst);
            };
            let shutdown = CancellationToken::new();
            let _ =
                run_while_leader(&mut elector, &shutdown, &set, |token| runner.run(token)).await;
        });
        Replica {
            sink,
            leading,
            task,
        }
    }

    fn count(r: &Replica) -> usize {
        r.sink.0.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn only_the_leader_fires_and_each_event_fires_once_across_a_failover() {
        let server = NatsServer::start().unwrap();
        let publisher = JetStreamBus::connect(JetStreamOptions::new(&server.url))
            .await
            .unwrap();
        // The durable consumer starts with events published after its creation: create it
        // first, exactly as the runner names it.
        publisher
            .subscribe(&Subscription {
                sensor: "pair".into(),
                trigger: "log".into(),
                dependency: "dep".into(),
                event_source: "src".into(),
                event_name: "ev".into(),
            })
            .await
            .unwrap();
        let a = replica(&server, "pod-a").await;
        let b = replica(&server, "pod-b").await;
        wait_for("a leader", ms(10_000), || {
            a.leading.load(Ordering::SeqCst) || b.leading.load(Ordering::SeqCst)
        })
        .await;
        let (leader, standby) = if a.leading.load(Ordering::SeqCst) {
            (a, b)
        } else {
            (b, a)
        };
        for i in 0..5 {
            publisher.publish(&event(i)).await.unwrap();
        }
        wait_for("5 firings", ms(15_000), || count(&leader) == 5).await;
        // Let the acknowledgements land and make sure nothing else fires.
        tokio::time::sleep(ms(1000)).await;
        assert_eq!(count(&leader), 5);
        assert_eq!(count(&standby), 0, "the standby fired");
        assert!(!standby.leading.load(Ordering::SeqCst));

        // The leader crashes; the standby takes over and fires what comes next, once.
        let leader_sink = leader.sink.clone();
        leader.task.abort();
        let _ = leader.task.await;
        wait_for("the standby to lead", ms(10_000), || {
            standby.leading.load(Ordering::SeqCst)
        })
        .await;
        for i in 5..8 {
            publisher.publish(&event(i)).await.unwrap();
        }
        wait_for("3 more firings", ms(15_000), || count(&standby) == 3).await;
        tokio::time::sleep(ms(1000)).await;
        assert_eq!(count(&standby), 3);
        assert_eq!(leader_sink.0.load(Ordering::SeqCst), 5);
        standby.task.abort();
    }
}

// ------------------------------------------------------ the Lease elector on a mocked API server

mod lease;

// ------------------------------------- a leader cut off from the bus campaigns again, in-process

/// A TCP proxy to a nats-server that the test can cut (every connection dropped, new ones
/// refused) and heal: one replica's view of the bus partitioned away.
struct CutProxy {
    url: String,
    cut: Arc<std::sync::Mutex<CancellationToken>>,
    open: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl CutProxy {
    async fn start(target_port: u16) -> CutProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("nats://{}", listener.local_addr().unwrap());
        let cut = Arc::new(std::sync::Mutex::new(CancellationToken::new()));
        let open = Arc::new(AtomicBool::new(true));
        let (accept_cut, accept_open) = (cut.clone(), open.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !accept_open.load(Ordering::SeqCst) {
                    continue; // dropped: refused
                }
                let token = accept_cut.lock().unwrap().clone();
                tokio::spawn(async move {
                    let Ok(mut server) =
                        tokio::net::TcpStream::connect(("127.0.0.1", target_port)).await
                    else {
                        return;
                    };
                    tokio::select! {
                        _ = token.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                    }
                });
            }
        });
        CutProxy {
            url,
            cut,
            open,
            task,
        }
    }

    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        let mut token = self.cut.lock().unwrap();
        token.cancel();
        *token = CancellationToken::new();
    }

    fn heal(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

/// A replica under [`run_elected`] whose work counts its starts and waits for its token.
struct Campaigner {
    leading: Arc<AtomicBool>,
    starts: Arc<AtomicUsize>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<Result<Option<()>, ElectionError>>,
}

fn campaign(mut elector: BusElector) -> Campaigner {
    let leading = Arc::new(AtomicBool::new(false));
    let starts = Arc::new(AtomicUsize::new(0));
    let stop = CancellationToken::new();
    let (flag, count, shutdown) = (leading.clone(), starts.clone(), stop.clone());
    let task = tokio::spawn(async move {
        let set = move |l: bool| flag.store(l, Ordering::SeqCst);
        run_elected(&mut elector, &shutdown, &set, |token| {
            count.fetch_add(1, Ordering::SeqCst);
            async move { token.cancelled().await }
        })
        .await
    });
    Campaigner {
        leading,
        starts,
        stop,
        task,
    }
}

#[tokio::test]
async fn a_leader_that_loses_the_lock_stops_its_work_and_campaigns_again_without_exiting() {
    let server = NatsServer::start().unwrap();
    let proxy = CutProxy::start(server.port).await;
    // Replica a reaches the bus through the proxy; b directly.
    let a = campaign(BusElector::new(
        JetStreamOptions::new(&proxy.url),
        "ns-sensor-pair",
        "a",
        fast(),
    ));
    wait_for("a to lead", ms(10_000), || a.leading.load(Ordering::SeqCst)).await;
    let b = campaign(bus_elector(&server, "b"));

    // a is cut off: it gives up at its renew deadline, b takes the stale lock over.
    proxy.cut();
    wait_for("b to take over", ms(15_000), || {
        b.leading.load(Ordering::SeqCst)
    })
    .await;
    assert!(!a.leading.load(Ordering::SeqCst), "two leaders");
    assert!(!a.task.is_finished(), "the former leader exited");
    assert_eq!(a.starts.load(Ordering::SeqCst), 1);
    assert_eq!(b.starts.load(Ordering::SeqCst), 1);

    // a is back: it stands by while b leads, and leads again (its work started afresh) once
    // b hands the lock over.
    proxy.heal();
    for _ in 0..10 {
        tokio::time::sleep(fast().retry_period).await;
        assert!(
            !a.leading.load(Ordering::SeqCst),
            "a led while b held the lock"
        );
        assert!(!a.task.is_finished(), "the former leader exited");
    }
    b.stop.cancel();
    let b_result = tokio::time::timeout(ms(10_000), b.task)
        .await
        .expect("b stops on shutdown")
        .unwrap()
        .unwrap();
    assert_eq!(b_result, Some(()));
    wait_for("a to lead again", ms(15_000), || {
        a.leading.load(Ordering::SeqCst)
    })
    .await;
    assert_eq!(a.starts.load(Ordering::SeqCst), 2);
    a.stop.cancel();
    let a_result = tokio::time::timeout(ms(10_000), a.task)
        .await
        .expect("a stops on shutdown")
        .unwrap()
        .unwrap();
    assert_eq!(a_result, Some(()));
    proxy.task.abort();
}
