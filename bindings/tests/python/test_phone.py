"""The Python bindings driven as an app would drive them, against a real `doorstep serve`.

Run by `cargo nextest` (bindings/tests/foreign.rs) after `cargo run -p xtask -- bindings`, with
DOORSTEP_BINDINGS pointing at the generated module and DOORSTEP_BIN at the server binary.
"""

import os
import socket
import sqlite3
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ["DOORSTEP_BINDINGS"])
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "mobile-demo"))

import doorstep  # noqa: E402  (the generated module)
from doorstep import AttemptInput, NetworkSettings, Phone, PhoneError  # noqa: E402
from localserver import LocalServer, closed_port  # noqa: E402

FAST_FAIL = NetworkSettings(connect_timeout_ms=2000, request_timeout_ms=10000, retries=1, backoff_ms=10)


def knock(phone, turf, door, n):
    """Records an attempt the way a canvasser's screen would: a person when someone is listed,
    otherwise the door."""
    if door.voters:
        voter = door.voters[n % len(door.voters)]
        script = phone.script(turf, voter.id)
        answers = []
        if script and any(q.id == "support" for q in script.questions):
            answers.append(doorstep.SurveyAnswer(question="support", value=doorstep.AnswerValue.SUPPORT(level=1 + n % 5)))
        return phone.record_attempt(AttemptInput(turf=turf, outcome="talked", voter=voter.id, answers=answers))
    return phone.record_attempt(AttemptInput(turf=turf, outcome="not_home", household=door.id))


def server_results(db):
    """attempt id -> how many rows the server's results projection holds for it."""
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT attempt_id, count(*) FROM results GROUP BY attempt_id"))


def sync_in_background(phone, events):
    """Starts `sync_now` on another thread, as an app does; the dict gets its error, if any."""
    outcome = {}

    def sync():
        try:
            outcome["summary"] = phone.sync_now(events)
        except PhoneError as e:
            outcome["error"] = e

    worker = threading.Thread(target=sync, daemon=True)
    worker.start()
    return worker, outcome


class Events(doorstep.SyncProgress):
    """Collects sync events; `sending` and `retrying` are set when the first of each arrives."""

    def __init__(self):
        self.events = []
        self.sending = threading.Event()
        self.retrying = threading.Event()

    def on_event(self, event):
        self.events.append(event)
        if isinstance(event, doorstep.SyncEvent.SENDING):
            self.sending.set()
        if isinstance(event, doorstep.SyncEvent.RETRYING):
            self.retrying.set()


class PhoneTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.server = LocalServer(self.path("server.db"), demo=True)
        self.token = self.server.token("canvasser")

    def tearDown(self):
        self.server.stop()
        self.dir.cleanup()

    def path(self, name):
        return os.path.join(self.dir.name, name)

    def test_fifty_knocks_offline_survive_a_restart_and_reach_the_server_once(self):
        phone = Phone.open(self.path("phone.db"))
        phone.set_network(FAST_FAIL)
        signed = phone.sign_in(self.server.url, self.token, None)
        self.assertEqual(signed.role, "canvasser")
        turfs = phone.turfs()
        self.assertTrue(turfs, "sign-in downloads the canvasser's turfs")
        port = self.server.port
        self.server.stop()  # no signal from here on

        ids = []
        for turf in turfs:
            for n, door in enumerate(phone.walk_list(turf.id)):
                if len(ids) == 50:
                    break
                ids.append(knock(phone, turf.id, door, n))
        self.assertEqual(len(ids), 50)
        self.assertEqual(phone.unsynced_count(), 50)
        with self.assertRaises(PhoneError.Network):
            phone.sync_now(None)
        self.assertEqual(phone.unsynced_count(), 50, "a failed sync keeps everything")

        del phone  # the app is closed and started again
        phone = Phone.open(self.path("phone.db"))
        self.assertEqual(phone.unsynced_count(), 50)
        self.assertEqual(phone.server(), self.server.url, "the sign-in survives a restart")

        self.server = LocalServer(self.path("server.db"), port=port)
        events = Events()
        summary = phone.sync_now(events)
        self.assertEqual(summary.unsynced, 0)
        self.assertEqual(phone.unsynced_count(), 0)
        self.assertTrue(any(isinstance(e, doorstep.SyncEvent.SENDING) for e in events.events))
        self.assertTrue(any(isinstance(e, doorstep.SyncEvent.RECEIVED) for e in events.events))

        held = server_results(self.path("server.db"))
        self.assertEqual({i: held.get(i) for i in ids}, {i: 1 for i in ids}, "each attempt exactly once")
        # A second sync sends nothing twice.
        phone.sync_now(None)
        self.assertEqual(server_results(self.path("server.db")), held)

    def test_a_wrong_token_is_not_signed_in_and_a_closed_port_is_a_network_error(self):
        phone = Phone.open(self.path("phone.db"))
        phone.set_network(FAST_FAIL)
        with self.assertRaises(PhoneError.NotSignedIn) as wrong:
            phone.sign_in(self.server.url, "dst_" + "0" * 48, None)
        self.assertIn("sign in again", str(wrong.exception))
        self.assertIsNone(phone.server(), "a refused sign-in is not remembered")
        with self.assertRaises(PhoneError.Network):
            phone.sign_in(f"http://127.0.0.1:{closed_port()}", self.token, None)
        with self.assertRaises(PhoneError.InvalidInput):
            phone.sign_in("ftp://example", self.token, None)
        with self.assertRaises(PhoneError.NotSignedIn):
            phone.sync_now(None)
        with self.assertRaises(PhoneError.InvalidInput) as clear:
            phone.sign_in("http://example.org", self.token, None)
        self.assertIn("https", clear.exception.detail, "no token sent in clear over a network")

    def test_another_users_token_is_refused_on_a_phone_signed_in_as_someone(self):
        phone = Phone.open(self.path("phone.db"))
        phone.sign_in(self.server.url, self.token, None)
        me = phone.signed_in_as()
        other = next(t for u, (r, t) in sorted(self.server.tokens.items()) if r == "canvasser" and u != me)
        with self.assertRaises(PhoneError.NotSignedIn) as wrong:
            phone.sign_in(self.server.url, other, None)
        self.assertIn("sign out", wrong.exception.detail)
        self.assertEqual(phone.signed_in_as(), me)
        turf = phone.turfs()[0]
        knock(phone, turf.id, phone.walk_list(turf.id)[0], 0)
        with self.assertRaises(PhoneError.UnsyncedResults) as waiting:
            phone.sign_out()
        self.assertEqual(waiting.exception.count, 1)
        phone.sync_now(None)
        phone.sign_out()
        self.assertEqual(phone.sign_in(self.server.url, other, None).user, phone.signed_in_as())
        self.assertNotEqual(phone.signed_in_as(), me)

    def test_screens_show_the_walk_list_scripts_and_refuse_bad_input(self):
        phone = Phone.open(self.path("phone.db"))
        phone.sign_in(self.server.url, self.token, None)
        turf = phone.turfs()[0]
        doors = phone.walk_list(turf.id)
        self.assertEqual([d.position for d in doors], list(range(len(doors))), "walk order")
        codes = {o.code for o in phone.outcomes(turf.id)}
        self.assertIn("not_home", codes)
        voter = next(v for d in doors for v in d.voters)
        script = phone.script(turf.id, voter.id)
        self.assertIsNotNone(script)
        self.assertTrue(script.body)
        # The script branches: a strong opponent is not asked the second question.
        self.assertEqual(phone.next_question(turf.id, voter.id, []), "support")
        after = lambda level: phone.next_question(
            turf.id, voter.id, [doorstep.SurveyAnswer(question="support", value=doorstep.AnswerValue.SUPPORT(level=level))])
        self.assertEqual(after(1), script.questions[1].id, "a supporter gets the next question")
        self.assertIsNone(after(5), "after support 5 the script ends")

        with self.assertRaises(PhoneError.InvalidInput) as bad:
            phone.record_attempt(AttemptInput(turf=turf.id, outcome="abducted_by_aliens", voter=voter.id))
        self.assertIn("abducted_by_aliens", bad.exception.detail, "says which outcome")
        secret = f"{voter.first_name} {voter.last_name} said the code is 4711. "
        with self.assertRaises(PhoneError.InvalidInput) as long_note:
            phone.record_attempt(AttemptInput(turf=turf.id, outcome="talked", voter=voter.id, note=secret * 100))
        self.assertIn("note", long_note.exception.detail)
        self.assertNotIn(voter.last_name, long_note.exception.detail, "no personal data in errors")
        self.assertNotIn("4711", long_note.exception.detail)
        with self.assertRaises(PhoneError.NotFound):
            phone.walk_list("no-such-turf")
        with self.assertRaises(PhoneError.InvalidInput):
            phone.record_attempt(AttemptInput(turf=turf.id, outcome="talked"))
        self.assertEqual(phone.unsynced_count(), 0, "refused input records nothing")

        door = doors[0]
        phone.set_household_note(turf.id, door.id, "gate code 1234")
        attempt = phone.record_attempt(AttemptInput(turf=turf.id, outcome="not_home", household=door.id))
        first = phone.walk_list(turf.id)[0]
        self.assertEqual((first.note, first.status), ("gate code 1234", "not_home"))
        phone.void_attempt(turf.id, attempt)
        self.assertIsNone(phone.walk_list(turf.id)[0].status)
        person = phone.add_person(turf.id, door.id, "New", "Neighbor", None)
        self.assertTrue(any(v.id == person and v.added for v in phone.walk_list(turf.id)[0].voters))
        found = phone.search(turf.id, "neighbor")
        self.assertEqual([d.id for d in found], [door.id])
        self.assertEqual(phone.unsynced_count(), 2, "an attempt and its void")

    def test_an_app_with_its_own_networking_uses_the_sans_io_pair(self):
        phone = Phone.open(self.path("phone.db"))
        phone.sign_in(self.server.url, self.token, None)
        turf = phone.turfs()[0]
        ids = [knock(phone, turf.id, door, n) for n, door in enumerate(phone.walk_list(turf.id)[:3])]
        for _ in range(12):
            request = urllib.request.Request(
                f"{self.server.url}/v1/sync",
                data=phone.make_sync_request(),
                headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/vnd.doorstep.sync"},
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                round_ = phone.apply_sync_response(response.read())
            if not round_.again:
                break
        self.assertEqual(phone.unsynced_count(), 0)
        held = server_results(self.path("server.db"))
        self.assertEqual([held.get(i) for i in ids], [1, 1, 1])
        with self.assertRaises(PhoneError.Network):
            phone.apply_sync_response(b"not a sync message")

    def test_a_bundle_carries_results_to_another_phone_and_a_damaged_one_changes_nothing(self):
        a = Phone.open(self.path("a.db"))
        a.sign_in(self.server.url, self.server.token("captain"), None)
        turf = a.turfs()[0]
        ids = [knock(a, turf.id, door, n) for n, door in enumerate(a.walk_list(turf.id)[:4])]
        size = a.export_bundle(self.path("shift.bundle"))
        self.assertEqual(size, os.path.getsize(self.path("shift.bundle")))

        b = Phone.open(self.path("b.db"))
        first = b.import_bundle(self.path("shift.bundle"))
        self.assertGreater(first.docs_changed, 0)
        self.assertEqual(first.refused, [])
        statuses = [d.status for d in b.walk_list(turf.id)[:4]]
        self.assertEqual(statuses, [d.status for d in a.walk_list(turf.id)[:4]])
        again = b.import_bundle(self.path("shift.bundle"))
        self.assertEqual(again.docs_changed, 0, "the same bundle twice changes nothing")

        with open(self.path("shift.bundle"), "rb") as f:
            data = f.read()
        with open(self.path("cut.bundle"), "wb") as f:
            f.write(data[: len(data) // 2])
        c = Phone.open(self.path("c.db"))
        with self.assertRaises(PhoneError.InvalidInput) as cut:
            c.import_bundle(self.path("cut.bundle"))
        self.assertIn("cut off", str(cut.exception))
        self.assertEqual(c.turfs(), [], "a refused bundle changes nothing")
        with self.assertRaises(PhoneError.NotFound):
            c.import_bundle(self.path("missing.bundle"))
        self.assertEqual(len(ids), 4)

    @staticmethod
    def _accept_error(listener):
        try:
            listener.accept(20)
            return "accepted"
        except PhoneError as e:
            return str(e)

    def test_a_captain_collects_results_phone_to_phone_and_hands_a_turf_over(self):
        def signed_in(name, user):
            phone = Phone.open(self.path(name))
            phone.sign_in(self.server.url, self.server.tokens[user][1], None)
            return phone

        captain = signed_in("captain.db", "captain-1")
        ana = signed_in("ana.db", "canvasser-1-1")
        ben = signed_in("ben.db", "canvasser-1-2")
        team = captain.team()
        self.assertEqual(team.id, "team-1")
        self.assertEqual({m.id: m.role for m in team.members}["captain-1"], "captain")
        self.assertEqual(ana.team().id, "team-1", "a canvasser's phone holds its team too")
        ana_turf = ana.turfs()[0].id
        ben_turf = next(t.id for t in ben.turfs() if t.id != ana_turf)
        # A day offline: nothing below reaches the server until the captain syncs.
        port = self.server.port
        self.server.stop()
        ana_ids = [knock(ana, ana_turf, d, n) for n, d in enumerate(ana.walk_list(ana_turf)[:5])]
        ben_ids = [knock(ben, ben_turf, d, n) for n, d in enumerate(ben.walk_list(ben_turf)[:3])]

        # Ana syncs with the captain's phone directly.
        listener = captain.listen_local("127.0.0.1:0")
        answered = {}
        worker = threading.Thread(target=lambda: answered.update(summary=listener.accept(20)), daemon=True)
        worker.start()
        asked = ana.sync_local(f"127.0.0.1:{listener.port()}", listener.code())
        worker.join(timeout=30)
        self.assertFalse(worker.is_alive())
        self.assertEqual(answered["summary"].records_added, 5, "the captain's phone took ana's knocks")
        self.assertEqual(answered["summary"].peer_user, "canvasser-1-1")
        self.assertEqual(asked.refused, [])

        # A phone given the wrong code gets nothing, and the listener's side is told too.
        answered.clear()
        shown = listener.code()
        wrong = "000000" if shown != "000000" else "111111"
        worker = threading.Thread(target=lambda: answered.update(error=self._accept_error(listener)), daemon=True)
        worker.start()
        with self.assertRaises(PhoneError.InvalidInput) as refused:
            ben.sync_local(f"127.0.0.1:{listener.port()}", wrong)
        worker.join(timeout=30)
        self.assertIn("pairing codes", str(refused.exception))
        self.assertIn("pairing codes", answered["error"])
        self.assertNotEqual(listener.code(), shown, "a wrong guess draws a new code")

        # Ben hands over a bundle file.
        ben.export_bundle(self.path("ben.bundle"))
        self.assertEqual(captain.import_bundle(self.path("ben.bundle")).records_added, 3)

        progress = captain.team_progress()
        by_user = {m.user: m for m in progress.members}
        self.assertEqual(by_user["canvasser-1-1"].attempts, 5)
        self.assertEqual(by_user["canvasser-1-2"].attempts, 3)
        self.assertEqual(by_user["canvasser-1-2"].doors_knocked, 3)
        self.assertIsNotNone(by_user["canvasser-1-2"].last_result_at)
        turf_stats = {t.turf: t for t in progress.turfs}
        self.assertEqual(turf_stats[ana_turf].attempts, 5)

        # The captain hands ben's unfinished turf to ana; her next local sync brings it, with
        # ben's knocks on it.
        captain.reassign_turf(ben_turf, ["canvasser-1-1"])
        with self.assertRaises(PhoneError.InvalidInput):
            captain.reassign_turf(ben_turf, ["canvasser-2-1"])  # another team's member
        with self.assertRaises(PhoneError.RefusedByServer):
            ana.reassign_turf(ana_turf, ["canvasser-1-2"])  # a canvasser may not
        answered.clear()
        worker = threading.Thread(target=lambda: answered.update(summary=listener.accept(20)), daemon=True)
        worker.start()
        took = ana.sync_local(f"127.0.0.1:{listener.port()}", listener.code())
        worker.join(timeout=30)
        self.assertFalse(worker.is_alive())
        self.assertEqual(answered["summary"].peer_user, "canvasser-1-1", "the captain's side finished too")
        self.assertIn(ben_turf, [t.id for t in ana.turfs()])
        self.assertEqual(took.records_added, 3)
        holders = {t.turf: t.holders for t in ana.team().turfs}
        self.assertEqual(holders[ben_turf], ["canvasser-1-1"])

        # A bundle for a phone already met carries only what it lacks.
        ana_device = answered["summary"].peer_device
        self.assertIn(ana_device, [p.device for p in captain.peers()])
        self.assertEqual(ana.peers()[0].user, "captain-1")
        knock(captain, ana_turf, captain.walk_list(ana_turf)[7], 1)
        small = captain.export_bundle_for(ana_device, self.path("for-ana.bundle"))
        full = captain.export_bundle(self.path("all.bundle"))
        self.assertLess(small * 3, full, "a bundle for a known phone is a fraction of everything")
        self.assertEqual(ana.import_bundle(self.path("for-ana.bundle")).records_added, 1)

        # Back in signal: the captain forwards everything; each attempt reaches the server once,
        # still in the name of the canvasser who recorded it.
        self.server = LocalServer(self.path("server.db"), port=port)
        captain.sync_now(None)
        held = server_results(self.path("server.db"))
        self.assertEqual([held.get(i) for i in ana_ids + ben_ids], [1] * 8)
        with sqlite3.connect(self.path("server.db")) as conn:
            authors = dict(conn.execute("SELECT attempt_id, canvasser_id FROM results"))
        self.assertEqual({authors[i] for i in ana_ids}, {"canvasser-1-1"})
        self.assertEqual({authors[i] for i in ben_ids}, {"canvasser-1-2"})

    def test_a_sync_can_be_cancelled_while_it_waits_to_retry(self):
        phone = Phone.open(self.path("phone.db"))
        phone.sign_in(self.server.url, self.token, None)
        self.server.stop()
        phone.set_network(NetworkSettings(connect_timeout_ms=1000, request_timeout_ms=5000, retries=8, backoff_ms=2000))
        events = Events()
        worker, outcome = sync_in_background(phone, events)
        self.assertTrue(events.retrying.wait(timeout=30), "the sync met the closed port")
        started = time.monotonic()
        phone.cancel_sync()
        worker.join(timeout=10)
        self.assertFalse(worker.is_alive())
        self.assertIsInstance(outcome.get("error"), PhoneError.Cancelled)
        self.assertLess(time.monotonic() - started, 1.0, "cancelled during its wait, not retries later")

    def test_a_sync_retries_until_a_restarting_server_answers(self):
        phone = Phone.open(self.path("phone.db"))
        phone.sign_in(self.server.url, self.token, None)
        turf = phone.turfs()[0]
        knock(phone, turf.id, phone.walk_list(turf.id)[0], 0)
        port = self.server.port
        self.server.stop()
        phone.set_network(NetworkSettings(connect_timeout_ms=1000, request_timeout_ms=5000, retries=6, backoff_ms=300))

        def restart():
            time.sleep(0.8)
            self.server = LocalServer(self.path("server.db"), port=port)

        restarter = threading.Thread(target=restart)
        restarter.start()
        events = Events()
        summary = phone.sync_now(events)
        restarter.join()
        retries = [e for e in events.events if isinstance(e, doorstep.SyncEvent.RETRYING)]
        self.assertTrue(retries, "the first tries met a closed port")
        self.assertTrue(all(r.wait_ms <= 300 * 2 ** (r.retry - 1) for r in retries), "backoff doubles, capped by jitter")
        self.assertEqual(summary.unsynced, 0)

    def test_knocks_are_recorded_while_a_sync_waits_on_a_silent_server(self):
        phone = Phone.open(self.path("phone.db"))
        phone.sign_in(self.server.url, self.token, None)
        turf = phone.turfs()[0]
        doors = phone.walk_list(turf.id)
        port = self.server.port
        self.server.stop()
        # Something that accepts connections and never answers: a server wedged, or a captive
        # portal swallowing requests.
        silent = socket.socket()
        silent.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        silent.bind(("127.0.0.1", port))
        silent.listen(8)
        phone.set_network(NetworkSettings(connect_timeout_ms=1000, request_timeout_ms=3000, retries=0, backoff_ms=10))
        events = Events()
        worker, outcome = sync_in_background(phone, events)
        self.assertTrue(events.sending.wait(timeout=30))
        time.sleep(0.2)  # the request is on its way to the silent server
        started = time.monotonic()
        knock(phone, turf.id, doors[0], 0)
        took = time.monotonic() - started
        worker.join(timeout=15)
        silent.close()
        self.assertLess(took, 1.0, "recording does not wait for the sync's network")
        self.assertIsInstance(outcome.get("error"), PhoneError.Network)
        self.assertEqual(phone.unsynced_count(), 1)


if __name__ == "__main__":
    unittest.main()
