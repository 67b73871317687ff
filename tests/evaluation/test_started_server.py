"""The server `tenor eval` starts is stopped with it, even when the eval is killed."""

import os
import signal
import subprocess
import sys
import textwrap

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
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_killed_eval_stops_the_server_it_started(tmp_path):
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
        evaluation.send_signal(signal.SIGTERM)
        assert evaluation.wait(timeout=90) == 128 + signal.SIGTERM
        wait_for(lambda: not alive(server), timeout=30, what="the server to stop with the eval")
    finally:
        evaluation.kill()
        if pid_file.exists() and alive(int(pid_file.read_text())):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
