"""MoCo v2 training-step throughput of astronb's presets against lightly's MoCo v2 components, on 2 threads (`--threads`).

For the CPU preset `cpu_resnet18` (half-width ResNet18, standard stem, 48x48x5) and Hayat et al.'s
`hayat_resnet50` (ResNet50, stride-1 stem, no max-pool, 64x64x5), in one process:
- images/s of a full MoCo step (query forward and backward, momentum update, shuffled key forward, queue,
  InfoNCE, SGD with momentum and weight decay) for astronb's `MoCo` (channels-last, its default, and
  channels-first), and for the reference built from lightly's components on the same timm backbone:
  `MoCoProjectionHead`, `update_momentum`, `batch_shuffle`/`batch_unshuffle`, and `NTXentLoss` with its memory
  bank as the queue. Both use the same queue size, temperature, momentum and torch SGD. The models take
  one step each in turn, `--rounds` times, and each one's median step time counts, so a machine whose speed
  drifts slows every model alike. In fp32 and in CPU bf16 autocast. On a CPU without native bf16 (a bf16
  matrix multiply more than 4x slower than fp32; on the AVX2 machine this was written on, 100-200x) a bf16
  step takes seconds to minutes and measures only the missing hardware, so the bf16 rows are skipped there
  unless `--bf16-everywhere`;
- images/s of one fastai epoch (`moco_learner`, Hayat's augmentations from `moco_dls`) against a bare
  PyTorch loop over the same loaders with the same model and optimiser;
- with `--candidates`, the backbones considered for the CPU preset (ResNet18 with Hayat's stride-1 stem, with the
  standard stem, and half-width with the standard stem), the full MoCo step in fp32 at batch 128 on 48-pixel crops.

Needs `lightly` (benchmark only: `pip install -e ".[bench]"`).

    python benchmarks/moco_throughput.py [--json PATH] [--rounds 5] [--epoch-batches 15] [--presets [cpu_resnet18 hayat_resnet50]] [--candidates]
"""
import argparse, copy, json, tempfile
from pathlib import Path

import torch
from common import fastai_vs_bare_epoch, interleaved_images_per_s, machine_rates

from astronb.backbones import build_encoder
from astronb.moco import MoCo, moco_preset

BATCH = dict(cpu_resnet18=128, hayat_resnet50=16)     # the paper preset is ~100x slower per image on 2 cores


class LightlyMoCo(torch.nn.Module):
    "MoCo v2 from lightly's components on an astronb backbone: the reference."
    def __init__(self, cfg, channels_last=True):
        super().__init__()
        from lightly.loss import NTXentLoss
        from lightly.models.modules import MoCoProjectionHead
        from lightly.models.utils import deactivate_requires_grad
        self.backbone = build_encoder(cfg.encoder)
        if not channels_last: self.backbone.to(memory_format=torch.contiguous_format)
        self.head = MoCoProjectionHead(self.backbone.num_features, cfg.proj_hidden or self.backbone.num_features, cfg.proj_dim)
        self.key_backbone, self.key_head = copy.deepcopy(self.backbone), copy.deepcopy(self.head)
        deactivate_requires_grad(self.key_backbone); deactivate_requires_grad(self.key_head)
        self.loss = NTXentLoss(temperature=cfg.temperature, memory_bank_size=(cfg.queue, cfg.proj_dim))
        self.m = cfg.momentum

    def forward(self, xq, xk):
        from lightly.models.utils import batch_shuffle, batch_unshuffle, update_momentum
        q = self.head(self.backbone(xq))
        with torch.no_grad():
            update_momentum(self.backbone, self.key_backbone, self.m); update_momentum(self.head, self.key_head, self.m)
            xs, shuffle = batch_shuffle(xk)
            k = batch_unshuffle(self.key_head(self.key_backbone(xs)), shuffle)
        return self.loss(q, k)


def astronb_moco(cfg, channels_last=True):
    m = MoCo(cfg)
    if not channels_last: m.to(memory_format=torch.contiguous_format)
    return m


def step_fn(model, cfg, x1, x2, bf16):
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-3, momentum=cfg.sgd_momentum, weight_decay=cfg.weight_decay)
    model.train()
    def step():
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
            out = model(x1, x2)
            loss = out[0] if isinstance(out, tuple) else out
        opt.zero_grad(); loss.backward(); opt.step()
    return step


