#!/bin/sh
# Entry point of every npm script: make a fresh Debian machine ready, then hand over to the
# Deno task of the same name. It installs what is missing (npm ci; Debian packages when we
# are root and apt is here) and otherwise stops with the exact list of what to install.
set -eu
cd "$(dirname "$0")/.."

task="${1:?usage: scripts/bootstrap.sh <deno task> [args...]}"
shift

if [ ! -x node_modules/.bin/deno ] || [ ! -x node_modules/.bin/supabase ]; then
  echo "stagecoach: installing the pinned tools (npm ci)"
  npm ci --no-audit --no-fund
fi

# Postgres 15 with pg_cron (the local clusters), pgTAP + pg_prove (database tests),
# plpgsql_check (used by `supabase db lint`) and shellcheck (the workflows' run: blocks).
packages="postgresql-15 postgresql-contrib postgresql-15-cron postgresql-15-pgtap postgresql-15-plpgsql-check libtap-parser-sourcehandler-pgtap-perl shellcheck"
# The console's browser tests drive Debian's Chromium (playwright-core downloads no browser).
if [ "$task" = "test" ]; then
  packages="$packages chromium"
fi
missing=""
for p in $packages; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "stagecoach: installing Debian packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
  else
    echo "stagecoach: missing Debian packages:$missing" >&2
    echo "install them first:  sudo apt-get install -y$missing" >&2
    exit 1
  fi
fi

export PATH="$PWD/node_modules/.bin:$PATH"
exec deno task "$task" "$@"
