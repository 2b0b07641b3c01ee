"Fixtures and helpers the integration tests share."
import contextlib, io, signal, subprocess, sys, time

import pytest

from astronb.survey import SurveyConfig, make_survey


@pytest.fixture(scope='session')
def survey(tmp_path_factory):
    "A 1,024-galaxy embedded survey, made once for every test that trains on it."
    return make_survey(SurveyConfig(n=1024, seed=0), tmp_path_factory.mktemp('data')/'survey.h5', workers=2, progress=False)


CLI = [sys.executable, '-m', 'astronb.cli']     # the console command, as `accelerate launch -m` and users run it


def astronb(*args, fresh:bool=False) -> subprocess.CompletedProcess:
    """`astronb ARGS`: its exit code (2 for refused input), stdout and stderr. Run in this process, which saves an interpreter
    start-up per command, or (`fresh`) in a new interpreter as a user runs it; each test module does that at least once."""
    args = [str(a) for a in args]
    if fresh: return subprocess.run(CLI + args, capture_output=True, text=True)
    from astronb.cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try: main(args); code = 0
        except SystemExit as e: code = e.code
    return subprocess.CompletedProcess(['astronb', *args], code, out.getvalue(), err.getvalue())


def kill_in_third_epoch(cmd, run_dir, timeout=300):
    "Start training command `cmd` writing checkpoints to `run_dir`, and SIGKILL it half a second after its second checkpoint appears."
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    while not (run_dir/'epoch-0001.json').exists():
        assert proc.poll() is None and time.time() - t0 < timeout, 'the run ended before its second checkpoint'
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL); proc.wait()
