#!/usr/bin/env bash
# The README's second command: set up (if needed) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
set +e
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
code=$?
set -e
if [ "$code" = 5 ]; then echo "no tests were collected" >&2; exit 1; fi
exit "$code"
