"""MoCo pretraining through `astronb.learner.fit_run`, for the distributed test of `test_moco.py`.

`python tests/moco_ddp.py SURVEY OUT` (one process, two batch-norm sub-batches) or
`accelerate launch --multi_gpu --num_processes 2 tests/moco_ddp.py SURVEY OUT` (two processes, one each; on a
machine without GPUs accelerate runs them on the CPU with gloo). The views are deterministic centre crops,
so the only randomness is the model's: initialisation and the key shuffle. Every rank writes its final
weights, key encoder and queue included, to `OUT/state-RANK.safetensors`; rank 0's checkpoints in `OUT/run`
hold the losses.
"""
import sys
from pathlib import Path

import numpy as np
from fastai.torch_core import rank_distrib, set_seed
from safetensors.torch import save_file

from astronb.augment import CenterCrop
from astronb.checkpoint import fit_run
from astronb.data import pretrain_dls, read_survey
from astronb.moco import moco_learner, moco_preset, moco_schedule


def main(survey, out):
    out = Path(out)
    data = read_survey(survey)
    perm = np.random.default_rng(0).permutation(len(data))
    split = dict(pretrain=np.sort(perm[:128]), pretrain_valid=np.sort(perm[128:192]))   # 4 steps of 32: see test_moco.py
    dls = pretrain_dls(data, split, bs=32, augs=[CenterCrop(32)], valid_augs=[CenterCrop(32)], views=2, seed=0, device='cpu')
    cfg = moco_preset('cpu_resnet18', queue=100, bn_splits=2, proj_dim=16, backbone=dict(img_size=32, channels=(8, 16, 16, 32)))
    set_seed(0)
    learn = moco_learner(dls, cfg)
    fit_run(learn, 1, out/'run', sched=moco_schedule(cfg, 1, 32, lr=0.003), config=dict(task='moco-ddp-test'))
    save_file({k: v.contiguous() for k, v in learn.model.state_dict().items()}, str(out/f'state-{rank_distrib()}.safetensors'))


if __name__ == '__main__': main(*sys.argv[1:])
