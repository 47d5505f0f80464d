#!/usr/bin/env bash
# npm test (after pretest's build): every test with tap, and beside it the tests' type check and the linter
# (they take a core for ~45 s while the tests mostly wait on the kernel and the clock). Exits non-zero if any
# of the three failed; their output comes after tap's. Arguments go to tap (e.g. a test file).
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p build
checks=build/static-checks.log
(npx tsc -p test/tsconfig.json && npm run lint --silent) > "$checks" 2>&1 &
static=$!
npx tap "$@"
rc=$?
wait "$static"
src=$?
if [ "$src" -ne 0 ]; then
  cat "$checks"
  echo "npm test: the type check or the linter failed (above)" >&2
fi
[ "$rc" -ne 0 ] && exit "$rc"
exit "$src"
