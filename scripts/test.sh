#!/usr/bin/env bash
# npm test: every test file, in two lanes at once. The end-to-end files mostly wait on timed
# loads rather than burn CPU, so the longest one (bundled-scenarios, every shipped scenario
# as shipped: about 40 % of the whole) runs beside all the others, each lane still one file
# at a time (vitest.config.ts). The second lane's output is kept in a log and printed after
# the first lane's, so neither is interleaved with the other. Either lane failing fails.
#
# With arguments (`npm test -- test/unit`, `npm test -- -t name`) it is plain `vitest run`.

set -u
cd "$(dirname "$0")/.."

if [ "$#" -gt 0 ]; then exec npx vitest run "$@"; fi

SECOND_LANE=test/e2e/bundled-scenarios.test.ts
lane_log="$(mktemp "${TMPDIR:-/tmp}/pgdrill-test-lane.XXXXXX")"
npx vitest run "$SECOND_LANE" >"$lane_log" 2>&1 &
lane_pid=$!
# Ctrl-C or a kill of npm test stops the second lane too (a background job ignores SIGINT);
# what its runs started, their reapers remove once the lane is gone.
trap 'kill "$lane_pid" 2>/dev/null; wait "$lane_pid" 2>/dev/null; rm -f "$lane_log"; exit 130' INT TERM

first_status=0
npx vitest run --exclude "$SECOND_LANE" || first_status=$?

second_status=0
wait "$lane_pid" || second_status=$?
trap - INT TERM
echo
echo "== second lane: vitest run $SECOND_LANE (exit $second_status), beside the first:"
cat "$lane_log"
rm -f "$lane_log"

echo "npm test: first lane (every other file) exit $first_status, second lane ($SECOND_LANE) exit $second_status"
if [ "$first_status" -ne 0 ]; then exit "$first_status"; fi
exit "$second_status"
