"""Speed and memory of the embedded survey simulator.

Makes 64x64x5 surveys with spectra at two sizes and with 1 and all worker processes, in fresh
subprocesses, and reports galaxies per second, the parallel speed-up (a ratio against the 1-process run
of the same size, back to back), peak resident memory of the writer and of the largest worker at both
sizes (their ratio shows whether memory grows with N), and the projected time for 100,000 galaxies.

    python benchmarks/survey_speed.py [--n 2048] [--json PATH]
"""
import argparse, json, os, platform, subprocess, sys, tempfile
from pathlib import Path

CHILD = r'''
import json, resource, sys, time
from astronb.survey import SurveyConfig, make_survey, physics_tables, star_colours
n, workers, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
physics_tables(); star_colours()          # one-off set-up, reported separately
t0 = time.perf_counter()
make_survey(SurveyConfig(n=n, seed=1), out, workers=workers, progress=False)
dt = time.perf_counter() - t0
print(json.dumps(dict(seconds=dt, writer_peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024,
                      worker_peak_mb=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024)))
'''


def run(n, workers, tmp):
    out = Path(tmp)/f'bench-{n}-{workers}.h5'
    p = subprocess.run([sys.executable, '-c', CHILD, str(n), str(workers), str(out)],
                       capture_output=True, text=True, check=True)
    res = json.loads(p.stdout.strip().splitlines()[-1])
    res.update(n=n, workers=workers, galaxies_per_s=n/res['seconds'], file_mb=out.stat().st_size/2**20)
    out.unlink()
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--n', type=int, default=2048, help='galaxies in the larger run (the smaller is n/4)')
    ap.add_argument('--json', type=Path, help='also write the figures to this JSON file')
    args = ap.parse_args()
    cores = len(os.sched_getaffinity(0))
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (args.n//4, args.n):
            for w in sorted({1, cores}):
                runs.append(run(n, w, tmp))
                r = runs[-1]
                print(f"n={n:6d} workers={w}: {r['galaxies_per_s']:7.1f} galaxies/s, "
                      f"writer peak {r['writer_peak_mb']:6.0f} MB, worker peak {r['worker_peak_mb']:6.0f} MB, "
                      f"file {r['file_mb']:.0f} MB", flush=True)
    big = [r for r in runs if r['n'] == args.n]
    small = [r for r in runs if r['n'] == args.n//4]
    best = max(big, key=lambda r: r['galaxies_per_s'])
    summary = dict(
        machine=dict(cores=cores, python=platform.python_version(), processor=platform.processor()),
        runs=runs,
        speedup_all_cores_vs_1=best['galaxies_per_s']/big[0]['galaxies_per_s'],
        writer_peak_ratio_4x_n=big[-1]['writer_peak_mb']/small[-1]['writer_peak_mb'],
        worker_peak_ratio_4x_n=big[-1]['worker_peak_mb']/small[-1]['worker_peak_mb'],
        projected_minutes_100k=1e5/best['galaxies_per_s']/60,
        projected_file_gb_100k=best['file_mb']/args.n*1e5/1024,
    )
    print(f"speed-up with {cores} workers: {summary['speedup_all_cores_vs_1']:.2f}x; "
          f"peak memory at 4x N: writer {summary['writer_peak_ratio_4x_n']:.2f}x, worker {summary['worker_peak_ratio_4x_n']:.2f}x; "
          f"100,000 galaxies: {summary['projected_minutes_100k']:.1f} min, {summary['projected_file_gb_100k']:.1f} GB")
    if args.json: args.json.write_text(json.dumps(summary, indent=2))


if __name__ == '__main__': main()
