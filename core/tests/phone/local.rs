//! Phones syncing face to face: over TCP on loopback, with bundles for a known peer, and with a
//! captain handing turfs around offline.

use crate::common::{doc_attempt_ids, door, dump, knock, phone_at, set_role, team_doc_bytes};
use doorstep_core::doc::DocId;
use doorstep_core::domain::{CanvasserId, TurfId};
use doorstep_core::{LocalReport, LocalSyncError, Store, local_sync};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Mutex;

/// Syncs two phones over a real TCP connection on loopback: `b` listens, `a` connects.
fn sync_over_tcp(a: &Mutex<Store>, b: &Mutex<Store>, now: i64) -> (LocalReport, LocalReport) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::scope(|scope| {
        let answer = scope.spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            local_sync(&mut &*b, &mut stream, false, now).unwrap()
        });
        let mut stream = TcpStream::connect(addr).unwrap();
        let asked = local_sync(&mut &*a, &mut stream, true, now).unwrap();
        (asked, answer.join().unwrap())
    })
}

fn ids(store: &Mutex<Store>, turf: &str) -> Vec<String> {
    let mut ids: Vec<String> = doc_attempt_ids(&mut store.lock().unwrap(), &turf.into())
        .iter()
        .map(ToString::to_string)
        .collect();
    ids.sort();
    ids
}

#[test]
fn two_phones_sync_both_ways_over_tcp_and_the_next_session_sends_only_whats_new() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = phone_at(&dir.path().join("a.db"), "ana", &["t1", "t2"], 40);
    let mut b = phone_at(&dir.path().join("b.db"), "ben", &["t1"], 40);
    for i in 0..30 {
        a.record_attempt(knock("t1", &format!("t1-v{i:03}0"), "talked", 10 + i))
            .unwrap();
        a.record_attempt(door("t2", &format!("t2-h{i:03}"), "not_home", 10 + i))
            .unwrap();
        b.record_attempt(knock("t1", &format!("t1-v{i:03}1"), "refused", 10 + i))
            .unwrap();
    }
    let (a, b) = (Mutex::new(a), Mutex::new(b));
    let (first_a, first_b) = sync_over_tcp(&a, &b, 100);
    assert_eq!(
        first_a.records_added, 30,
        "ana's phone took ben's 30 knocks"
    );
    assert_eq!(first_b.records_added, 60, "ben's phone took ana's 60");
    assert_eq!(first_b.rosters_applied, 1, "and turf t2's list");
    assert_eq!(first_a.peer_user.as_deref(), Some("ben"));
    for turf in ["t1", "t2"] {
        assert_eq!(ids(&a, turf), ids(&b, turf), "turf {turf}");
    }
    assert_eq!(ids(&a, "t1").len(), 60);
    assert!(
        a.lock()
            .unwrap()
            .verify_projections(&"t2".into())
            .unwrap()
            .is_empty()
    );
    assert!(
        b.lock()
            .unwrap()
            .verify_projections(&"t2".into())
            .unwrap()
            .is_empty()
    );

    // One more knock each: the next session carries those, not the day's results again.
    a.lock()
        .unwrap()
        .record_attempt(knock("t1", "t1-v0350", "talked", 200))
        .unwrap();
    b.lock()
        .unwrap()
        .record_attempt(knock("t1", "t1-v0351", "talked", 201))
        .unwrap();
    let (second_a, second_b) = sync_over_tcp(&a, &b, 300);
    assert_eq!((second_a.records_added, second_b.records_added), (1, 1));
    assert_eq!(ids(&a, "t1"), ids(&b, "t1"));
    let first = first_a.bytes_sent + first_b.bytes_sent;
    let second = second_a.bytes_sent + second_b.bytes_sent;
    eprintln!("first session {first} bytes, second {second} bytes");
    // About a sixth usually; a turn more when the two sides' messages cross (seen under load
    // in CI: 1,596 against 7,466 bytes).
    assert!(
        second * 4 < first,
        "the second session sent {second} bytes against {first} for the first"
    );

    // Nothing new: no document, roster or projection changes on either phone (only what each
    // knows of the other may catch up).
    let data = |p: &str| {
        let dump = dump(&dir.path().join(p));
        dump.split("== ")
            .filter(|t| !t.starts_with("peer"))
            .collect::<Vec<_>>()
            .join("== ")
    };
    let before = (data("a.db"), data("b.db"));
    let (quiet_a, quiet_b) = sync_over_tcp(&a, &b, 300);
    assert_eq!(quiet_a.docs_changed + quiet_b.docs_changed, 0);
    let after = (data("a.db"), data("b.db"));
    for (b, a) in [(&before.0, &after.0), (&before.1, &after.1)] {
        let changed: Vec<(&str, &str)> = b.lines().zip(a.lines()).filter(|(x, y)| x != y).collect();
        assert!(
            changed.is_empty(),
            "a session with nothing new changed: {changed:#?}"
        );
    }
}