def fastai_vs_bare(batches, rounds=3, bs=128):
    "Images/s of one fastai epoch of `cpu_resnet18` and of a bare loop over the same loaders (Hayat's augmentations), taking turns; median epoch."
    from astronb.data import astromae_split, read_survey
    from astronb.moco import moco_dls, moco_learner, moco_schedule
    from astronb.survey import SurveyConfig, make_survey
    with tempfile.TemporaryDirectory() as tmp:
        data = read_survey(make_survey(SurveyConfig(n=bs*batches*10//8 + bs, seed=1), Path(tmp)/'s.h5', progress=False))
        cfg = moco_preset('cpu_resnet18', bn_splits=4)
        dls = moco_dls(data, astromae_split(len(data), seed=0), cfg, bs=bs, device='cpu')
        learn = moco_learner(dls, cfg)
        model = MoCo(cfg)
        opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=cfg.sgd_momentum, weight_decay=cfg.weight_decay)
        ips = fastai_vs_bare_epoch(learn, model, opt, moco_schedule(cfg, 1, bs), rounds)
    return dict(fastai_epoch_images_per_s=ips['fastai'], bare_loop_images_per_s=ips['bare'], fastai_over_bare=ips['fastai']/ips['bare'])


CANDIDATES = {'resnet18, stride-1 stem (Hayat)': dict(channels=None, stem_stride=1, max_pool=False),
              'resnet18, standard stem': dict(channels=None),
              'resnet18 half width, standard stem (cpu_resnet18)': {}}

def candidates(rounds):
    "Images/s of a MoCo step (fp32, batch 128, 48-pixel crops) of each backbone considered for the CPU preset."
    x1, x2 = torch.randn(128, 5, 48, 48), torch.randn(128, 5, 48, 48)
    cfgs = {k: moco_preset('cpu_resnet18', backbone=b) for k, b in CANDIDATES.items()}
    ips = interleaved_images_per_s({k: step_fn(MoCo(c), c, x1, x2, False) for k, c in cfgs.items()}, 128, rounds, warmup=1)
    return {f'candidate {k}: images_per_s': v for k, v in ips.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--rounds', type=int, default=5, help='timed training steps per model')
    ap.add_argument('--epoch-batches', type=int, default=15, help='batches of 128 in the fastai-vs-bare epoch')
    ap.add_argument('--presets', nargs='*', default=list(BATCH), help='none: only --candidates')
    ap.add_argument('--candidates', action='store_true', help="also time the backbones considered for the CPU preset")
    ap.add_argument('--bf16-everywhere', action='store_true', help='time bf16 for every preset even without native bf16')
    ap.add_argument('--threads', type=int, default=2, help='torch threads (2: the machine this was written for)')
    ap.add_argument('--json', type=Path)
    args = ap.parse_args()
    res, native_bf16 = machine_rates(args.threads)
    show = lambda k: print(f'{k:55s} {res[k]:10.3f}', flush=True)
    for k in res: show(k)
    for preset in args.presets:
        bs = BATCH[preset]
        cfg = moco_preset(preset, queue=4096, bn_splits=max(1, bs // 32))    # batch-norm sub-batches of 32, as MoCo's GPUs
        s = cfg.encoder.img_size
        x1, x2 = torch.randn(bs, 5, s, s), torch.randn(bs, 5, s, s)
        for prec, bf16 in (('fp32', False), ('bf16', True)):
            if bf16 and not (native_bf16 or args.bf16_everywhere):
                print(f'{preset} bf16: skipped (no native bf16 on this CPU; --bf16-everywhere to time it)', flush=True); continue
            models = dict(lightly=LightlyMoCo(cfg), lightly_channels_first=LightlyMoCo(cfg, False),
                          astronb=astronb_moco(cfg), astronb_channels_first=astronb_moco(cfg, False))
            ips = interleaved_images_per_s({k: step_fn(m, cfg, x1, x2, bf16) for k, m in models.items()}, bs,
                                           min(args.rounds, 2) if bf16 and not native_bf16 else args.rounds, warmup=1)
            ref = max(ips['lightly'], ips['lightly_channels_first'])
            for k, v in ips.items(): res[f'{preset}_{prec}_{k}_images_per_s'] = v
            res[f'{preset}_{prec}_astronb_over_lightly'] = ips['astronb'] / ref
            for k in ips: show(f'{preset}_{prec}_{k}_images_per_s')
            show(f'{preset}_{prec}_astronb_over_lightly')
    if args.presets:
        for k, v in fastai_vs_bare(args.epoch_batches).items(): res[k] = v; show(k)
    if args.candidates:
        for k, v in candidates(args.rounds).items(): res[k] = v; show(k)
    if args.json: args.json.write_text(json.dumps(res, indent=2))


if __name__ == '__main__': main()
