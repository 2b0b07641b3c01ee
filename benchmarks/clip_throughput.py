"""AstroCLIP training-step throughput: image-spectrum pairs per second with frozen backbones, on 2 threads (`--threads`).

For two pairs of backbones, in one process:
- `cpu`: the tiny_plain MAE encoder (ViT, 32x32x5 crops) and the cpu_spender spectrum encoder, batch 256;
- `paper`: Hayat et al.'s ResNet50 (64x64x5, the image backbone of the AstroCLIP reproduction is a MoCo ResNet50)
  and the Spender widths, batch 32 (about 50x slower per pair on 2 cores);
each with the survey's 1921-pixel spectra and the `astroclip` heads, the script measures
- pairs/s of a full contrastive step (frozen forward passes without autograd, heads forward and backward, symmetric
  InfoNCE, Adam) in fp32 and, where the CPU has native bf16 (or with `--bf16-everywhere`), bf16 autocast;
- pairs/s of the two frozen forward passes alone, and their share of the step;
- pairs/s of the same step with the backbones run under autograd (their parameters trainable, as if not frozen):
  what freezing saves;
- pairs/s of one fastai epoch (`clip_learner` on `clip_dls`, the paper's augmentations) against a bare loop over the
  same loaders with the same model and optimiser (`cpu` backbones).
The variants take one step each in turn, `--rounds` times; each one's median step counts.

    python benchmarks/clip_throughput.py [--json PATH] [--rounds 5] [--epoch-batches 10] [--pairs cpu paper]
"""
import argparse, json, tempfile
from pathlib import Path

import torch
from common import fastai_vs_bare_epoch, interleaved_images_per_s, machine_rates

from astronb.backbones import encoder_spec
from astronb.clip import CLIP, clip_preset
from astronb.mae import mae_preset
from astronb.moco import moco_preset
from astronb.spectra import spender_preset

L = 1921                                  # pixels of the embedded survey's spectra
PAIRS = dict(cpu=(lambda: encoder_spec(mae_preset('tiny_plain').encoder), 'cpu_spender', 256),
             paper=(lambda: moco_preset('hayat_resnet50').backbone, 'spender', 32))


def clip_config(pair:str):
    image, spectrum, _ = PAIRS[pair]
    return clip_preset('astroclip', image_encoder=image(), spectrum_encoder=dict(vars(spender_preset(spectrum)), grid=(3800., 9200., L)))


def batch(model, bs):
    s = model.image_encoder.cfg.img_size
    flux = 1 + torch.rand(bs, L)
    return torch.randn(bs, model.image_encoder.cfg.in_chans, s, s), torch.stack([flux, torch.ones_like(flux)], 1)


def step_fn(model, x, s, bf16):
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    model.train()
    def step():
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16): loss = model(x, s)[0]
        opt.zero_grad(); loss.backward(); opt.step()
    return step


def frozen_fn(model, x, s, bf16):
    def step():
        with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
            model.image_encoder.forward_features(x); model.spectrum_encoder.forward_features(s)
    return step


class Unfrozen(CLIP):
    "The same model with its backbones under autograd: what training them as well would cost per step."
    def __init__(self, cfg):
        super().__init__(cfg)
        for p in self.backbone_params(): p.requires_grad_(True)
    def embed_images(self, x): return torch.nn.functional.normalize(self.image_head(self.image_encoder.forward_features(x).float()), dim=1)
    def embed_spectra(self, s): return torch.nn.functional.normalize(self.spectrum_head(self.spectrum_encoder.forward_features(s).float()), dim=1)


def fastai_vs_bare(batches, rounds=3, bs=128):
    "Pairs/s of one fastai epoch of the `cpu` pair and of a bare loop over the same loaders (rotation, flips, PSF blur, centre crop), taking turns."
    from astronb.clip import clip_dls, clip_learner, clip_schedule
    from astronb.data import astromae_split, band_stats, read_survey
    from astronb.survey import SurveyConfig, make_survey
    with tempfile.TemporaryDirectory() as tmp:
        data = read_survey(make_survey(SurveyConfig(n=bs*batches*10//8 + bs, seed=1), Path(tmp)/'s.h5', progress=False))
        split = astromae_split(len(data), seed=0)
        cfg = clip_config('cpu')
        cfg.image_stats = band_stats(data.subset(split['pretrain']))
        dls = clip_dls(data, split, cfg, bs=bs, device='cpu')
        learn, model = clip_learner(dls, cfg), CLIP(cfg)
        opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
        ips = fastai_vs_bare_epoch(learn, model, opt, clip_schedule(cfg, 1, bs), rounds)
    return dict(fastai_epoch_pairs_per_s=ips['fastai'], bare_loop_pairs_per_s=ips['bare'], fastai_over_bare=ips['fastai'] / ips['bare'])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--rounds', type=int, default=5, help='timed steps per variant')
    ap.add_argument('--epoch-batches', type=int, default=10, help='batches of 128 in the fastai-vs-bare epoch')
    ap.add_argument('--pairs', nargs='*', default=list(PAIRS))
    ap.add_argument('--bf16-everywhere', action='store_true', help='time bf16 even without native bf16')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--json', type=Path)
    args = ap.parse_args()
    res, native_bf16 = machine_rates(args.threads)
    show = lambda k: print(f'{k:50s} {res[k]:10.3f}', flush=True)
    for k in res: show(k)
    for pair in args.pairs:
        bs, cfg = PAIRS[pair][2], clip_config(pair)
        model, unfrozen = CLIP(cfg), Unfrozen(cfg)
        x, s = batch(model, bs)
        for prec, bf16 in (('fp32', False), ('bf16', True)):
            if bf16 and not (native_bf16 or args.bf16_everywhere):
                print(f'{pair} bf16: skipped (no native bf16 on this CPU; --bf16-everywhere to time it)', flush=True); continue
            ips = interleaved_images_per_s(dict(step=step_fn(model, x, s, bf16), frozen_forward=frozen_fn(model, x, s, bf16),
                                                backbones_under_autograd=step_fn(unfrozen, x, s, bf16)), bs, args.rounds, warmup=1)
            for k, v in ips.items(): res[f'{pair}_{prec}_{k}_pairs_per_s'] = v
            res[f'{pair}_{prec}_frozen_share_of_step'] = ips['step'] / ips['frozen_forward']
            res[f'{pair}_{prec}_step_over_backbones_under_autograd'] = ips['step'] / ips['backbones_under_autograd']
            for k in [k for k in res if k.startswith(f'{pair}_{prec}_')]: show(k)
    if 'cpu' in args.pairs:
        for k, v in fastai_vs_bare(args.epoch_batches).items(): res[k] = v; show(k)
    if args.json: args.json.write_text(json.dumps(res, indent=2))


if __name__ == '__main__': main()