/// A stream that breaks after `budget` writes (a frame is two: its length, then its bytes),
/// like a Wi-Fi link dropping mid-session.
struct Flaky<S> {
    inner: S,
    budget: usize,
}

impl<S: Read> Read for Flaky<S> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf)
    }
}

impl<S: Write> Write for Flaky<S> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.budget == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "link dropped",
            ));
        }
        self.budget -= 1;
        self.inner.write_all(buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[test]
fn a_link_dropped_mid_session_keeps_what_arrived_and_the_next_session_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = phone_at(&dir.path().join("a.db"), "ana", &["t1", "t2", "t3"], 30);
    let b = phone_at(&dir.path().join("b.db"), "ben", &["t1"], 30);
    for i in 0..20 {
        for t in ["t1", "t2", "t3"] {
            a.record_attempt(door(t, &format!("{t}-h{i:03}"), "not_home", 10 + i))
                .unwrap();
        }
    }
    let (a, b) = (Mutex::new(a), Mutex::new(b));
    // Ana's phone sends the bulk: its link drops after its greeting, after its first turn
    // (heads only), and after its second (the knocks).
    let mut kept = Vec::new();
    for budget in [2, 4, 6] {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (asked, answered) = std::thread::scope(|scope| {
            let answer = scope.spawn(|| {
                let (mut stream, _) = listener.accept().unwrap();
                local_sync(&mut &b, &mut stream, false, 50)
            });
            let mut stream = Flaky {
                inner: TcpStream::connect(addr).unwrap(),
                budget,
            };
            let asked = local_sync(&mut &a, &mut stream, true, 50);
            drop(stream);
            (asked, answer.join().unwrap())
        });
        assert!(
            matches!(asked, Err(LocalSyncError::Link(_))),
            "ana's side broke at {budget} bytes: {asked:?}"
        );
        assert!(
            matches!(answered, Err(LocalSyncError::Link(_))),
            "ben's side saw the link drop: {answered:?}"
        );
        // Whatever arrived is whole: the projections agree with the documents.
        let mut b = b.lock().unwrap();
        for turf in b.turfs().unwrap() {
            assert!(b.verify_projections(&turf.turf).unwrap().is_empty());
        }
        let turfs = b.turfs().unwrap();
        kept.push(
            turfs
                .iter()
                .map(|t| b.history(&t.turf).unwrap().len())
                .sum::<usize>(),
        );
    }
    // After ana's second turn, ben's phone holds turf t1's 20 knocks (t2 and t3 wait for their
    // lists, asked for in that turn): kept, whole, though the session broke.
    assert_eq!(
        kept,
        vec![0, 0, 20],
        "knocks kept after each broken session"
    );
    let (_, finished) = sync_over_tcp(&a, &b, 60);
    assert!(finished.refused.is_empty(), "{:?}", finished.refused);
    for t in ["t1", "t2", "t3"] {
        assert_eq!(ids(&a, t), ids(&b, t), "turf {t}");
        assert_eq!(ids(&b, t).len(), 20);
    }
}

#[test]
fn paired_phones_sync_encrypted_and_a_wrong_code_changes_nothing() {
    use doorstep_core::store::{pair, pairing_code};
    let dir = tempfile::tempdir().unwrap();
    let mut a = phone_at(&dir.path().join("a.db"), "ana", &["t1"], 10);
    let b = Store::open(dir.path().join("b.db")).unwrap();
    let secret = a
        .record_attempt(knock("t1", "t1-v0000", "talked", 10))
        .unwrap();
    let (a, b) = (Mutex::new(a), Mutex::new(b));
    let wire = std::sync::Arc::new(Mutex::new(Vec::new()));
    let run = |code_a: &str, code_b: &str| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::scope(|scope| {
            let answer = scope.spawn(|| {
                let (stream, _) = listener.accept().unwrap();
                let mut sealed = pair(stream, code_b, false).map_err(|e| e.to_string())?;
                local_sync(&mut &b, &mut sealed, false, 5).map_err(|e| e.to_string())
            });
            let asked = (|| {
                let stream = Tap {
                    inner: TcpStream::connect(addr).unwrap(),
                    wire: wire.clone(),
                };
                let mut sealed = pair(stream, code_a, true).map_err(|e| e.to_string())?;
                local_sync(&mut &a, &mut sealed, true, 5).map_err(|e| e.to_string())
            })();
            (asked, answer.join().unwrap())
        })
    };
    let code = pairing_code();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (asked, answered) = run(&code, wrong);
    assert!(asked.unwrap_err().contains("pairing code"));
    assert!(answered.unwrap_err().contains("pairing code"));
    assert!(
        b.lock().unwrap().documents().unwrap().is_empty(),
        "nothing taken"
    );

    let (asked, answered) = run(&code, &code);
    let (asked, answered) = (asked.unwrap(), answered.unwrap());
    assert_eq!(answered.records_added, 1);
    assert!(asked.bytes_sent > 0);
    assert_eq!(
        b.lock().unwrap().history(&"t1".into()).unwrap()[0].id,
        secret.id
    );
    // What went over the wire reads as nothing: not a document id, not a street.
    let wire = wire.lock().unwrap();
    assert!(wire.len() > 1_000);
    for plain in [&b"turf:t1"[..], b"Elm Street", b"DSYN"] {
        assert!(
            !wire.windows(plain.len()).any(|w| w == plain),
            "{plain:?} on the wire"
        );
    }
}

