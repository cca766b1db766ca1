"""How many threads each running model gets: one setting for embedding and generation.

On a small machine the embedder and the generator can run at once (a server answering
while another request embeds, or a user's other work), and each math library spinning
one thread per core then fights the other for the same cores: measured on 2 cores,
fp32 generation at 2 threads burned 110-164 CPU-seconds per answer where 1 thread
needed ~18, and a tiny torch training step ran 200x slower at 2 threads than at 1
while other work kept the load near 8. So a torch model gets half the usable cores,
at least one, and "usable" honours what the operator already said: `OMP_NUM_THREADS`, the
process's CPU affinity and a cgroup CPU quota (`/sys/fs/cgroup/cpu.max`, as containers set it).

CTranslate2's int8 generator is different: which count wins depends on the machine. On
2-core machines one measured 2 threads faster (22 tokens/s against 11, load near 8), another
1 thread faster (24.5 against 15.2, quiet and at load 2). So its count is timed once per
machine (`fastest`) and remembered beside the converted model.
"""
from __future__ import annotations

import ctypes
import math
import os
import platform
import sys
from pathlib import Path
from typing import Callable, Mapping, Sequence

CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")
M_ARENA_MAX = -8  # glibc's mallopt parameter for the number of malloc arenas


def usable_cores(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """Cores this process may use: affinity, then a cgroup v2 quota ("max 100000" means none)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = cpu_max.read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass  # no cgroup v2 file, or one in a shape we do not know: affinity is the bound
    return max(1, cores)


def chosen_threads(requested: int = 0, env: Mapping[str, str] | None = None) -> int:
    """What the operator chose: `requested` when positive (the `threads` setting), else
    `OMP_NUM_THREADS` when it is a positive number; 0 when neither says."""
    if requested > 0:
        return requested
    env = os.environ if env is None else env
    omp = env.get("OMP_NUM_THREADS", "").strip()
    return int(omp) if omp.isdigit() and int(omp) > 0 else 0


def threads_per_model(requested: int = 0, env: Mapping[str, str] | None = None,
                      cpu_max: Path = CGROUP_CPU_MAX, share: int = 2) -> int:
    """The operator's choice (`chosen_threads`), else the usable cores divided by `share`, at least one."""
    return chosen_threads(requested, env) or max(1, usable_cores(cpu_max) // max(1, share))


def machine_signature(cores: int) -> str:
    """What a thread measurement holds for: the processor and the cores it was timed with (`usable_cores`).
    A cache copied to another machine, or a container given another quota, measures again."""
    processor = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                processor = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass  # not Linux: platform's answer stands
    return f"{processor} x{cores}"


def fastest(candidates: Sequence[int], seconds: Callable[[int], float],
            rounds: int = 2) -> tuple[int, dict[int, float]]:
    """The candidate thread count whose best time is lowest, timing them interleaved (A B A B) so a
    machine whose load drifts moves each alike; ties go to the fewer threads (they leave a core free)."""
    best: dict[int, float] = {}
    for _ in range(rounds):
        for threads in candidates:
            best[threads] = min(best.get(threads, float("inf")), seconds(threads))
    return min(sorted(best), key=lambda threads: best[threads]), best


def one_malloc_arena() -> bool:
    """Let every thread of this process allocate from one glibc malloc arena; True when set here.

    glibc gives threads arenas of their own (up to 8 per core) and keeps what they free, and every answer
    generates on a fresh thread: measured on the bundled index, RSS grew from 582 to 714 MB over nine answers
    (peak 753), with one arena it stayed at 496 (peak 657), no slower (1.24-1.27 s a warm answer against
    1.04-1.41). `MALLOC_ARENA_MAX` in the environment is the operator's choice and wins. Outside glibc
    (no `mallopt`) nothing changes. Called by the processes this project starts (the CLI, server replicas),
    not on import: a library does not change an application's allocator."""
    if os.environ.get("MALLOC_ARENA_MAX") or not sys.platform.startswith("linux"):
        return False
    try:
        return bool(ctypes.CDLL(None).mallopt(M_ARENA_MAX, 1))
    except (OSError, AttributeError):  # no C library to ask, or one without mallopt (musl)
        return False
