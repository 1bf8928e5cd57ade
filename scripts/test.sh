#!/usr/bin/env bash
# Set up everything and run the whole test suite: unit tests, fuzz corpora
# replayed, integration tests against the real daemon, in a -Werror build
# and in an ASan+UBSan build. Ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }

scripts/install-deps.sh || exit 1
scripts/host-setup.sh || exit 1

passed=0
failed=0
results="$(mktemp -d /tmp/ocid-results.XXXXXX)"
trap 'rm -rf "$results"' EXIT

# meson test: count from its summary lines.
run_meson_tests() {
        local dir="$1" log="$results/meson-$(basename "$1").log"
        meson test -C "$dir" --print-errorlogs --num-processes 2 >"$log" 2>&1
        cat "$log"
        local ok fail
        ok=$(awk '/^Ok:/ {print $2}' "$log")
        fail=$(awk '/^(Fail|Timeout|Unexpected Pass):/ {s += $2} END {print s + 0}' "$log")
        passed=$((passed + ${ok:-0}))
        failed=$((failed + fail))
        [ -n "$ok" ] || failed=$((failed + 1))
}

# bats: count TAP lines.
run_bats() {
        local dir="$1" log="$results/bats-$(basename "$1").log"
        OCID_BUILD_DIR="$PWD/$dir" bats --tap tests/integration >"$log" 2>&1
        cat "$log"
        # A skipped test counts as a failure: this machine can run them all.
        local ok fail skip
        ok=$(grep '^ok ' "$log" | grep -vc '# skip')
        skip=$(grep '^ok ' "$log" | grep -c '# skip')
        fail=$(grep -c '^not ok ' "$log")
        grep -q "^1\.\." "$log" || fail=$((fail + 1))  # bats did not run at all
        passed=$((passed + ok))
        failed=$((failed + fail + skip))
}

for build in "build-ci -Dwerror=true" \
             "build-asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false"; do
        set -- $build
        dir="$1"
        shift
        echo "=== $dir: build"
        if ! scripts/build.sh "$dir" "$@"; then
                failed=$((failed + 1))
                continue
        fi
        echo "=== $dir: unit tests and fuzz corpora"
        if [[ "$dir" == build-asan ]]; then
                export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
        fi
        run_meson_tests "$dir"
        echo "=== $dir: integration tests"
        run_bats "$dir"
        unset ASAN_OPTIONS UBSAN_OPTIONS
done

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
