"""Speed of the augmentations and of the data loaders, against an MAE training step on the same batch.

On batches of 256 5x64x64 images with 2 threads:
- images/s of the AstroMAE (pretraining, and fine-tuning with noise) and Hayat et al. augmentation
  pipelines (`astronb.augment`);
- images/s of the pretraining DataLoader reading the HDF5 survey (with and without augmentation);
- the time of one masked-autoencoder training step (forward, backward, AdamW) at AstroMAE's Table III
  sizes (32x32x5 crops, patch 8, width 192, depth 12, 3 heads, decoder 192 wide and 4 deep, mask 0.75),
  and the ratio augmentation / training step (the data layer's target: below 1/5).

The MAE step is `astronb.mae.MAE` with the `astromae_plain` preset.

    python benchmarks/augment_speed.py [--survey PATH] [--json PATH]
"""
import argparse, json, tempfile, time
from pathlib import Path

import numpy as np, torch

from astronb.augment import AugmentBatch, astromae_augmentations, hayat_augmentations
from astronb.data import astromae_split, pretrain_dls, read_survey
from astronb.mae import MAE, mae_preset
from astronb.survey import SurveyConfig, make_survey


def timed(fn, repeats=5, warmup=1):
    "Median seconds of `fn()` over `repeats` runs after `warmup`."
    for _ in range(warmup): fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--survey', type=Path, help='an astronb survey HDF5 (default: make 4096 galaxies in a temp dir)')
    ap.add_argument('--batches', type=int, default=8, help='loader batches to time')
    ap.add_argument('--json', type=Path)
    args = ap.parse_args()
    torch.set_num_threads(2); torch.manual_seed(0)
    bs, res = 256, {}
    with tempfile.TemporaryDirectory() as tmp:
        path = args.survey or make_survey(SurveyConfig(n=4096, seed=1), Path(tmp)/'s.h5', progress=False)
        data = read_survey(path)
        x = torch.from_numpy(data.batch(np.arange(bs)))
        mad = torch.tensor([0.035, 0.03, 0.033, 0.08, 0.17])
        for name, augs in [('astromae', astromae_augmentations()), ('astromae_finetune', astromae_augmentations(noise=0.05)),
                           ('hayat', hayat_augmentations(mad, crop=50)),
                           ('hayat_with_psf', hayat_augmentations(mad, crop=50, psf=True))]:
            aug = AugmentBatch(augs, seed=0)
            s = timed(lambda: aug((x,), split_idx=0))
            res[f'augment_{name}_images_per_s'] = bs/s
            res[f'augment_{name}_ms_per_batch'] = 1e3*s
        # the training step the augmentation feeds (32x32 crops from AstroMAE's pipeline)
        mae = MAE(mae_preset('astromae_plain')); opt = torch.optim.AdamW(mae.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.05)
        crop = AugmentBatch(astromae_augmentations(), seed=0)((x,), split_idx=0)[0].as_subclass(torch.Tensor)
        def step(ctx):
            with ctx: loss = mae(crop)[0]
            opt.zero_grad(); loss.backward(); opt.step()
        for prec, ctx in [('fp32', torch.autocast('cpu', enabled=False)), ('bf16', torch.autocast('cpu', dtype=torch.bfloat16))]:
            s = timed(lambda: step(ctx), repeats=3)
            res[f'mae_step_{prec}_ms_per_batch'] = 1e3*s
            res[f'augment_astromae_over_mae_step_{prec}'] = res['augment_astromae_ms_per_batch'] / (1e3*s)
        # loaders from the HDF5 file: reading alone, and reading + AstroMAE augmentation
        split = astromae_split(len(data), seed=0)
        for name, augs in [('read_only', ()), ('read_and_astromae_augment', astromae_augmentations())]:
            dl = pretrain_dls(data, split, bs=bs, augs=augs).train
            it = iter(dl); next(it)
            t = time.perf_counter()
            n = sum(len(next(it)[0]) for _ in range(min(args.batches, len(dl) - 1)))
            res[f'loader_{name}_images_per_s'] = n / (time.perf_counter() - t)
    res['torch_threads'] = torch.get_num_threads()
    for k, v in res.items(): print(f'{k:45s} {v:10.3f}' if isinstance(v, float) else f'{k:45s} {v}')
    if args.json: args.json.write_text(json.dumps(res, indent=2))


if __name__ == '__main__': main()
