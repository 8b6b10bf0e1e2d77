"""A minimal stage for runner tests: writes three `fields` rows per record, one per result.

Behaviour is chosen by the record's source file name: 'raise' raises in work, 'hang' sleeps
past any timeout, 'slow' takes 1.5 s per result, 'die' kills its worker process, 'cutoff' kills
it while it is sending a large result, 'unpicklable' yields a result that cannot cross processes,
'savefail' makes save raise.
"""
import os
import threading
import time


class ToyStage:
    name = "read"

    def __init__(self, db_path=None, **options):
        self.options = options

    def prepare(self, db, record):
        done = [r[0] for r in db.execute("SELECT seq FROM fields WHERE record_id = ? AND name = 'toy'", (record["id"],))]
        return {"id": record["id"], "name": os.path.basename(record["source_path"]), "done": done}

    def work(self, task, ctx):
        ctx["calls"] = ctx.get("calls", 0) + 1
        for seq in range(3):
            if seq in task["done"]:
                continue
            if "raise" in task["name"] and seq == 1:
                raise ValueError("page 2 is unreadable")
            if "hang" in task["name"]:
                time.sleep(3600)
            if "slow" in task["name"]:
                time.sleep(1.5)
            if "die" in task["name"] and seq == 1:
                os._exit(3)
            if "cutoff" in task["name"]:  # a steady stream, so the kill lands mid-send
                threading.Timer(0.1, os._exit, (3,)).start()
                blob = b"x" * (8 << 20)
                while True:
                    yield {"seq": seq, "pid": os.getpid(), "blob": blob}
            if "unpicklable" in task["name"]:
                yield {"seq": seq, "pid": os.getpid(), "callback": lambda: None}
            yield {"seq": seq, "pid": os.getpid()}

    def save(self, db, record, result):
        if "savefail" in record["source_path"]:
            raise RuntimeError("cannot save")
        db.execute(
            "INSERT OR IGNORE INTO fields (record_id, name, seq, value) VALUES (?, 'toy', ?, ?)",
            (record["id"], result["seq"], str(result["pid"])),
        )

    def finish(self, db, record):
        db.execute("INSERT OR IGNORE INTO fields (record_id, name, seq, value) VALUES (?, 'toy-finished', 0, 'yes')",
                   (record["id"],))
