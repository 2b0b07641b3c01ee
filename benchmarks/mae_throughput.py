"""MAE training-step throughput of astronb's AstroMAE presets against Hugging Face's ViTMAE, on 2 threads.

For `astromae_plain` and `astromae_pcm`, and HF `ViTMAEForPreTraining` configured identically to the plain
preset (32x32x5, patch 8, width 192, depth 12, 3 heads, MLP 768, decoder 192 wide, 4 deep, 3 heads,
mask 0.75), in one process:
- images/s of a training step (forward, backward, AdamW) at batch 256, in fp32 and in CPU bf16 autocast. Every
  model, and the bare loop below, uses torch's fused AdamW, the default optimiser of HF's `Trainer`.
  The models take one step each in turn, `--rounds` times, and each model's median step time counts, so a
  machine whose speed drifts (these are shared virtual cores) slows every model alike. HF runs with both of
  its attention implementations ('sdpa' and 'eager'); the faster one is the reference for the ratios;
- with `--compile`, also the plain preset under `torch.compile` (its warm-up time is reported apart);
- achieved FLOP/s (counted with torch.utils.flop_counter) against the measured matrix-multiply rate;
- the share of a step spent in matrix multiplies and convolutions (profiled), and the ceiling it sets: the
  ratio over HF that a model would reach if everything else in its step took no time;
- images/s of one fastai epoch against a bare PyTorch loop over the same DataLoader.

Needs `transformers` (benchmark only: `pip install -e ".[bench]"`).

    python benchmarks/mae_throughput.py [--json PATH] [--rounds 10] [--epoch-batches 20] [--compile]
"""
import argparse, json, tempfile, time
from pathlib import Path

import torch
from common import interleaved_images_per_s, matmul_rate
from torch.profiler import profile, ProfilerActivity
from torch.utils.flop_counter import FlopCounterMode

from astronb.mae import MAE, mae_preset, mae_learner

MATMUL_OPS = ('aten::mm', 'aten::addmm', 'aten::bmm', 'aten::baddbmm', 'aten::mkldnn_convolution', 'aten::convolution_backward')


def hf_mae(cfg, attention='sdpa'):
    "Hugging Face's ViTMAEForPreTraining with the same sizes as an astronb MAEConfig."
    from transformers import ViTMAEConfig, ViTMAEForPreTraining
    e = cfg.encoder
    return ViTMAEForPreTraining(ViTMAEConfig(
        image_size=e.img_size, patch_size=e.patch_size, num_channels=e.in_chans, hidden_size=e.embed_dim,
        num_hidden_layers=e.depth, num_attention_heads=e.num_heads, intermediate_size=int(e.embed_dim*e.mlp_ratio),
        decoder_hidden_size=cfg.decoder_dim, decoder_num_hidden_layers=cfg.decoder_depth,
        decoder_num_attention_heads=cfg.decoder_heads, decoder_intermediate_size=4*cfg.decoder_dim,
        mask_ratio=cfg.mask_ratio, norm_pix_loss=cfg.norm_pix_loss, qkv_bias=True, attn_implementation=attention))


def adamw(model):
    "AdamW with AstroMAE's betas and weight decay, torch's fused implementation (HF Trainer's default optimiser)."
    return torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.05, fused=True)


def step_fn(model, x, bf16, hf=False):
    opt = adamw(model)
    def step():
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
            loss = model(pixel_values=x).loss if hf else model(x)[0]
        opt.zero_grad(); loss.backward(); opt.step()
    return step


def flops_per_step(step):
    with FlopCounterMode(display=False) as fc: step()
    return fc.get_total_flops()


def matmul_share(step, steps=3):
    "Fraction of the wall time of `steps` profiled steps spent in matrix-multiply and convolution kernels."
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t = time.perf_counter()
        for _ in range(steps): step()
        wall = time.perf_counter() - t
    return sum(e.self_cpu_time_total for e in prof.key_averages() if e.key in MATMUL_OPS) / 1e6 / wall


