#!/usr/bin/env bash
# npm test (after pretest's build): every test with tap, and beside it the tests' type check and the linter
# (~45 s of a core, at the lowest priority: the tests mostly wait on the kernel and the clock, and in CI the
# kernel matrix's VM takes the other core; at equal priority they slowed the tests by more than they saved).
# Exits non-zero if any of the three failed; their output comes after tap's. Arguments go to tap (a test file).
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p build
checks=build/static-checks.log
nice -n 19 bash -c 'npx tsc -p test/tsconfig.json && npm run lint --silent' > "$checks" 2>&1 &
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
