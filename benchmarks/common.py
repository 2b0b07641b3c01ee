"Measurements the benchmarks share (imported as `common` by the scripts in this folder)."
import time

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
