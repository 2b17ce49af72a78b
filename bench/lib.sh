# bench/lib.sh: helpers shared by the benchmarks in bench/*/run.sh. Source it:
#   . "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
# shellcheck shell=bash

# The repository root and bench/out, from this file's location.
bench_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_out=$bench_root/bench/out

bench_die() { echo "bench: $*" >&2; exit 1; }

# bench_need CMD...: every command must be on PATH.
bench_need() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null || bench_die "$c not found"
    done
}

# bench_ferry: prints the ferry binary to use ($FERRY, default build/ferry), or dies.
bench_ferry() {
    local f=${FERRY:-$bench_root/build/ferry}
    [[ -x $f ]] || bench_die "no ferry at $f; build it first (cmake -S . -B build && cmake --build build) or set FERRY"
    printf '%s\n' "$f"
}

# bench_need_time: GNU time (/usr/bin/time, Debian/Ubuntu package "time") measures wall time
# and peak RSS; the shell keyword does not.
bench_need_time() {
    if ! [[ -x /usr/bin/time ]] || ! /usr/bin/time -f '%e %M' true >/dev/null 2>&1; then
        bench_die "/usr/bin/time (GNU time) is missing; install it (apt-get install time)"
    fi
}

# bench_time LOG CMD...: runs CMD with its output in LOG; prints "SECONDS MAX_RSS_KB" and
# returns CMD's exit code.
bench_time() {
    local log=$1 tf rc=0
    shift
    tf=$(mktemp)
    /usr/bin/time -f '%e %M' -o "$tf" "$@" >"$log" 2>&1 || rc=$?
    # GNU time writes "Command exited with non-zero status N" before its line on failure.
    tail -n 1 "$tf"
    rm -f "$tf"
    return "$rc"
}

# bench_result_open NAME: start bench/out/NAME.txt (overwritten); bench_say then prints a line
# and appends it there.
bench_result_open() {
    mkdir -p "$bench_out"
    bench_result_file=$bench_out/$1.txt
    : >"$bench_result_file"
}
bench_say() {
    printf '%s\n' "$*"
    if [[ -n ${bench_result_file:-} ]]; then printf '%s\n' "$*" >>"$bench_result_file"; fi
}

# bench_env FERRY: one line describing where the numbers come from.
bench_env() {
    local ver rev
    ver=$("$1" --version 2>/dev/null | head -n 1) || ver=
    rev=$(git -C "$bench_root" rev-parse --short HEAD 2>/dev/null) || rev=
    ver=${ver//[[:space:]]/_}
    printf 'env date=%s host=%s cpus=%s sqlite=%s ferry=%s commit=%s\n' \
        "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(uname -n)" "$(nproc 2>/dev/null || echo '?')" \
        "$(sqlite3 --version | cut -d' ' -f1)" "${ver:-unknown}" "${rev:-none}"
}
