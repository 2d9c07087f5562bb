"""Merge every run's metrics and evaluations into one JSON; copy the best.pt files that fit."""
import json, shutil, sys, tarfile
from pathlib import Path
runs, out = Path(sys.argv[1]), Path(sys.argv[2])
result = {}
for run in sorted(p for p in runs.iterdir() if p.is_dir()):
    metrics = run / "metrics.jsonl"
    r = {"metrics": [json.loads(line) for line in metrics.read_text().splitlines()] if metrics.exists() else [],
         "evals": {p.stem: json.loads(p.read_text()) for p in sorted(run.glob("eval-*.json"))},
         "log_tail": (run / "train.log").read_text()[-3000:] if (run / "train.log").exists() else ""}
    result[run.name] = r
    for name, e in r["evals"].items():
        print(f"{run.name:10s} {name:16s} acc {e['label_accuracy']:.4f} worst {e['worst_label_accuracy']:.3f} "
              f"fid {e['fid']:.2f}/{e['fid_floor']:.2f}={e['fid']/e['fid_floor']:.2f}x "
              f"within {e['within_fid']:.2f}/{e['within_fid_floor']:.2f}={e['within_fid']/e['within_fid_floor']:.2f}x")
    best = run / "best.pt"
    if best.exists() and best.stat().st_size < 15 * 2**20:
        shutil.copyfile(best, out / f"{run.name}.best.pt")
(out / "results.json").write_text(json.dumps(result, indent=1))
with tarfile.open(out / "samples.tar", "w") as tar:
    for run in runs.iterdir():
        grids = sorted((run / "samples").glob("*.png")) if (run / "samples").is_dir() else []
        for g in grids[-1:] + grids[9:10] + grids[19:20]:
            tar.add(g, arcname=f"{run.name}-{g.name}")
