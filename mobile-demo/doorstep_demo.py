"""Doorstep's demo phone app: a terminal app on the generated Python bindings.

Interactive: sign in with a token printed by `doorstep serve --demo`, pick a turf, walk the doors
in order, read each voter's script, record outcomes and survey answers, switch airplane mode on
and off, sync, export or import a bundle. A field captain also sees the team's progress with no
server, syncs phone to phone (one listens, the other connects) and hands turfs around.

    cargo run -p xtask -- demo                 # interactive
    cargo run -p xtask -- demo --scenario      # a shift played by itself, signal dropping in and out

Everything goes through the `Phone` object of the bindings: this file only draws screens.
"""

import argparse
import datetime
import os
import random
import sqlite3
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get("DOORSTEP_BINDINGS", os.path.join(HERE, "..", "target", "bindings", "debug", "python")))
sys.path.insert(0, HERE)

try:
    import doorstep
    from doorstep import AnswerValue, AttemptInput, NetworkSettings, Phone, PhoneError, SurveyAnswer
except ImportError:
    raise SystemExit("the Python bindings are missing: run `cargo run -p xtask -- bindings` (or `cargo run -p xtask -- demo`)")


class App:
    """The phone: its store, and whether airplane mode is on."""

    def __init__(self, store, out=print):
        self.phone = Phone.open(store)
        self.airplane = False
        self.out = out

    def unsynced(self):
        n = self.phone.unsynced_count()
        return f"{n} result{'s' if n != 1 else ''} not yet synced" if n else "everything synced"

    def sync(self):
        """Syncs unless airplane mode is on; says what happened. Returns whether it synced."""
        if self.airplane:
            self.out(f"  airplane mode is on: {self.unsynced()}, kept on this phone")
            return False
        try:
            summary = self.phone.sync_now(None)
        except PhoneError.Network as e:
            self.out(f"  no connection: {e.detail} ({self.unsynced()})")
            return False
        except PhoneError as e:
            self.out(f"  sync failed: {e.detail} ({self.unsynced()})")
            return False
        held = f", {len(summary.held_back)} turf(s) held back" if summary.held_back else ""
        self.out(f"  synced: {summary.docs_changed} list(s) updated, {self.unsynced()}{held}")
        return True

    def record(self, turf, door, voter=None, outcome="not_home", answers=(), note=None):
        """Records an outcome for a voter, or for the door when no voter is given."""
        return self.phone.record_attempt(
            AttemptInput(
                turf=turf,
                outcome=outcome,
                voter=voter.id if voter else None,
                household=None if voter else door.id,
                answers=list(answers),
                note=note,
            )
        )


def address(door):
    unit = f" {door.unit}" if door.unit else ""
    return f"{door.street}{unit}, {door.city}"


# ------------------------------------------------------------------------------- interactive


def ask(prompt, default=None):
    try:
        answer = input(f"{prompt}{f' [{default}]' if default else ''}: ").strip()
    except EOFError:
        raise SystemExit(0)
    return answer or (default or "")


def choose(prompt, options):
    """Numbered options; returns the index picked, or None for back."""
    for i, option in enumerate(options, 1):
        print(f"  {i}. {option}")
    while True:
        pick = ask(f"{prompt} (number, or Enter to go back)")
        if not pick:
            return None
        if pick.isdigit() and 1 <= int(pick) <= len(options):
            return int(pick) - 1
        print("  pick one of the numbers above")


def sign_in(app):
    print("Sign in with a token printed by `doorstep serve --demo`.")
    while app.phone.server() is None:
        server = ask("server", "http://127.0.0.1:8080")
        token = ask("token")
        try:
            summary = app.phone.sign_in(server, token, None)
            print(f"  signed in as {summary.user} ({summary.role}); {len(app.phone.turfs())} turf(s) downloaded")
        except PhoneError as e:
            print(f"  {e.detail}")


