#!/usr/bin/env bash
# Runs each fuzz target given as pkg:Func for FUZZTIME (make fuzz). A target fails the run when
# it finds an input that fails (Go writes it to testdata/fuzz/<Func>/). go1.26's fuzz
# coordinator can also fail a target at the very end of -fuzztime with a bare "context deadline
# exceeded" and no failing input (go.dev/issue/75804, fixed in Go 1.27): that run is retried
# once and reported, never passed silently.
set -uo pipefail
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}
flakes=0
for t in "$@"; do
	pkg=${t%%:*} fn=${t##*:}
	for attempt in 1 2; do
		if [ "$attempt" = 1 ]; then
			echo "fuzz $pkg $fn"
		else
			echo "fuzz $pkg $fn again: the first run ended on the coordinator's deadline with no failing input"
		fi
		out=$($GO test "$pkg" -run '^$' -fuzz "^$fn\$" -fuzztime "$FUZZTIME" -parallel 1 2>&1)
		rc=$?
		echo "$out" | tail -n 4
		[ $rc -eq 0 ] && break
		if [ "$attempt" = 1 ] && grep -q 'context deadline exceeded' <<<"$out" && ! grep -q 'Failing input written to' <<<"$out"; then
			flakes=$((flakes + 1))
			continue
		fi
		echo "$out"
		exit 1
	done
done
echo "fuzz: ${#@} targets passed ($flakes retried after go.dev/issue/75804)"
