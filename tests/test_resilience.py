"""Kill -9 and crash behaviour of the batch runner."""
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _workers(pid):
    """Pool worker processes (not the resource tracker) whose parent is ``pid``."""
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            try:
                cmd = (stat.parent / "cmdline").read_bytes()
            except OSError:
                continue
            if b"spawn_main" in cmd:
                kids.append(int(stat.parent.name))
    return kids


def _alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_workers_exit_when_the_runner_is_killed(tmp_path):
    script = tmp_path / "drive.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path[:0] = [{str(REPO / 'tests')!r}, {str(REPO)!r}]
        from pipeline import store
        from pipeline.run import run_stage
        from toy_stages import ToyStage
        if __name__ == "__main__":  # spawned workers re-import this script
          db = store.connect({str(tmp_path / 'a.db')!r})
          with store.transaction(db):
            for i in range(2):
                store.insert_one(db, "records", {{"sha256": f"s{{i}}", "source_path": f"/x/hang{{i}}.pdf",
                                 "kind": "pdf", "created_at": "t", "updated_at": "t"}})
          run_stage(db, ToyStage, workers=2, timeout=3600)
    """))
    proc = subprocess.Popen([sys.executable, str(script)])
    try:
        deadline = time.monotonic() + 60
        while len(_workers(proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        workers = _workers(proc.pid)
        assert len(workers) == 2, "workers did not start"
        time.sleep(3)  # let them pick up their (hanging) records
        assert all(_alive(w) for w in workers)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 20
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        # both workers were stuck inside a hanging record: they must still be gone
        assert not any(_alive(w) for w in workers)
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.slow
def test_kill_9_at_random_points_then_rerun_gives_the_uninterrupted_result(tmp_path):
    """Kill the whole `medreview run` several times at random moments, re-run to the end, and
    compare every table (by natural keys) with a run that was never interrupted."""
    import random

    from pipeline import ingest, store, synth
    from snapshot import snapshot

    batch = tmp_path / "batch"
    synth.generate(batch, records=4, hospitals=1, seed=11, forms=("text",), workers=1)
    cmd = [sys.executable, "-m", "cli", "run", "--workers", "2", "--db"]

    def fresh(name):
        path = tmp_path / name
        ingest.ingest(store.connect(path), batch / "text")
        return path

    clean = fresh("clean.db")
    started = time.monotonic()
    assert subprocess.run([*cmd, str(clean)], cwd=REPO, capture_output=True).returncode == 0
    duration = time.monotonic() - started  # kill moments are drawn within this machine's run time
    expected = snapshot(store.connect(clean))
    assert expected["flags"] or expected["entities"]  # the comparison covers real output

    killed = fresh("killed.db")
    rng = random.Random(20241123)
    kills = 0
    for _ in range(4):
        proc = subprocess.Popen([*cmd, str(killed)], cwd=REPO, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(rng.uniform(0.1, 0.6) * duration)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the runner and its workers, like a power cut
            kills += 1
        proc.wait(timeout=30)
    assert kills >= 2, "runs finished before they could be killed; the test proves nothing"
    final = subprocess.run([*cmd, str(killed)], cwd=REPO, capture_output=True, text=True)
    assert final.returncode == 0, final.stdout + final.stderr
    got = snapshot(store.connect(killed))
    for table in expected:
        assert got[table] == expected[table], f"{table} differs after kill -9 and re-run"
