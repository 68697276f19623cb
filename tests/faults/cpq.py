#!/usr/bin/env python3
"""cpq.py: what tests/faults/run asks berth-cp's database about tasks.

Reads the database through contrib/controlplane/store.py (the module
berth-cp's own commands use), and waits in one process, so that a wait
costs one interpreter start rather than one per poll.

    cpq.py DB final TASK [SECONDS]      the final state, once there is one
    cpq.py DB wait TASK REGEX SECONDS   until an event "state stage" matches
    cpq.py DB states TASK               the event states, in seq order
    cpq.py DB last TASK                 the newest event's message
    cpq.py DB check TASK                line 1: what is wrong with the
                                        task's events (empty: nothing);
                                        line 2: their seqs
Exit status 1 when a wait runs out.
"""

import json
import os
import re
import sys
import time

# Like berth-cp itself: no __pycache__ left in the source tree.
sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.environ.get("BERTH_SRC",
                                               os.path.join(HERE, "..", "..")),
                                "contrib", "controlplane"))
from store import Store  # noqa: E402

FINAL = ("succeeded", "failed", "rejected", "cancelled")


def events(store, task):
    return [json.loads(r["body"]) for r in store.events(task)]


def final(evs):
    for e in reversed(evs):
        if e["state"] in FINAL:
            return e["state"]
    return None


def check(evs):
    """One final event, and last; no event made twice (a stage that
    starts again with the same words is a step run again)."""
    why = []
    finals = [e for e in evs if e["state"] in FINAL]
    if len(finals) > 1:
        why.append("%d final events (%s)" % (
            len(finals), ",".join(e["state"] for e in finals)))
    elif finals and evs[-1]["state"] not in FINAL:
        why.append("a running event after the final one")
    seen = {}
    for e in evs:
        key = (e["state"], e.get("stage", ""), e.get("message", ""))
        seen[key] = seen.get(key, 0) + 1
    twice = ["%s %s" % (k[1] or k[0], k[2][:40]) for k, n in seen.items()
             if n > 1]
    if twice:
        why.append("reported twice: " + "; ".join(twice))
    return "; ".join(why)


def main():
    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    db, cmd, task = sys.argv[1:4]
    store = Store(db)
    if cmd == "final":
        end = time.time() + (float(sys.argv[4]) if len(sys.argv) > 4 else 0)
        while True:
            state = final(events(store, task))
            if state or time.time() >= end:
                break
            time.sleep(0.2)
        print(state or "")
        return 0 if state else 1
    if cmd == "wait":
        regex = re.compile(sys.argv[4])
        end = time.time() + float(sys.argv[5])
        while True:
            for e in events(store, task):
                if regex.search("%s %s" % (e["state"], e.get("stage", ""))):
                    return 0
            if time.time() >= end:
                return 1
            time.sleep(0.2)
    evs = events(store, task)
    if cmd == "states":
        print(" ".join(e["state"] for e in evs))
    elif cmd == "last":
        print(evs[-1].get("message", "") if evs else "")
    elif cmd == "check":
        print(check(evs))
        print(",".join(str(e["seq"]) for e in evs))
    else:
        raise SystemExit(__doc__)
    return 0


if __name__ == "__main__":
    sys.exit(main())
