"""ViT classification fine-tuning throughput: astronb's fine-tuning network against timm's ViT trained by a bare loop, on 2 threads.

The C-MAE / Galaxy10 setting: 224x224x3 images, 10 classes (Galaxy10), global-average-pooled features. In one process:
- astronb: `redshift_net('from-scratch plain-ViT', n_classes=10)` with the `cmae_vit_b` encoder (ViT-B/16: width 768, depth 12,
  12 heads) built as `finetune --imagenet` builds it (learned positions, `global_pool`), its two-layer head;
- timm: `vit_base_patch16_224` (num_classes 10, global_pool 'avg'), the reference;
each taking a training step (forward, cross-entropy, backward, AdamW) on the same batch, fp32 and, where the CPU has native
bf16, bf16 autocast. The models take one step each in turn, `--rounds` times; each one's median step counts.
`--model tiny` runs the ViT-Ti/16 pair instead (width 192, 3 heads: a quick check).

    python benchmarks/vit_finetune_throughput.py [--json PATH] [--rounds 5] [--bs 8] [--model base|tiny]
"""
import argparse, json
from dataclasses import replace

import timm, torch
from common import interleaved_images_per_s, machine_rates

from astronb.heads import redshift_net
from astronb.mae import mae_preset

MODELS = dict(base=('cmae_vit_b', 'vit_base_patch16_224', {}), tiny=('cmae_vit_b', 'vit_tiny_patch16_224', dict(embed_dim=192, num_heads=3)))


def networks(model:str, n_classes:int=10) -> dict:
    "astronb's fine-tuning network and timm's ViT of the same shape."
    preset, timm_name, shape = MODELS[model]
    vit = replace(mae_preset(preset).encoder, **shape, pos_embed='learned', global_pool=True)
    return dict(astronb=redshift_net('from-scratch plain-ViT', vit=vit, in_chans=3, n_classes=n_classes),
                timm=timm.create_model(timm_name, pretrained=False, num_classes=n_classes, global_pool='avg'))


def step_fn(model, x, y, bf16:bool):
    "One training step of `model` on (x, y): forward, cross-entropy, backward, AdamW (C-MAE Table 10's betas and weight decay)."
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05)
    model.train()
    def step():
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
            loss = torch.nn.functional.cross_entropy(model(x).float(), y)
        opt.zero_grad(); loss.backward(); opt.step()
    return step


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--json', default=None); p.add_argument('--rounds', type=int, default=5); p.add_argument('--bs', type=int, default=8)
    p.add_argument('--threads', type=int, default=2); p.add_argument('--model', default='base', choices=list(MODELS))
    a = p.parse_args()
    res, bf16_native = machine_rates(a.threads)
    nets = networks(a.model)
    res['parameters'] = {k: sum(q.numel() for q in m.parameters()) for k, m in nets.items()}
    x, y = torch.randn(a.bs, 3, 224, 224), torch.randint(0, 10, (a.bs,))
    for prec in ('fp32', 'bf16') if bf16_native else ('fp32',):
        rates = interleaved_images_per_s({k: step_fn(m, x, y, prec == 'bf16') for k, m in nets.items()}, a.bs, a.rounds)
        res.update({f'{k}_{prec}_images_per_s': v for k, v in rates.items()})
        res[f'astronb_over_timm_{prec}'] = rates['astronb'] / rates['timm']
    for k, v in res.items(): print(f'{k:32s} {v if isinstance(v, dict) else round(v, 3)}')
    if a.json: json.dump(res, open(a.json, 'w'), indent=2)


if __name__ == '__main__': main()