def fastai_vs_bare(batches, rounds=3):
    "Images/s of one fastai epoch and of a bare loop over the same DataLoader (tiny survey, AstroMAE augmentations), taking turns; median epoch."
    from astronb.augment import astromae_augmentations, CenterCrop
    from astronb.data import astromae_split, pretrain_dls, read_survey
    from astronb.survey import SurveyConfig, make_survey
    with tempfile.TemporaryDirectory() as tmp:
        data = read_survey(make_survey(SurveyConfig(n=256*batches*10//8 + 256, seed=1), Path(tmp)/'s.h5', progress=False))
        dls = pretrain_dls(data, astromae_split(len(data), seed=0), bs=256, augs=astromae_augmentations(), valid_augs=[CenterCrop(32)])
        cfg = mae_preset('astromae_plain')
        learn = mae_learner(dls, cfg)
        model = MAE(cfg); opt = adamw(model)
        def fastai_epoch(): learn.fit(1, 1e-4)
        def bare_epoch():
            model.train()
            for x, _ in dls.train:
                loss = model(x)[0]; opt.zero_grad(); loss.backward(); opt.step()
            model.eval()
            with torch.no_grad():
                for x, _ in dls.valid: model(x)
        with learn.no_logging():
            ips = interleaved_images_per_s(dict(fastai=fastai_epoch, bare=bare_epoch), len(dls.train) * 256, rounds, warmup=1)
    return dict(fastai_epoch_images_per_s=ips['fastai'], bare_loop_images_per_s=ips['bare'], fastai_over_bare=ips['fastai']/ips['bare'])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--rounds', type=int, default=10, help='timed training steps per model')
    ap.add_argument('--epoch-batches', type=int, default=20, help='batches of 256 in the fastai-vs-bare epoch')
    ap.add_argument('--compile', action='store_true', help='also time the plain preset under torch.compile')
    ap.add_argument('--json', type=Path)
    args = ap.parse_args()
    torch.set_num_threads(2); torch.manual_seed(0)
    bs, res = 256, {}
    x = torch.randn(bs, 5, 32, 32)
    res['matmul_fp32_gflops'] = matmul_rate(torch.float32)/1e9
    res['matmul_bf16_gflops'] = matmul_rate(torch.bfloat16)/1e9
    for prec, bf16 in (('fp32', False), ('bf16', True)):
        models = {f'hf_vitmae_{a}': hf_mae(mae_preset('astromae_plain'), a) for a in ('sdpa', 'eager')}
        models.update({name: MAE(mae_preset(name)) for name in ('astromae_plain', 'astromae_pcm')})
        steps = {k: step_fn(m, x, bf16, hf=k.startswith('hf')) for k, m in models.items()}
        if args.compile:
            compiled = MAE(mae_preset('astromae_plain')); compiled.compile()
            steps['astromae_plain_compiled'] = step_fn(compiled, x, bf16)
            t = time.perf_counter(); steps['astromae_plain_compiled'](); res[f'compile_{prec}_warmup_s'] = time.perf_counter() - t
        ips = interleaved_images_per_s(steps, bs, args.rounds)
        ref = max(ips[k] for k in ips if k.startswith('hf'))
        for k, v in ips.items(): res[f'{k}_{prec}_images_per_s'] = v
        for k in (k for k in ips if not k.startswith('hf')):
            res[f'{k}_{prec}_over_hf'] = ips[k] / ref
            gflop = flops_per_step(steps[k])/1e9
            res[f'{k}_{prec}_achieved_gflops'] = gflop * ips[k] / bs
            res[f'{k}_{prec}_fraction_of_matmul_rate'] = res[f'{k}_{prec}_achieved_gflops'] / res[f'matmul_{prec}_gflops']
            res[f'{k}_{prec}_matmul_share_of_step'] = matmul_share(steps[k])
            res[f'{k}_{prec}_ceiling_over_hf'] = res[f'{k}_{prec}_over_hf'] / res[f'{k}_{prec}_matmul_share_of_step']
    res.update(fastai_vs_bare(args.epoch_batches))
    for k, v in res.items(): print(f'{k:50s} {v:10.3f}')
    if args.json: args.json.write_text(json.dumps(res, indent=2))


if __name__ == '__main__': main()
