"""The worker's garbage-collector policy (worker/gc_policy.py), checked in a process of its own so
the test process's collector is left as it was."""

from __future__ import annotations

import subprocess
import sys

from worker.gc_policy import YOUNG_THRESHOLD

PROBE = """
import gc
from worker.gc_policy import settle_heap

class Node:
    pass

def cyclic_garbage():
    node = Node()
    node.self = node  # freed only by the collector

default_young, middle, old = gc.get_threshold()
frozen = gc.get_freeze_count()
settle_heap()
print(gc.get_threshold() == ({young}, middle, old), gc.get_freeze_count() > frozen)

# A step's new objects (the messages it adds, its request and reply): no young pass runs while
# they are built, though CPython's default threshold would run several.
gc.collect()
collections = gc.get_stats()[0]["collections"]
step = [{{"role": "user", "content": [{{"text": str(i)}}]}} for i in range({young} // 4)]
print(gc.get_stats()[0]["collections"] == collections and len(step) * 3 > default_young)

# Cyclic garbage is still collected, once enough new objects have come.
gc.collect()
before = gc.get_stats()[0]["collected"]
for _ in range(2 * {young}):
    cyclic_garbage()
print(gc.get_stats()[0]["collected"] > before)
"""


def test_the_worker_collects_young_objects_rarely_and_freezes_what_it_built() -> None:
    probe = PROBE.format(young=YOUNG_THRESHOLD)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True", "True", "True"]
