"""AstroCLIP's loss over a global batch split between processes, for `test_clip.py`.

`python tests/clip_ddp.py OUT` (one process) or `accelerate launch --multi_gpu --num_processes 2 tests/clip_ddp.py OUT`
(two processes; gloo on a machine without GPUs). The same 16 image and spectrum embeddings are made in every process;
each takes its share of the rows, computes `clip_loss` against the gathered global batch and backpropagates. Every rank
writes the global loss (the mean of the ranks') and the gradient of the global loss with respect to its rows (its own
gradient over the number of processes, as DDP averages) to `OUT/grads-RANK.safetensors`.
"""
import os, sys
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from safetensors.torch import save_file

from astronb.clip import clip_loss


def main(out):
    out = Path(out); out.mkdir(parents=True, exist_ok=True)
    world = int(os.environ.get('WORLD_SIZE', 1))
    if world > 1: dist.init_process_group('gloo')
    rank = dist.get_rank() if world > 1 else 0
    g = torch.Generator().manual_seed(0)
    z_image, z_spectrum = (F.normalize(torch.randn(16, 8, generator=g), dim=1) for _ in range(2))
    n = 16 // world
    mine = [z[rank*n:(rank + 1)*n].clone().requires_grad_() for z in (z_image, z_spectrum)]
    loss = clip_loss(*mine, torch.tensor(1 / 0.07))
    loss.backward()
    total = loss.detach().clone()
    if world > 1: dist.all_reduce(total)
    save_file({'loss': (total / world).reshape(1), 'grad_image': mine[0].grad / world, 'grad_spectrum': mine[1].grad / world},
              str(out/f'grads-{rank}.safetensors'))
    if world > 1: dist.destroy_process_group()


if __name__ == '__main__': main(*sys.argv[1:])