/// A stream that keeps a copy of everything written through it.
struct Tap<S> {
    inner: S,
    wire: std::sync::Arc<Mutex<Vec<u8>>>,
}

impl<S: Read> Read for Tap<S> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf)
    }
}

impl<S: Write> Write for Tap<S> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.wire.lock().unwrap().extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[test]
fn a_bundle_for_a_known_phone_carries_only_what_it_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = phone_at(&dir.path().join("a.db"), "ana", &["t1", "t2"], 60);
    let mut b = Store::open(dir.path().join("b.db")).unwrap();
    for i in 0..50 {
        a.record_attempt(door("t1", &format!("t1-h{i:03}"), "not_home", 10 + i))
            .unwrap();
    }
    let full = a.export_bundle(100).unwrap();
    // A phone never met gets everything.
    assert_eq!(
        a.export_bundle_for(b.device().as_str(), 100).unwrap().len(),
        full.len()
    );
    b.import_bundle(&full, 100).unwrap();
    b.sign_in(&"ben".into()).unwrap();
    let peers = b.peers().unwrap();
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].device, a.device().as_str());
    assert_eq!(peers[0].user.as_deref(), Some("ana"));

    b.record_attempt(knock("t1", "t1-v0550", "talked", 200))
        .unwrap();
    let news = b.export_bundle_for(a.device().as_str(), 201).unwrap();
    let everything = b.export_bundle(201).unwrap();
    eprintln!(
        "bundle of news {} bytes, of everything {}",
        news.len(),
        everything.len()
    );
    assert!(
        news.len() * 5 < everything.len(),
        "{} bytes against {} for everything",
        news.len(),
        everything.len()
    );
    let report = a.import_bundle(&news, 202).unwrap();
    assert_eq!((report.records_added, report.rosters_applied), (1, 0));
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    assert_eq!(
        doc_attempt_ids(&mut a, &"t1".into()),
        doc_attempt_ids(&mut b, &"t1".into())
    );
    // Now ana's phone knows what ben's holds: its next bundle for ben is small too.
    a.record_attempt(door("t2", "t2-h001", "not_home", 300))
        .unwrap();
    let back = a.export_bundle_for(b.device().as_str(), 301).unwrap();
    assert!(
        back.len() * 5 < full.len(),
        "{} against {}",
        back.len(),
        full.len()
    );
    assert_eq!(b.import_bundle(&back, 302).unwrap().records_added, 1);
}

