"""Inference speed of astronb encoders: galaxies per second of embedding, against a timm ViT of the same FLOPs, on 2 threads.

In one process, models taking turns (`--rounds` rounds, the median batch time of each counts, so a machine whose
speed drifts slows every model alike), batch `--bs`, in fp32 and in CPU bf16 autocast:
- `astromae_plain`: the encoder of AstroMAE's plain preset (32x32x5, patch 8, width 192, depth 12, 3 heads);
- `plain-AstroMAE`: the whole AstroMAE fine-tuning architecture (that encoder with its head, the Inception branch and
  the magnitude block) predicting redshifts from images and magnitudes: what the AstroMAE authors timed;
- `timm`: timm's VisionTransformer in `vit_tiny_patch16_224`'s shape (width 192, depth 12, 3 heads) on the same
  32x32x5 galaxies with 8-pixel patches, so its FLOPs per galaxy equal the astronb encoder's (checked and printed);
- the matrix-multiply rate of the machine (2048x2048 products), and each model's achieved FLOP/s as a fraction of it;
- `embed()` end to end for `astromae_plain` (HDF5 reads, normalisation, crop, forward, writes) on a small survey;
- similarity search: exact cosine top-8 over `--index-size` random 192-d embeddings with faiss (build time, median query).

The AstroMAE paper reports about 190 galaxies/s for CPU inference; every figure is also given as a ratio to that.

    python benchmarks/embed_speed.py [--json PATH] [--rounds 5] [--bs 256] [--index-size 1000000]
"""
import argparse, json, statistics, tempfile, time
from pathlib import Path

import numpy as np
import torch
from common import matmul_rate
from torch.utils.flop_counter import FlopCounterMode

from astronb.heads import redshift_net
from astronb.mae import mae_preset
from astronb.vit import ViTEncoder

ASTROMAE_CPU_GALAXIES_PER_S = 190   # AstroMAE (Fathkouhi & Fox), CPU inference


def timm_twin(e):
    "timm's VisionTransformer with the shape of astronb encoder config `e` (vit_tiny's width, depth and heads)."
    from timm.models.vision_transformer import VisionTransformer
    return VisionTransformer(img_size=e.img_size, patch_size=e.patch_size, in_chans=e.in_chans, embed_dim=e.embed_dim, depth=e.depth,
                             num_heads=e.num_heads, mlp_ratio=e.mlp_ratio, num_classes=0, global_pool='token')


def forward_fns(bs):
    "name -> (no-grad forward of one batch, its inputs' batch size); every model in evaluation mode."
    e = mae_preset('astromae_plain').encoder
    enc, net, twin = ViTEncoder(e).eval(), redshift_net('plain-AstroMAE', encoder=ViTEncoder(e)).eval(), timm_twin(e).eval()
    x, mags = torch.randn(bs, e.in_chans, e.img_size, e.img_size), torch.randn(bs, 5)
    net.magnitude.set_stats(np.random.default_rng(0).normal(17, 1, (1000, 5)))
    return {'astromae_plain': lambda: enc.forward_features(x), 'plain-AstroMAE': lambda: net(x, mags), 'timm': lambda: twin(x)}


def flops(fn):
    with FlopCounterMode(display=False) as fc, torch.no_grad(): fn()
    return fc.get_total_flops()


def interleaved(fns:dict, bs, rounds, bf16, warmup=2):
    "Galaxies/s of each forward, from its median batch time, the forwards taking turns."
    run = lambda f: f()
    times = {k: [] for k in fns}
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
        for f in fns.values():
            for _ in range(warmup): run(f)
        for _ in range(rounds):
            for k, f in fns.items():
                t = time.perf_counter(); run(f); times[k].append(time.perf_counter() - t)
    return {k: bs / statistics.median(v) for k, v in times.items()}


def embed_end_to_end(n, bs, precision):
    "Galaxies/s of `astronb.represent.embed` (a one-epoch tiny run's statistics, the astromae_plain encoder's shape) on an n-galaxy survey."
    from astronb.experiment import PretrainConfig, Runtime, pretrain
    from astronb.represent import embed
    from astronb.survey import SurveyConfig, make_survey
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        survey = make_survey(SurveyConfig(n=n, seed=1), tmp/'s.h5', progress=False)
        run = pretrain(PretrainConfig(survey, preset='astromae_plain', epochs=1, bs=256, overrides={'epochs': 1, 'warmup_epochs': 0}),
                       tmp/'pre', rt=Runtime(progress=False))
        out = {}
        for p in precision:
            t = time.perf_counter(); embed(run, tmp/f'e-{p}.h5', bs=bs, precision=p, rt=Runtime(progress=False))
            out[p] = n / (time.perf_counter() - t)
        return out


def search_speed(n, d=192, k=8, queries=50):
    "Build time of a faiss exact cosine index over `n` random `d`-d embeddings, and the median time of one top-`k` query."
    from astronb.represent import SimilarityIndex
    x = np.random.default_rng(0).normal(size=(n, d)).astype(np.float32)
    t = time.perf_counter(); index = SimilarityIndex(x); build = time.perf_counter() - t
    times = []
    for q in x[:queries]:
        t = time.perf_counter(); index.search(q, k); times.append(time.perf_counter() - t)
    return build, statistics.median(times)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--json', type=Path, default=None)
    p.add_argument('--rounds', type=int, default=5)
    p.add_argument('--bs', type=int, default=256)
    p.add_argument('--embed-n', type=int, default=4096, help='galaxies of the end-to-end embed survey')
    p.add_argument('--index-size', type=int, default=1_000_000)
    a = p.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    res = dict(threads=torch.get_num_threads(), bs=a.bs, cpu_capability=torch.backends.cpu.get_cpu_capability(),
               avx512_bf16=torch.cpu._is_avx512_bf16_supported())
    fns = forward_fns(a.bs)
    for k, f in fns.items(): res[f'{k}_gflop_per_galaxy'] = flops(f) / a.bs / 1e9
    for prec, dtype in (('fp32', torch.float32), ('bf16', torch.bfloat16)):
        res[f'matmul_{prec}_gflops'] = matmul_rate(dtype) / 1e9
        for k, v in interleaved(fns, a.bs, a.rounds, prec == 'bf16').items():
            res[f'{k}_{prec}_galaxies_per_s'] = v
            res[f'{k}_{prec}_over_astromae_paper'] = v / ASTROMAE_CPU_GALAXIES_PER_S
            res[f'{k}_{prec}_fraction_of_matmul_rate'] = v * res[f'{k}_gflop_per_galaxy'] / res[f'matmul_{prec}_gflops']
        res[f'astromae_plain_{prec}_over_timm'] = res[f'astromae_plain_{prec}_galaxies_per_s'] / res[f'timm_{prec}_galaxies_per_s']
    for prec, v in embed_end_to_end(a.embed_n, a.bs, ('fp32', 'bf16')).items():
        res[f'embed_end_to_end_{prec}_galaxies_per_s'] = v
        res[f'embed_end_to_end_{prec}_over_astromae_paper'] = v / ASTROMAE_CPU_GALAXIES_PER_S
    res['search_index_size'] = a.index_size
    res['search_build_s'], res['search_query_s'] = search_speed(a.index_size)
    width = max(map(len, res))
    for k, v in res.items(): print(f"{k:{width}s} {v:.4g}" if isinstance(v, float) else f"{k:{width}s} {v}")
    if a.json: a.json.write_text(json.dumps(res, indent=1))


if __name__ == '__main__': main()
