"Fixtures and helpers the integration tests share."
import signal, subprocess, time

import pytest

from astronb.survey import SurveyConfig, make_survey


@pytest.fixture(scope='session')
def survey(tmp_path_factory):
    "A 1,024-galaxy embedded survey, made once for every test that trains on it."
    return make_survey(SurveyConfig(n=1024, seed=0), tmp_path_factory.mktemp('data')/'survey.h5', workers=2, progress=False)


def kill_in_third_epoch(cmd, run_dir, timeout=300):
    "Start training command `cmd` writing checkpoints to `run_dir`, and SIGKILL it half a second after its second checkpoint appears."
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    while not (run_dir/'epoch-0001.json').exists():
        assert proc.poll() is None and time.time() - t0 < timeout, 'the run ended before its second checkpoint'
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL); proc.wait()
