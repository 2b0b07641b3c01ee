"""A small redshift regression trained through `astronb.learner.fit_run`, for the distributed tests.

Run it with `python tests/ddp_regression.py SURVEY OUT` (one process) or under
`accelerate launch --multi_gpu --num_processes 2 tests/ddp_regression.py SURVEY OUT` (two; on a machine
without GPUs accelerate runs them on the CPU with gloo). Every rank writes its final
parameters to `OUT/params-RANK.safetensors`; rank 0's checkpoints in `OUT/run` hold the metrics.
"""
import sys
from pathlib import Path

import numpy as np
import torch
from fastai.learner import Learner
from fastai.optimizer import Adam
from fastai.torch_core import rank_distrib, set_seed
from safetensors.torch import save_file

from astronb.augment import CenterCrop
from astronb.data import read_survey, redshift_dls
from astronb.checkpoint import fit_run
from astronb.metrics import photoz_metrics
from astronb.schedulers import sched_warmup_cosine


def main(survey, out):
    out = Path(out)
    data = read_survey(survey)
    perm = np.random.default_rng(0).permutation(len(data))
    split = dict(train=np.sort(perm[:640]), valid=np.sort(perm[640:843]))   # 203 validation galaxies: padding to trim
    dls = redshift_dls(data, split, bs=64, magnitudes=None, augs=[CenterCrop(32)], valid_augs=[CenterCrop(32)], seed=0, device='cpu')
    set_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(5, 16, 3, stride=2), torch.nn.GELU(), torch.nn.Conv2d(16, 32, 3, stride=2),
                                torch.nn.GELU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(32, 1),
                                torch.nn.Flatten(0))
    learn = Learner(dls, model, loss_func=torch.nn.functional.mse_loss, opt_func=Adam, metrics=photoz_metrics())
    fit_run(learn, 3, out/'run', sched=sched_warmup_cosine(3e-3, 3, 1), config=dict(task='ddp-test'))
    save_file({k: v.contiguous() for k, v in learn.model.state_dict().items()}, str(out/f'params-{rank_distrib()}.safetensors'))


if __name__ == '__main__': main(*sys.argv[1:])
