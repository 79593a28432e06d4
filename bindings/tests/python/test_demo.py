"""The demo phone app (mobile-demo/) driven through its terminal, as a person would."""

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
DEMO = os.path.join(HERE, "..", "..", "..", "mobile-demo")
sys.path.insert(0, DEMO)

from localserver import LocalServer  # noqa: E402


class DemoTest(unittest.TestCase):
    def test_scenario_plays_a_shift_and_loses_nothing(self):
        run = subprocess.run(
            [sys.executable, os.path.join(DEMO, "doorstep_demo.py"), "--scenario", "--doors", "12"],
            capture_output=True, text=True, timeout=300,
        )
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.assertIn("airplane mode is on", run.stdout)
        self.assertIn("no connection", run.stdout, "the outage is met with signal")
        self.assertIn("the server holds 12 of 12 attempts", run.stdout)
        self.assertIn("the captain's phone took 12 result(s)", run.stdout, "collected phone to phone")
        self.assertIn("the captain's view:", run.stdout)

    def test_interactive_sign_in_walk_record_airplane_sync_export(self):
        with tempfile.TemporaryDirectory() as work, LocalServer(os.path.join(work, "server.db"), demo=True) as server:
            keys = "\n".join([
                server.url, server.token("canvasser"),  # sign in
                "1", "d", "1",  # walk the first turf: a door outcome on the first door
                "1", "3", "", "4", "",  # the next door's first voter: support 3, skip, Talked, no note
                "b",
                "a", "s",  # airplane mode on, sync: kept
                "a", "s",  # airplane mode off, sync
                "e", os.path.join(work, "shift.bundle"),
                "q",
            ]) + "\n"
            run = subprocess.run(
                [sys.executable, os.path.join(DEMO, "doorstep_demo.py"), "--store", os.path.join(work, "phone.db")],
                input=keys, capture_output=True, text=True, timeout=120,
            )
            with sqlite3.connect(server.db) as conn:
                results = conn.execute("SELECT outcome, answers FROM results ORDER BY outcome").fetchall()
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        out = run.stdout
        self.assertIn("signed in as", out)
        self.assertIn("Door 1 of", out)
        self.assertIn("recorded Not home; 1 result not yet synced", out)
        self.assertIn("Script '", out)
        self.assertIn("recorded Talked; 2 results not yet synced", out)
        self.assertIn("airplane mode is on: 2 results not yet synced, kept on this phone", out)
        self.assertIn("synced: ", out)
        self.assertIn("everything synced", out)
        self.assertIn("bytes to", out)
        self.assertEqual([r[0] for r in results], ["not_home", "talked"], out)
        self.assertIn('"support"', results[1][1])
        self.assertEqual(json.loads(results[1][1])["support"], {"Support": 3})


if __name__ == "__main__":
    unittest.main()
