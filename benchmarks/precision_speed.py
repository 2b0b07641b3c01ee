"""bf16 autocast against fp32 for MAE training steps on this machine's CPU, and which one `--precision auto` picks.

On a CPU with native bf16 (AVX512-BF16 or AMX) bf16 is the faster; on one with AVX2 only PyTorch emulates bf16 matrix
multiplies and bf16 is many times slower. For each preset (default: `tiny_plain`, the Table IV tutorial's, and
`astromae_plain`), one training step (forward, backward, fused AdamW) at batch `--bs`, the two precisions taking turns,
`--rounds` times; the median step counts. Reports images/s of each, bf16 over fp32, the CPU capability torch sees and
`astronb.learner.auto_precision`'s choice, which should be the faster of the two.

    python benchmarks/precision_speed.py [--presets tiny_plain astromae_plain] [--bs 128] [--rounds 5] [--json PATH]
"""
import argparse, json
from pathlib import Path

import torch
from common import interleaved_images_per_s
from mae_throughput import step_fn

from astronb.learner import auto_precision, native_amp
from astronb.mae import MAE, mae_preset


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--presets', nargs='+', default=['tiny_plain', 'astromae_plain'])
    ap.add_argument('--bs', type=int, default=128)
    ap.add_argument('--rounds', type=int, default=5, help='timed steps per precision')
    ap.add_argument('--json', type=Path)
    args = ap.parse_args()
    torch.set_num_threads(2); torch.manual_seed(0)
    res = dict(cpu_capability=torch.backends.cpu.get_cpu_capability(), native_bf16=native_amp('cpu'), auto_precision=auto_precision('cpu'))
    for name in args.presets:
        cfg = mae_preset(name)
        x = torch.randn(args.bs, cfg.encoder.in_chans, cfg.encoder.img_size, cfg.encoder.img_size)
        steps = {prec: step_fn(MAE(cfg), x, prec == 'bf16') for prec in ('fp32', 'bf16')}
        ips = interleaved_images_per_s(steps, args.bs, args.rounds, warmup=1)
        res.update({f'{name}_{prec}_images_per_s': v for prec, v in ips.items()})
        res[f'{name}_bf16_over_fp32'] = ips['bf16'] / ips['fp32']
        res[f'{name}_auto_is_faster'] = (ips['bf16'] > ips['fp32']) == (res['auto_precision'] == 'bf16')
    for k, v in res.items(): print(f'{k:40s} {v:.3f}' if isinstance(v, float) else f'{k:40s} {v}')
    if args.json: args.json.write_text(json.dumps(res, indent=2))


if __name__ == '__main__': main()
