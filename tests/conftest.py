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
    """Start training command `cmd` writing checkpoints to `run_dir`, and SIGKILL it half an epoch after its second checkpoint
    appears. The epoch is timed from the first checkpoint to the second, so the kill falls inside the third epoch on a fast
    machine too (a fixed half second outlasted a whole epoch of the tiny test run on CI's machine)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0, seen = time.time(), {}
    while 1 not in seen:
        assert proc.poll() is None and time.time() - t0 < timeout, 'the run ended before its second checkpoint'
        for e in (0, 1):
            if e not in seen and (run_dir/f'epoch-{e:04d}.json').exists(): seen[e] = time.time()
        time.sleep(0.01)
    time.sleep((seen[1] - seen.get(0, seen[1])) / 2)
    proc.send_signal(signal.SIGKILL); proc.wait()
