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


def machine_rates(threads:int) -> tuple:
    """Set `threads` torch threads and the seed, then measure the fp32 and bf16 matrix-product rates (GFLOP/s, in a dict that the
    benchmark's results extend) and whether bf16 is native here (a bf16 product at least a quarter as fast as fp32)."""
    torch.set_num_threads(threads); torch.manual_seed(0)
    res = dict(matmul_fp32_gflops=matmul_rate(torch.float32)/1e9, matmul_bf16_gflops=matmul_rate(torch.bfloat16)/1e9)
    return res, res['matmul_bf16_gflops'] > res['matmul_fp32_gflops'] / 4


def fastai_vs_bare_epoch(learn, model, opt, sched, rounds:int) -> dict:
    """Items/s of one fastai epoch of `learn` (learning-rate schedule `sched`) and of a bare PyTorch loop of `model` and `opt` over the same
    loaders (the schedule set per batch; the model returns its loss first; then the validation pass), taking turns; median epoch."""
    from fastai.callback.schedule import ParamScheduler
    dls = learn.dls
    def fastai_epoch(): learn.fit(1, cbs=ParamScheduler({'lr': sched}))
    def bare_epoch():
        model.train()
        for i, (*xs, _) in enumerate(dls.train):
            for g in opt.param_groups: g['lr'] = sched(i / len(dls.train))
            loss = model(*xs)[0]; opt.zero_grad(); loss.backward(); opt.step()
        model.eval()
        with torch.no_grad():
            for *xs, _ in dls.valid: model(*xs)
    with learn.no_bar(), learn.no_logging():
        return interleaved_images_per_s(dict(fastai=fastai_epoch, bare=bare_epoch), len(dls.train) * dls.train.bs, rounds, warmup=1)
