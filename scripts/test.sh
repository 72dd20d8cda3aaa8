#!/usr/bin/env bash
# Sets up everything the test suite needs, then runs all of it.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'
exec python3 -m pytest "$@"
