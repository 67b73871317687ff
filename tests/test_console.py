"""Progress where stderr is not a terminal (a log file, CI): plain lines, not a bar drawn at the end."""

import io

from rich.console import Console

import tenor.console as console


def test_progress_to_a_log_file_says_how_far_it_is_while_it_runs(monkeypatch):
    log = io.StringIO()
    monkeypatch.setattr(console, "err", Console(file=log, force_terminal=False, soft_wrap=True))
    clock = iter([0.0, 4.0, 12.0, 13.0, 30.0, 45.0])  # start, then one reading per advance
    monkeypatch.setattr(console, "_now", lambda: next(clock))
    seen = []
    with console.progress("training", 4) as advance:
        advance(note="loss 2.1")
        seen.append(log.getvalue())  # 4 s in: too soon for a line
        advance(note="loss 1.8")
        seen.append(log.getvalue())  # 12 s in: a line, while it runs
        advance()
        advance(note="loss 1.2")
        advance(0, note="eval loss 1.1")  # an eval after the last step: no second 4/4 line
    assert seen[0] == ""
    assert seen[1] == "training: 2/4 (12s, about 12s left) loss 1.8\n"
    assert log.getvalue().splitlines()[-1] == "training: 4/4 (30s) loss 1.2"  # and at the end, once
    assert len(log.getvalue().splitlines()) == 2


def test_progress_without_a_total_ends_with_the_count(monkeypatch):
    log = io.StringIO()
    monkeypatch.setattr(console, "err", Console(file=log, force_terminal=False, soft_wrap=True))
    clock = iter([0.0, 1.0, 2.0, 3.0])
    monkeypatch.setattr(console, "_now", lambda: next(clock))
    with console.progress("indexing", None) as advance:
        advance()
        advance()
    assert log.getvalue() == "indexing: 2 (3s)\n"
