"Measurements the benchmarks share (imported as `common` by the scripts in this folder)."
import statistics, time

import torch


def matmul_rate(dtype, n_max=2048, repeats=5, min_seconds=0.2):
    """FLOP/s of a square matrix product in `dtype` on this process's threads: the ceiling every model's rate is compared with.
    The size doubles from 256 until one product takes `min_seconds` (or reaches `n_max`): CPUs without native bf16 are ~100x slower."""
    n = 256
    while True:
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        t = time.perf_counter(); a @ b; once = time.perf_counter() - t
        if once >= min_seconds or n >= n_max: break
        n *= 2
    t = time.perf_counter()
    for _ in range(repeats): a @ b
    return 2*n**3*repeats / (time.perf_counter() - t)


def interleaved_images_per_s(steps:dict, bs, rounds, warmup=2):
    "Images/s of each step function from its median step time, the functions taking one step each in turn (after `warmup` untimed steps each)."
    for step in steps.values():
        for _ in range(warmup): step()
    times = {k: [] for k in steps}
    for _ in range(rounds):
        for k, step in steps.items():
            t = time.perf_counter(); step(); times[k].append(time.perf_counter() - t)
    return {k: bs / statistics.median(v) for k, v in times.items()}
