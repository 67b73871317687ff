"""The server `tenor eval` starts is stopped with it, even when the eval is killed."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from tests.waiting import wait_for

# A stand-in for `tenor serve` (the code under test is the process handling around it): it
# answers /ready and records its pid.
FAKE_SERVER = textwrap.dedent("""
    import http.server, os, sys
    open(sys.argv[2], "w").write(str(os.getpid()))
    class Ready(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200); self.end_headers()
        def log_message(self, *args):
            pass
    http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Ready).serve_forever()
""")

EVAL = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from evaluation.server import started_server
    fake, pid_file, log = sys.argv[1:4]
    with started_server(Path(log), timeout_s=60, command=lambda port: [sys.executable, fake, str(port), pid_file]):
        print("ready", flush=True)
        time.sleep(120)
""")


def alive(pid: int) -> bool:
    """Running: not gone, and not a zombie waiting for a container's init to reap it."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("stop, code", [(signal.SIGTERM, 128 + signal.SIGTERM), (signal.SIGKILL, -signal.SIGKILL)])
def test_a_killed_eval_stops_the_server_it_started(tmp_path, stop, code):
    fake, script, pid_file = tmp_path / "fake.py", tmp_path / "eval.py", tmp_path / "server.pid"
    fake.write_text(FAKE_SERVER)
    script.write_text(EVAL)
    cwd = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    evaluation = subprocess.Popen([sys.executable, str(script), str(fake), str(pid_file), str(tmp_path / "log")],
                                  stdout=subprocess.PIPE, text=True, cwd=cwd,
                                  env={**os.environ, "PYTHONPATH": cwd})
    try:
        assert evaluation.stdout.readline().strip() == "ready"
        server = int(pid_file.read_text())
        assert alive(server)
        evaluation.send_signal(stop)  # SIGKILL: no handler runs, the kernel stops the server
        assert evaluation.wait(timeout=90) == code
        wait_for(lambda: not alive(server), timeout=30, what="the server to stop with the eval")
    finally:
        evaluation.kill()
        if pid_file.exists() and alive(int(pid_file.read_text())):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