def survey(app, turf, voter):
    script = app.phone.script(turf, voter.id)
    if script:
        print(f"\n  Script '{script.name}':\n  {script.body}\n")
    answers = []
    questions = {q.id: q for q in script.questions} if script else {}
    order = [q.id for q in script.questions] if script else []
    asked = set()
    while script:
        # The script's branches pick the next question from the answers so far; one the voter
        # skipped stays "next", so the walk moves past it in order.
        next_id = app.phone.next_question(turf, voter.id, answers)
        while next_id in asked:
            i = order.index(next_id) + 1
            next_id = order[i] if i < len(order) else None
        if next_id is None:
            break
        asked.add(next_id)
        q = questions[next_id]
        kind = q.kind
        while True:
            raw = ask(f"  {q.prompt}" + (" (1-5)" if isinstance(kind, doorstep.QuestionType.SUPPORT) else ""))
            if not raw:
                break
            if isinstance(kind, doorstep.QuestionType.SUPPORT) and raw.isdigit():
                answers.append(SurveyAnswer(question=q.id, value=AnswerValue.SUPPORT(level=int(raw))))
                break
            if isinstance(kind, doorstep.QuestionType.YES_NO) and raw.lower() in ("y", "n", "yes", "no"):
                answers.append(SurveyAnswer(question=q.id, value=AnswerValue.YES_NO(yes=raw.lower().startswith("y"))))
                break
            if isinstance(kind, doorstep.QuestionType.CHOICE):
                answers.append(SurveyAnswer(question=q.id, value=AnswerValue.CHOICE(picked=[raw])))
                break
            if isinstance(kind, doorstep.QuestionType.TEXT):
                answers.append(SurveyAnswer(question=q.id, value=AnswerValue.TEXT(text=raw)))
                break
            print("  that answer does not fit the question; Enter skips it")
    return answers


def walk(app, turf):
    outcomes = app.phone.outcomes(turf.id)
    position = 0
    while True:
        doors = app.phone.walk_list(turf.id)
        if not doors:
            print("  this list is empty")
            return
        position = min(position, len(doors) - 1)
        door = doors[position]
        print(f"\nDoor {position + 1} of {len(doors)}: {address(door)}  [{door.status or 'not knocked'}]")
        if door.note:
            print(f"  note: {door.note}")
        for i, v in enumerate(door.voters, 1):
            age = f", {v.age}" if v.age else ""
            print(f"  {i}. {v.first_name} {v.last_name}{age} {v.party or ''}  [{v.status or '-'}]")
        print(f"  ({app.unsynced()}{', airplane mode' if app.airplane else ''})")
        cmd = ask("number = talk to that voter, d = door outcome, o = note, n/p = next/previous, b = back")
        if cmd == "n":
            position += 1
        elif cmd == "p":
            position = max(0, position - 1)
        elif cmd == "b" or cmd == "":
            return
        elif cmd == "o":
            try:
                app.phone.set_household_note(turf.id, door.id, ask("note (empty clears it)"))
            except PhoneError as e:
                print(f"  not saved: {e.detail}")
        elif cmd == "d":
            door_outcomes = [o for o in outcomes if o.target in ("household", "either")]
            pick = choose("outcome", [o.label for o in door_outcomes])
            if pick is not None:
                try:
                    app.record(turf.id, door, outcome=door_outcomes[pick].code)
                    print(f"  recorded {door_outcomes[pick].label}; {app.unsynced()}")
                    position += 1
                except PhoneError as e:
                    print(f"  not recorded: {e.detail}")
        elif cmd.isdigit() and 1 <= int(cmd) <= len(door.voters):
            voter = door.voters[int(cmd) - 1]
            answers = survey(app, turf.id, voter)
            voter_outcomes = [o for o in outcomes if o.target in ("voter", "either")]
            pick = choose("outcome", [o.label for o in voter_outcomes])
            if pick is None:
                continue
            note = ask("note (optional)") or None
            try:
                app.record(turf.id, door, voter, voter_outcomes[pick].code, answers, note)
                print(f"  recorded {voter_outcomes[pick].label}; {app.unsynced()}")
            except PhoneError.InvalidInput as e:
                print(f"  not recorded: {e.detail}")


def when(ms):
    return "-" if ms is None else datetime.datetime.fromtimestamp(ms / 1000).strftime("%H:%M")


