"Integration tests of the data layer: loader worker processes, and a large file read lazily."
import resource

import numpy as np, pytest, torch

from astronb.augment import astromae_augmentations
from astronb.data import astromae_split, pretrain_dls, read_survey, redshift_dls
from astronb.survey import SurveyConfig, make_survey


@pytest.fixture(scope='module')
def survey(tmp_path_factory):
    return make_survey(SurveyConfig(n=200, seed=4), tmp_path_factory.mktemp('s')/'s.h5', workers=1, progress=False)


def test_worker_processes_read_the_same_batches(survey):
    "HDF5 handles are re-opened in forked loader workers; batches equal those of the main process."
    data = read_survey(survey)
    split = astromae_split(len(data), seed=0)
    split['train'] = split['pretrain'][:64]
    main = [b for b in redshift_dls(data, split, bs=16, num_workers=0).train]
    workers = [b for b in redshift_dls(data, split, bs=16, num_workers=2).train]
    assert len(main) == len(workers) == 4
    for a, b in zip(main, workers):
        for x, y in zip(a, b): torch.testing.assert_close(x.as_subclass(torch.Tensor), y.as_subclass(torch.Tensor))


def test_augmented_pretraining_batches_are_reproducible_with_workers(survey):
    data = read_survey(survey)
    split = astromae_split(len(data), seed=0)
    a = [b[0] for b in pretrain_dls(data, split, bs=32, augs=astromae_augmentations(), seed=7, num_workers=2).train]
    b = [b[0] for b in pretrain_dls(data, split, bs=32, augs=astromae_augmentations(), seed=7, num_workers=0).train]
    for x, y in zip(a, b): torch.testing.assert_close(x.as_subclass(torch.Tensor), y.as_subclass(torch.Tensor))


def test_opening_reads_no_images(survey):
    "Opening a survey and reading one galaxy does not load the image array (memory stays flat)."
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    datas = [read_survey(survey) for _ in range(20)]          # 20 x 16 MB of images if they were read
    img = datas[-1].image(123)
    assert img.shape == (5, 64, 64) and np.isfinite(img).all()
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000   # kB
