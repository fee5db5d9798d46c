#!/usr/bin/env bash
# Mutation testing of mien's core pure-Python modules with mutmut 3.x.
# Config (modules to mutate, test files to run, fork-server isolation) is the [mutmut]
# section of setup.cfg. mutmut copies src/, tests/ and README.md into ./mutants/ and runs
# pytest there; ./mutants/ is scratch (not committed) and holds the cached results, so a
# re-run only re-tests mutants of functions that changed. Pass --fresh to start over.
#
#   scripts/mutation.sh            # run (or resume) and print the summary
#   scripts/mutation.sh --fresh    # discard ./mutants and run from scratch
#   scripts/mutation.sh 'mien.geometry*'   # (re-)run only the mutants matching a glob
#   .venv/bin/mutmut results --all true   # every mutant's status afterwards
#   .venv/bin/mutmut show <name>          # the diff of one mutant
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
MUTMUT=.venv/bin/mutmut
[ -x "$MUTMUT" ] || .venv/bin/pip install 'mutmut==3.8.1'
if [ "${1:-}" = "--fresh" ]; then rm -rf mutants; shift; fi
# One BLAS/OpenMP thread per worker: two workers share the machine, and thread pools do
# not survive the fork server's fork.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
"$MUTMUT" run --max-children "${MUTMUT_CHILDREN:-2}" "$@"
"$PY" - <<'PY'
"""Per-module summary from mutmut's result files (mutants/**/*.py.meta)."""
import json, pathlib, collections
counts = collections.defaultdict(collections.Counter)
from mutmut.stats import status_by_exit_code as status  # mutmut's own exit-code map
for meta in sorted(pathlib.Path("mutants").rglob("*.py.meta")):
    module = str(meta.relative_to("mutants"))[: -len(".meta")]
    data = json.loads(meta.read_text())
    for name, code in data.get("exit_code_by_key", {}).items():
        counts[module][status[code]] += 1
total = collections.Counter()
for module, c in counts.items():
    total.update(c)
    print(f"{module:34s} " + "  ".join(f"{k}={v}" for k, v in sorted(c.items())))
tested = total["killed"] + total["survived"] + total["timeout"]
print(f"{'TOTAL':34s} " + "  ".join(f"{k}={v}" for k, v in sorted(total.items())))
if tested:
    print(f"score (killed+timeout)/(killed+timeout+survived) = "
          f"{100 * (total['killed'] + total['timeout']) / tested:.1f}%")
PY
"$MUTMUT" results
