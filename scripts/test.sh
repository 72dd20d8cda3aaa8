#!/usr/bin/env bash
# Sets up everything the test suite needs, then runs all of it.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'
# The JDBC connector tests start a throwaway PostgreSQL server from Debian's package.
if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
# The web console's tests drive Debian's headless Chromium (browsers cannot be downloaded here).
if [ ! -x /usr/bin/chromedriver ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi
# Two workers (pytest-xdist), a test file to each at a time: its module fixtures start once.
exec python3 -m pytest -n 2 --dist loadfile "$@"