#[test]
fn a_captain_hands_a_turf_over_offline_and_the_new_holder_gets_it_phone_to_phone() {
    let dir = tempfile::tempdir().unwrap();
    let team = team_doc_bytes(&[("t1", &["ana"]), ("t2", &["ben"])]);
    let team_id = DocId::team("north");
    let paths = ["cap", "ana", "ben"].map(|p| dir.path().join(format!("{p}.db")));
    let mut cap = phone_at(&paths[0], "cap", &["t1", "t2"], 20);
    let mut ana = phone_at(&paths[1], "ana", &["t1"], 20);
    let mut ben = phone_at(&paths[2], "ben", &["t2"], 20);
    for (store, path, role) in [
        (&mut cap, &paths[0], "captain"),
        (&mut ana, &paths[1], "canvasser"),
        (&mut ben, &paths[2], "canvasser"),
    ] {
        store.merge_changes(&team_id, &team).unwrap();
        set_role(path, role);
    }
    for i in 0..10 {
        ben.record_attempt(door("t2", &format!("t2-h{i:03}"), "not_home", 10 + i))
            .unwrap();
        ana.record_attempt(knock("t1", &format!("t1-v{i:03}0"), "talked", 10 + i))
            .unwrap();
    }
    // A canvasser cannot hand turfs around.
    let err = ana
        .reassign_turf(&"t2".into(), &[CanvasserId::from("ana")], 20)
        .unwrap_err();
    assert!(err.to_string().contains("may not reassign"), "{err}");
    // Nor can a captain give a turf to someone outside the team.
    let err = cap
        .reassign_turf(&"t2".into(), &[CanvasserId::from("zed")], 20)
        .unwrap_err();
    assert!(err.to_string().contains("not a member"), "{err}");

    let (cap, ana, ben) = (Mutex::new(cap), Mutex::new(ana), Mutex::new(ben));
    // The captain collects ben's results, then hands ben's unfinished turf to ana.
    sync_over_tcp(&cap, &ben, 30);
    assert_eq!(ids(&cap, "t2").len(), 10);
    cap.lock()
        .unwrap()
        .reassign_turf(&"t2".into(), &[CanvasserId::from("ana")], 31)
        .unwrap();
    let (_, took) = sync_over_tcp(&cap, &ana, 32);
    assert_eq!(took.rosters_applied, 1, "ana's phone got turf t2's list");
    assert_eq!(took.records_added, 10, "with ben's knocks on it: {took:?}");
    assert_eq!(ids(&ana, "t2"), ids(&cap, "t2"));
    let team = ana.lock().unwrap().team().unwrap().unwrap();
    assert_eq!(team.assignment("t2").unwrap().users, vec!["ana".to_owned()]);
    assert_eq!(team.assignment("t2").unwrap().by, "cap");
    // The captain's phone has ana's results too, and counts the team's progress offline.
    assert_eq!(ids(&cap, "t1").len(), 10);
    let progress = cap.lock().unwrap().team_progress().unwrap();
    let of = |user: &str| {
        progress
            .members
            .iter()
            .find(|m| m.user.as_str() == user)
            .unwrap()
    };
    assert_eq!(of("ana").name, "Ana");
    assert_eq!((of("ana").attempts, of("ana").contacts), (10, 10));
    assert_eq!((of("ben").attempts, of("ben").doors_knocked), (10, 10));
    assert_eq!(of("ben").by_outcome.get(&"not_home".into()), Some(&10));
    assert_eq!(of("ben").last_result_at, Some(19));
    assert_eq!(
        of("ana").turfs,
        vec![TurfId::from("t1"), TurfId::from("t2")]
    );
    assert!(of("ben").turfs.is_empty());
    let t2 = progress
        .turfs
        .iter()
        .find(|t| t.turf.as_str() == "t2")
        .unwrap();
    assert_eq!((t2.progress.doors, t2.progress.doors_knocked), (20, 10));
    assert_eq!(t2.holders, vec![CanvasserId::from("ana")]);

    // Ben's phone learns of the handover from the captain, and keeps what it holds.
    sync_over_tcp(&ben, &cap, 40);
    let team = ben.lock().unwrap().team().unwrap().unwrap();
    assert_eq!(team.assignment("t2").unwrap().users, vec!["ana".to_owned()]);
    // Ben's phone does not take ana's turf t1, which was never his.
    assert!(ben.lock().unwrap().roster(&"t1".into()).unwrap().is_none());

    // A phone of nobody on the team (here one nobody signed in on, which would take anything)
    // gets nothing from the captain's: no list, no document.
    let zed = Mutex::new(Store::open(dir.path().join("zed.db")).unwrap());
    let (got, _) = sync_over_tcp(&zed, &cap, 50);
    assert_eq!((got.rosters_applied, got.docs_changed), (0, 0), "{got:?}");
    assert!(zed.lock().unwrap().documents().unwrap().is_empty());

    // A tampered app promoting its own user to captain in the team document it hands over
    // gets nothing more for it: the captain's phone goes by the members the server gave it.
    let mut tampered = Store::open(dir.path().join("tampered.db")).unwrap();
    tampered.sign_in(&"ben".into()).unwrap();
    let held = cap.lock().unwrap().export_changes(&team_id, &[]).unwrap();
    let mut doc =
        doorstep_core::doc::TeamDoc::load("north", &held, [], doorstep_core::ActorId::random())
            .unwrap();
    doc.set_member(&doorstep_core::domain::Member {
        id: "ben".into(),
        name: "Ben".into(),
        role: doorstep_core::domain::Role::Captain,
    })
    .unwrap();
    tampered
        .merge_changes(&team_id, &doc.automerge().save())
        .unwrap();
    let tampered = Mutex::new(tampered);
    let (got, _) = sync_over_tcp(&tampered, &cap, 60);
    assert_eq!(
        got.rosters_applied, 0,
        "no list for a self-made captain: {got:?}"
    );
    assert!(
        tampered
            .lock()
            .unwrap()
            .roster(&"t1".into())
            .unwrap()
            .is_none()
    );
    let team = cap.lock().unwrap().team().unwrap().unwrap();
    assert_eq!(
        team.member("ben").unwrap().role,
        doorstep_core::domain::Role::Canvasser
    );
}
