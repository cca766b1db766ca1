"""The thread policy: the setting wins, then OMP_NUM_THREADS, then half the usable cores (affinity, cgroup quota);
the timed choice between counts."""
import os
import sys

import pytest

from rag.threads import chosen_threads, fastest, machine_signature, threads_per_model, usable_cores


def test_the_setting_wins(tmp_path):
    assert threads_per_model(3, env={"OMP_NUM_THREADS": "1"}) == 3


def test_omp_num_threads_is_respected_when_the_setting_is_zero():
    assert threads_per_model(0, env={"OMP_NUM_THREADS": "2"}) == 2
    assert threads_per_model(0, env={"OMP_NUM_THREADS": "lots"}) == threads_per_model(0, env={})


def test_a_cgroup_quota_bounds_the_cores(tmp_path):
    quota = tmp_path / "cpu.max"
    affinity = len(os.sched_getaffinity(0))
    quota.write_text("max 100000\n")
    assert usable_cores(quota) == affinity
    quota.write_text("150000 100000\n")  # 1.5 CPUs: two threads may run, not more
    assert usable_cores(quota) == min(affinity, 2)
    quota.write_text("50000 100000\n")
    assert usable_cores(quota) == 1 and threads_per_model(0, env={}, cpu_max=quota) == 1
    quota.write_text("garbage")
    assert usable_cores(quota) == affinity


def test_default_is_half_the_usable_cores_at_least_one(tmp_path):
    quota = tmp_path / "cpu.max"
    quota.write_text("800000 100000\n")
    assert threads_per_model(0, env={}, cpu_max=quota) == max(1, min(len(os.sched_getaffinity(0)), 8) // 2)


def test_a_model_that_takes_every_core_still_respects_the_quota(tmp_path):
    quota = tmp_path / "cpu.max"
    quota.write_text("100000 100000\n")
    assert threads_per_model(0, env={}, cpu_max=quota, share=1) == 1
    quota.write_text("max 100000\n")
    assert threads_per_model(0, env={}, cpu_max=quota, share=1) == len(os.sched_getaffinity(0))


def test_chosen_threads_is_zero_when_nobody_chose():
    assert chosen_threads(0, env={}) == 0 and chosen_threads(0, env={"OMP_NUM_THREADS": "0"}) == 0
    assert chosen_threads(0, env={"OMP_NUM_THREADS": "3"}) == 3 and chosen_threads(2, env={"OMP_NUM_THREADS": "3"}) == 2


def test_fastest_interleaves_and_keeps_each_candidates_best_round():
    order, times = [], iter([5.0, 1.0, 0.5, 2.0])  # 1 thread: 5.0 then 0.5; 2 threads: 1.0 then 2.0

    def seconds(threads):
        order.append(threads)
        return next(times)

    assert fastest([1, 2], seconds) == (1, {1: 0.5, 2: 1.0})
    assert order == [1, 2, 1, 2]


def test_fastest_gives_a_tie_to_fewer_threads():
    assert fastest([4, 1, 2], lambda threads: 1.0, rounds=1)[0] == 1


def test_machine_signature_names_the_usable_cores(tmp_path):
    quota = tmp_path / "cpu.max"
    quota.write_text("100000 100000\n")
    assert machine_signature(usable_cores(quota)).endswith(" x1")
    quota.write_text("max 100000\n")
    assert machine_signature(usable_cores(quota)).endswith(f" x{usable_cores(quota)}")


ARENA_PROBE = """
import ctypes, sys, threading
from rag.threads import one_malloc_arena
print(one_malloc_arena())
def allocate():
    kept = [bytearray(200_000) for _ in range(20)]  # malloc'd in this thread's arena
threads = [threading.Thread(target=allocate) for _ in range(6)]
[t.start() for t in threads]
[t.join() for t in threads]
sys.stdout.flush()
ctypes.CDLL(None).malloc_stats()  # one "Arena N:" block per arena, on stderr
"""


def _arenas(env: dict) -> tuple[str, int]:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", ARENA_PROBE], capture_output=True, text=True, env=env, check=True)
    return done.stdout.strip(), done.stderr.count("Arena ")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's arenas")
def test_threads_share_one_malloc_arena_unless_the_operator_set_a_number():
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    assert _arenas(env) == ("True", 1)
    said, arenas = _arenas({**env, "MALLOC_ARENA_MAX": "4"})
    assert said == "False" and 1 < arenas <= 4  # glibc's own reading of the variable, untouched
