#!/usr/bin/env python3
"""Checks what scripts/ci-gate left in OUT, and that docs/ci/github-actions.yml runs that same
script and keeps OUT as an artifact (so the documented workflow is the tested one)."""

import json
import sys
from pathlib import Path

import yaml

out = Path(sys.argv[1])
problems = []
for path in ["conformance/report.junit.xml", "conformance/report.json", "load/report.json",
             "load/slo.junit.xml", "load-shard-0/report.json", "load-shard-1/report.json", "summary.md"]:
    if not (out / path).is_file():
        problems.append(f"missing {out / path}")
if not problems:
    merged = json.loads((out / "load/report.json").read_text())
    shards = [json.loads((out / f"load-shard-{i}/report.json").read_text()) for i in (0, 1)]
    if merged["frames"]["received"] != sum(s["frames"]["received"] for s in shards):
        problems.append("the merged report does not add up its shards' frames")
    if len(merged["slo"]) != 4 or not all(s["met"] for s in merged["slo"]):
        problems.append(f"SLO results: {merged['slo']}")
    summary = (out / "summary.md").read_text()
    if summary.count("\n# ") + summary.startswith("# ") < 2:
        problems.append("the summary does not hold both the suite's and the load's sections")

workflow = yaml.safe_load(Path("docs/ci/github-actions.yml").read_text())
steps = workflow["jobs"]["gates"]["steps"]
runs = [s for s in steps if s.get("run", "").strip() == "scripts/ci-gate"]
uploads = [s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact")]
if len(runs) != 1:
    problems.append("the workflow does not run scripts/ci-gate exactly once")
elif not uploads or uploads[0]["with"]["path"] != runs[0]["env"]["OUT"]:
    problems.append("the workflow does not keep OUT as its artifact")

for p in problems:
    print(f"ci-gate check: {p}", file=sys.stderr)
print("ci-gate check: " + ("FAILED" if problems else "reports, summary and workflow OK"))
sys.exit(1 if problems else 0)
