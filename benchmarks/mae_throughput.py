"""MAE training-step throughput of astronb's AstroMAE presets against Hugging Face's ViTMAE, on 2 threads.

For `astromae_plain` and `astromae_pcm` (and HF `ViTMAEForPreTraining` configured identically to the plain
preset: 32x32x5, patch 8, width 192, depth 12, 3 heads, MLP 768, decoder 192 wide, 4 deep, 3 heads,
mask 0.75), in the same process, back to back:
- images/s of a training step (forward, backward, AdamW) at batch 256, in fp32 and in CPU bf16 autocast,
  and the ratio astronb / HF;
- achieved FLOP/s (counted with torch.utils.flop_counter) against the measured matrix-multiply rate;
- images/s of one fastai epoch against a bare PyTorch loop over the same DataLoader.

Needs `transformers` (benchmark only: `pip install -e ".[bench]"`).

    python benchmarks/mae_throughput.py [--json PATH] [--steps 5] [--epoch-batches 20]
"""
import argparse, json, tempfile, time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from astronb.mae import MAE, mae_preset, mae_learner


def hf_mae(cfg):
    "Hugging Face's ViTMAEForPreTraining with the same sizes as an astronb MAEConfig."
    from transformers import ViTMAEConfig, ViTMAEForPreTraining
    e = cfg.encoder
    return ViTMAEForPreTraining(ViTMAEConfig(
        image_size=e.img_size, patch_size=e.patch_size, num_channels=e.in_chans, hidden_size=e.embed_dim,
        num_hidden_layers=e.depth, num_attention_heads=e.num_heads, intermediate_size=int(e.embed_dim*e.mlp_ratio),
        decoder_hidden_size=cfg.decoder_dim, decoder_num_hidden_layers=cfg.decoder_depth,
        decoder_num_attention_heads=cfg.decoder_heads, decoder_intermediate_size=4*cfg.decoder_dim,
        mask_ratio=cfg.mask_ratio, norm_pix_loss=cfg.norm_pix_loss, qkv_bias=True, attn_implementation='sdpa'))


def step_fn(model, x, bf16, hf=False):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.05)
    def step():
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
            loss = model(pixel_values=x).loss if hf else model(x)[0]
        opt.zero_grad(); loss.backward(); opt.step()
    return step


def images_per_s(step, bs, steps):
    step(); step()
    t = time.perf_counter()
    for _ in range(steps): step()
    return bs*steps / (time.perf_counter() - t)


def flops_per_step(step):
    with FlopCounterMode(display=False) as fc: step()
    return fc.get_total_flops()


def matmul_rate(dtype, n=2048, repeats=5):
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    t = time.perf_counter()
    for _ in range(repeats): a @ b
    return 2*n**3*repeats / (time.perf_counter() - t)


def fastai_vs_bare(batches):
    "Images/s of one fastai epoch and of a bare loop over the same DataLoader (tiny survey, AstroMAE augmentations)."
    from astronb.augment import astromae_augmentations, CenterCrop
    from astronb.data import astromae_split, pretrain_dls, read_survey
    from astronb.survey import SurveyConfig, make_survey
    with tempfile.TemporaryDirectory() as tmp:
        data = read_survey(make_survey(SurveyConfig(n=256*batches*10//8 + 256, seed=1), Path(tmp)/'s.h5', progress=False))
        dls = pretrain_dls(data, astromae_split(len(data), seed=0), bs=256, augs=astromae_augmentations(), valid_augs=[CenterCrop(32)])
        cfg = mae_preset('astromae_plain')
        learn = mae_learner(dls, cfg)
        learn.fit(1, 1e-4)                              # warm-up epoch
        t = time.perf_counter(); learn.fit(1, 1e-4); fastai_s = time.perf_counter() - t
        n_train = len(dls.train) * 256
        model = MAE(cfg); opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=cfg.betas, weight_decay=cfg.weight_decay)
        def bare_epoch():
            model.train()
            for x, _ in dls.train:
                loss = model(x)[0]; opt.zero_grad(); loss.backward(); opt.step()
            model.eval()
            with torch.no_grad():
                for x, _ in dls.valid: model(x)
        bare_epoch()
        t = time.perf_counter(); bare_epoch(); bare_s = time.perf_counter() - t
    return dict(fastai_epoch_images_per_s=n_train/fastai_s, bare_loop_images_per_s=n_train/bare_s,
                fastai_over_bare=bare_s/fastai_s)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--steps', type=int, default=5, help='timed training steps per configuration')
    ap.add_argument('--epoch-batches', type=int, default=20, help='batches of 256 in the fastai-vs-bare epoch')
    ap.add_argument('--json', type=Path)
    args = ap.parse_args()
    torch.set_num_threads(2); torch.manual_seed(0)
    bs, res = 256, {}
    x = torch.randn(bs, 5, 32, 32)
    res['matmul_fp32_gflops'] = matmul_rate(torch.float32)/1e9
    res['matmul_bf16_gflops'] = matmul_rate(torch.bfloat16)/1e9
    for prec, bf16 in (('fp32', False), ('bf16', True)):
        hf = hf_mae(mae_preset('astromae_plain'))
        res[f'hf_vitmae_{prec}_images_per_s'] = images_per_s(step_fn(hf, x, bf16, hf=True), bs, args.steps)
        for name in ('astromae_plain', 'astromae_pcm'):
            model = MAE(mae_preset(name))
            step = step_fn(model, x, bf16)
            ips = images_per_s(step, bs, args.steps)
            res[f'{name}_{prec}_images_per_s'] = ips
            res[f'{name}_{prec}_over_hf'] = ips / res[f'hf_vitmae_{prec}_images_per_s']
            gflop = flops_per_step(step)/1e9
            res[f'{name}_{prec}_achieved_gflops'] = gflop * ips / bs
            res[f'{name}_{prec}_fraction_of_matmul_rate'] = res[f'{name}_{prec}_achieved_gflops'] / res[f'matmul_{prec}_gflops']
    res.update(fastai_vs_bare(args.epoch_batches))
    for k, v in res.items(): print(f'{k:45s} {v:10.3f}')
    if args.json: args.json.write_text(json.dumps(res, indent=2))


if __name__ == '__main__': main()
