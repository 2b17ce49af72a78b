#!/usr/bin/env bash
# test.sh — the README's second command: install what is missing, build with AddressSanitizer
# and UndefinedBehaviorSanitizer and -Werror, and run every test with ctest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install-deps.sh"
build="$root/build/test"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DFERRY_SANITIZE=ON -DFERRY_WERROR=ON >/dev/null
cmake --build "$build" -j"$(nproc)"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
# In CI (which sets CI), each fuzz target of tests/sh/fuzz.sh runs a minute, not 10 s.
if [ -n "${CI:-}" ]; then
	export FERRY_FUZZ_SECONDS="${FERRY_FUZZ_SECONDS:-60}"
fi
cd "$build"
ctest --output-on-failure -j"$(nproc)" "$@"