def team_view(app):
    """The captain's screen: the team's progress from what this phone holds, no server needed."""
    progress = app.phone.team_progress()
    team = progress.team
    print(f"\n  team {team.name if team else '(none on this phone yet)'}")
    print(f"  {'canvasser':<24}{'doors':>6}{'contacts':>9}{'support 1-5':>16}  last result  turfs")
    for m in progress.members:
        support = "/".join(str(next((c.count for c in m.support if c.level == lvl), 0)) for lvl in range(1, 6))
        print(f"  {m.name[:23]:<24}{m.doors_knocked:>6}{m.contacts:>9}{support:>16}  {when(m.last_result_at):>11}  "
              f"{', '.join(m.turfs) or '-'}")
    print(f"\n  {'turf':<28}{'knocked':>12}{'contacts':>9}  held by")
    names = {m.user: m.name for m in progress.members}
    for t in progress.turfs:
        knocked = f"{t.doors_knocked}/{t.doors}" if t.doors else f"{t.attempts} att."
        holders = ", ".join(names.get(h, h) for h in t.holders) or "nobody"
        print(f"  {t.name[:27]:<28}{knocked:>12}{t.contacts:>9}  {holders}")
    return progress


def local_sync(app, listen):
    """Phone to phone: one phone listens, the other connects to the address it shows."""
    try:
        if listen:
            listener = app.phone.listen_local(ask("listen on", "0.0.0.0:0"))
            print(f"  waiting on port {listener.port()}, pairing code {listener.code()}: on the other phone "
                  f"choose c, enter this phone's address and port, then the code")
            result = listener.accept(120)
        else:
            result = app.phone.sync_local(ask("other phone's address", "127.0.0.1:7000"), ask("pairing code"))
    except PhoneError as e:
        print(f"  local sync failed: {e.detail}")
        return
    who = result.peer_user or result.peer_device[:8]
    print(f"  synced with {who}: {result.records_added} new result(s), {result.rosters_applied} new turf(s), "
          f"{result.bytes_sent + result.bytes_received} bytes")
    for refusal in result.refused:
        print(f"  left out: {refusal}")


def reassign(app):
    progress = team_view(app)
    if not progress.team:
        return
    turfs = progress.turfs
    pick = choose("turf to hand over", [t.name for t in turfs])
    if pick is None:
        return
    members = [m for m in progress.members if m.role]
    to = choose("to", [m.name for m in members])
    if to is None:
        return
    try:
        app.phone.reassign_turf(turfs[pick].turf, [members[to].user])
        print(f"  {turfs[pick].name} now goes to {members[to].name}; phones learn it at their next sync")
    except PhoneError as e:
        print(f"  not reassigned: {e.detail}")


def interactive(app):
    sign_in(app)
    while True:
        turfs = app.phone.turfs()
        print(f"\n{app.phone.signed_in_as()} | {app.unsynced()} | airplane mode {'ON' if app.airplane else 'off'}")
        for i, t in enumerate(turfs, 1):
            print(f"  {i}. {t.name}: {t.doors_knocked}/{t.doors} doors knocked, {t.contacts} contacts")
        cmd = ask("number = walk that turf, s = sync, a = airplane mode, e = export bundle, i = import bundle, "
                  "t = team, l = listen for a phone, c = connect to a phone, r = reassign a turf, q = quit")
        if cmd == "q":
            return
        if cmd == "s":
            app.sync()
        elif cmd == "a":
            app.airplane = not app.airplane
        elif cmd == "e":
            path = ask("bundle file", "shift.bundle")
            try:
                print(f"  wrote {app.phone.export_bundle(path)} bytes to {path}: hand it to your field captain")
            except PhoneError as e:
                print(f"  not exported: {e.detail}")
        elif cmd == "i":
            try:
                result = app.phone.import_bundle(ask("bundle file", "shift.bundle"))
                print(f"  imported: {result.records_added} new result(s), {result.docs_changed} list(s) updated, "
                      f"{result.rosters_applied} new turf(s)")
                for refusal in result.refused:
                    print(f"  left out: {refusal}")
            except PhoneError as e:
                print(f"  {e.detail}")
        elif cmd == "t":
            team_view(app)
        elif cmd in ("l", "c"):
            local_sync(app, listen=cmd == "l")
        elif cmd == "r":
            reassign(app)
        elif cmd.isdigit() and 1 <= int(cmd) <= len(turfs):
            walk(app, turfs[int(cmd) - 1])


# ------------------------------------------------------------------------------- scenario


