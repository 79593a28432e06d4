"""Runs a real `doorstep serve` for the demo's scenario mode and for the bindings' tests."""

import os
import re
import signal
import socket
import subprocess
import threading

TOKEN_LINE = re.compile(r"^\s+(\S+)\s+(canvasser|captain|admin)\s+(dst_[0-9a-f]+)")


def server_binary():
    """The `doorstep` binary: $DOORSTEP_BIN, else target/debug/doorstep beside this checkout."""
    path = os.environ.get("DOORSTEP_BIN") or os.path.join(
        os.path.dirname(__file__), "..", "target", "debug", "doorstep"
    )
    if not os.path.exists(path):
        raise SystemExit(
            f"{path} is missing: build it with `cargo build -p doorstep-server --bin doorstep`"
        )
    return path


class LocalServer:
    """`doorstep serve` on a loopback port. `tokens` maps user id to (role, token) when the
    database was seeded with --demo by this start."""

    def __init__(self, db, demo=False, port=0):
        args = [server_binary(), "serve", "--db", db, "--addr", f"127.0.0.1:{port}"]
        if demo:
            args.append("--demo")
        env = dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "warn,automerge=off"))
        self.process = subprocess.Popen(
            args, stdout=subprocess.PIPE, text=True, env=env
        )
        self.db = db
        self.tokens = {}
        self.url = None
        for line in self.process.stdout:
            match = TOKEN_LINE.match(line)
            if match:
                self.tokens[match.group(1)] = (match.group(2), match.group(3))
            if " on http://" in line:
                self.url = line.split(" on ", 1)[1].strip()
                break
        if self.url is None:
            self.process.wait()
            raise RuntimeError(f"doorstep serve exited ({self.process.returncode}) before listening")
        self.port = int(self.url.rsplit(":", 1)[1])
        # Keep reading its output so the server never blocks on a full pipe.
        self.drain = threading.Thread(target=self.process.stdout.read, daemon=True)
        self.drain.start()

    def token(self, role="canvasser"):
        """The first demo user's token with this role."""
        return next(t for _, (r, t) in sorted(self.tokens.items()) if r == role)

    def stop(self):
        """Stops the server (SIGTERM) and waits for it."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)
        self.drain.join(timeout=5)
        self.process.stdout.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def closed_port():
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
