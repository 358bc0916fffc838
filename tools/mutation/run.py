"""``make mutation``: mutmut over the modules that decide money, labels, detections and rankings.

For each target of ``targets.py``, mutmut 3 mutates the target's module, runs only the mutants of
its scope, one at a time (``--max-children 1``: one core), each against the target's unit tests that
call the mutated function. It works on a scratch copy of the repository, so the working tree is
never modified, and prints the score per module (killed / survived / equivalent / timeout);
``--report FILE`` also writes the table with every non-equivalent survivor's diff.

    .venv/bin/python tools/mutation/run.py [--target NAME ...] [--report runs/mutation.md]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from equivalent import EQUIVALENT
from targets import TARGETS, Target

REPO = Path(__file__).resolve().parents[2]
SHARED = (REPO.parent / "shared").resolve()
KILLED = ("killed", "timeout", "segfault", "caught by type check")
SURVIVED = ("survived", "no tests")


def scratch_copy(folder: Path) -> Path:
    """The repository's tracked and untracked (not ignored) files, copied under ``folder``."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, files):
        if (REPO / name).is_file():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, folder / name)
    return folder


def configure(repo: Path, target: Target) -> None:
    """``[tool.mutmut]`` of ``target`` in the scratch copy's pyproject.toml; no earlier mutants."""
    shutil.rmtree(repo / "mutants", ignore_errors=True)
    settings = {"source_paths": [target.path], "also_copy": ["vehiclekit", "tests", "deploy"],
                "pytest_add_cli_args_test_selection": list(target.tests),
                "pytest_add_cli_args": ["-p", "no:cacheprovider"]}
    lines = "\n".join(f"{key} = {json.dumps(value)}" for key, value in settings.items())
    (repo / "pyproject.toml").write_text((REPO / "pyproject.toml").read_text() + f"\n[tool.mutmut]\n{lines}\n")


def mutmut(repo: Path, *args: str) -> str:
    # One thread: one core, and no OpenMP pool inherited by the forked child running a mutant (it hangs).
    env = {**os.environ, "VEHICLEKIT_DATA": str(SHARED / "data"), "VEHICLEKIT_MODELS": str(SHARED / "models"),
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "mutmut", *args], cwd=repo, env=env, capture_output=True, text=True)
    return done.stdout + done.stderr


def changed_lines(diff: str) -> tuple[str, str]:
    """The original and the mutated line of a ``mutmut show`` diff (stripped; "" for a removed line)."""
    lines = diff.splitlines()
    minus = next((line[1:].strip() for line in lines if line.startswith("-") and not line.startswith("---")), "")
    plus = next((line[1:].strip() for line in lines if line.startswith("+") and not line.startswith("+++")), "")
    return minus, plus


def score(repo: Path, target: Target) -> dict:
    """Run mutmut on ``target``'s scope; counts and the non-equivalent survivors' diffs."""
    configure(repo, target)
    start = time.monotonic()
    output = mutmut(repo, "run", "--max-children", "1", *target.mutant_patterns)
    prefixes = tuple(p.removesuffix("*") for p in target.mutant_patterns)
    statuses = dict(line.strip().rsplit(": ", 1) for line in mutmut(repo, "results", "--all", "true").splitlines()
                    if line.strip().startswith(prefixes))
    equivalents = {(name, old, new) for name, old, new, _ in EQUIVALENT}
    survivors, equivalent = [], 0
    for mutant in sorted(m for m, status in statuses.items() if status in SURVIVED):
        diff = mutmut(repo, "show", mutant)
        if (target.name, *changed_lines(diff)) in equivalents:
            equivalent += 1
        else:
            survivors.append(f"{mutant} ({statuses[mutant]})\n{diff.strip()}")
    counted = KILLED + SURVIVED
    if any(s not in counted for s in statuses.values()):       # e.g. the tests failed without any mutant
        print(f"{target.name}: mutants not run; mutmut said:\n{output[-3000:]}", file=sys.stderr)
    return {"killed": sum(s in KILLED for s in statuses.values()), "survived": len(survivors),
            "equivalent": equivalent, "timeout": sum(s == "timeout" for s in statuses.values()),
            "other": sum(s not in counted for s in statuses.values()), "seconds": time.monotonic() - start,
            "survivors": survivors}


def table(results: dict[str, dict]) -> str:
    rows = ["| module | mutants | killed | survived | equivalent | score | time |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for name, r in results.items():
        tested = r["killed"] + r["survived"]
        rate = f"{100 * r['killed'] / tested:.0f} %" if tested else "-"
        other = f" (+{r['other']} not run)" if r["other"] else ""
        rows.append(f"| {name} | {tested + r['equivalent']}{other} | {r['killed']} ({r['timeout']} by timeout) "
                    f"| {r['survived']} | {r['equivalent']} | {rate} | {r['seconds'] / 60:.1f} min |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", action="append", choices=[t.name for t in TARGETS],
                        help="only this target (repeatable); default: all")
    parser.add_argument("--report", type=Path, help="also write the table and the survivors' diffs here")
    args = parser.parse_args(argv)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="vehiclekit-mutation-") as folder:
        repo = scratch_copy(Path(folder))
        for target in (t for t in TARGETS if not args.target or t.name in args.target):
            results[target.name] = score(repo, target)
            print(table({target.name: results[target.name]}).splitlines()[-1], flush=True)
            if args.report:
                write_report(args.report, results)          # after each module: a long run can be read as it goes
    print("\n" + table(results))
    return 0


def write_report(path: Path, results: dict[str, dict]) -> None:
    survivors = [f"### {name}\n\n" + "\n\n".join(f"```diff\n{d}\n```" for d in r["survivors"])
                 for name, r in results.items() if r["survivors"]]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(table(results) + "\n\n## Survivors (not equivalent)\n\n" + "\n\n".join(survivors) + "\n")


if __name__ == "__main__":
    sys.exit(main())