def scenario(args):
    """A canvasser's shift with the signal coming and going, a server outage, and a bundle
    handed to the captain. Prints what happens; exits non-zero if the server does not end up
    holding every attempt exactly once."""
    from localserver import LocalServer

    rng = random.Random(args.seed)
    work = tempfile.mkdtemp(prefix="doorstep-demo-")
    server_db = os.path.join(work, "server.db")
    server = LocalServer(server_db, demo=True)
    tokens = dict(server.tokens)
    print(f"server: {server.url} (database {server_db})")
    app = App(os.path.join(work, "canvasser.db"))
    app.phone.set_network(NetworkSettings(connect_timeout_ms=1000, request_timeout_ms=5000, retries=1, backoff_ms=100))
    summary = app.phone.sign_in(server.url, server.token("canvasser"), None)
    turfs = app.phone.turfs()
    print(f"signed in as {summary.user}: {len(turfs)} turfs downloaded")
    # The captain's phone signs in at the morning briefing and is offline all day after.
    captain = App(os.path.join(work, "captain.db"))
    captain.phone.sign_in(server.url, tokens["captain-1"][1], None)
    turf = turfs[0]
    doors = app.phone.walk_list(turf.id)[: args.doors]
    print(f"walking '{turf.name}': {len(doors)} doors\n")

    # Signal by door: bars come and go; in the middle the server itself goes down for a while.
    outage = range(len(doors) // 2, len(doors) // 2 + 3)
    recorded = []
    for n, door in enumerate(doors):
        app.airplane = rng.random() < 0.45
        voter = door.voters[0] if door.voters and rng.random() < 0.7 else None
        if voter:
            script = app.phone.script(turf.id, voter.id)
            support = rng.randint(1, 5)
            answer = SurveyAnswer(question="support", value=AnswerValue.SUPPORT(level=support))
            recorded.append(app.record(turf.id, door, voter, outcome="talked", answers=[answer]))
            print(f"door {n + 1:2}: talked to voter {voter.id} (script '{script.name if script else '-'}'), support {support}")
        else:
            recorded.append(app.record(turf.id, door, outcome="not_home"))
            print(f"door {n + 1:2}: not home")
        if n == outage.start:
            print("        -- the server goes down --")
            server.stop()
        if n == outage.stop:
            server = LocalServer(server_db, port=server.port)
            print("        -- the server is back --")
        print(f"        signal: {'none' if app.airplane else 'yes'}")
        app.sync()

    print("\nend of shift at the staging location, no signal: the captain collects results")
    listener = captain.phone.listen_local("127.0.0.1:0")
    collected = {}
    waiter = threading.Thread(target=lambda: collected.update(summary=listener.accept(30)), daemon=True)
    waiter.start()
    direct = app.phone.sync_local(f"127.0.0.1:{listener.port()}", listener.code())
    waiter.join(timeout=60)
    print(f"  phone to phone, paired with code {listener.code()}: {direct.bytes_sent + direct.bytes_received} bytes, "
          f"the captain's phone took "
          f"{collected['summary'].records_added} result(s)")
    bundle = os.path.join(work, "shift.bundle")
    size = app.phone.export_bundle_for(collected["summary"].peer_device, bundle)
    imported = captain.phone.import_bundle(bundle)
    print(f"  and a bundle for it: {size} bytes, {imported.records_added} result(s) it lacked")
    print("  the captain's view:")
    team_view(captain)

    print("\nback in signal:")
    app.airplane = False
    app.sync()
    with sqlite3.connect(server_db) as conn:
        held = dict(conn.execute("SELECT attempt_id, count(*) FROM results GROUP BY attempt_id"))
    server.stop()
    once = sum(1 for a in recorded if held.get(a) == 1)
    print(f"\nthe server holds {once} of {len(recorded)} attempts recorded on this shift, each exactly once; "
          f"{app.unsynced()}")
    return 0 if once == len(recorded) and app.phone.unsynced_count() == 0 else 1


def main():
    parser = argparse.ArgumentParser(description="Doorstep's demo phone app (terminal)")
    parser.add_argument("--store", default="demo-phone.db", help="the phone's database file")
    parser.add_argument("--scenario", action="store_true", help="play a shift by itself and print what happened")
    parser.add_argument("--doors", type=int, default=16, help="doors in the scenario's shift")
    parser.add_argument("--seed", type=int, default=7, help="the scenario's random seed")
    args = parser.parse_args()
    if args.scenario:
        sys.exit(scenario(args))
    try:
        interactive(App(args.store))
    except KeyboardInterrupt:
        print()


if __name__ == "__main__":
    main()
