#!/usr/bin/env bash
# fuzz.sh — fuzz what ferry reads from outside: build the libFuzzer targets of tests/fuzz
# (a label's chunk files and manifest.json, a plan file, a database address) with clang, AddressSanitizer and UndefinedBehaviorSanitizer, run each for a
# short while from fresh and committed seeds, and fail on any crash, leak, timeout or
# allocation past 64 MiB (so an unbounded allocation is caught). No clang or no libFuzzer
# runtime is a failure, not a skip (Debian 12: apt-get install clang libclang-rt-14-dev).
#
# Run longer by hand, e.g. ten minutes per target (CI: tests/sh/fuzz-long.sh, 60 s each):
#   FERRY_FUZZ_SECONDS=600 bash tests/sh/fuzz.sh build/ferry
# Crash inputs are written to $FERRY_FUZZ_ARTIFACTS (default: a temp dir, printed on failure);
# replay one with the built target: fuzz_chunk CRASH_FILE.
source "$(dirname "$0")/lib.sh"
SRC="${FERRY_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}"
secs="${FERRY_FUZZ_SECONDS:-10}"
CC="${FERRY_FUZZ_CC:-clang}"
art="${FERRY_FUZZ_ARTIFACTS:-$T/artifacts}"
mkdir -p "$art"

if ! command -v "$CC" > /dev/null 2>&1; then
	fail "no $CC to build the fuzz targets (install clang and libclang-rt-14-dev)"
	finish
fi
cat > "$T/probe.c" << 'EOF'
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }
EOF
if ! "$CC" -fsanitize=fuzzer,address,undefined "$T/probe.c" -o "$T/probe" > "$T/probe.log" 2>&1; then
	fail "$CC cannot link libFuzzer (install libclang-rt-14-dev): $(tail -n 1 "$T/probe.log")"
	finish
fi
if ! deps="$(pkg-config --cflags --libs libzstd libxxhash jansson 2> "$T/pc.log")" ||
	! alldeps="$(pkg-config --cflags --libs sqlite3 yaml-0.1 libxxhash libzstd jansson nettle 2>> "$T/pc.log") $(pkg-config --cflags libpq 2>> "$T/pc.log")"; then
	fail "pkg-config: $(cat "$T/pc.log")"
	finish
fi

# The label module and the little it stands on; not the whole library, so these targets
# build whatever state the rest of the tree is in.
srcs=(src/label/chunk.c src/label/manifest.c src/label/paths.c src/value.c src/batch.c
      src/util/alloc.c src/util/arena.c src/util/buf.c src/util/error.c src/util/hash.c
      src/util/fs.c src/util/time.c src/util/hex.c src/util/utf8.c)
common=(-std=c11 -g -O1 -D_GNU_SOURCE -DFERRY_ARENA_MALLOC -I"$SRC/src" -I"$SRC/include"
        -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
build() { # build OUT SANITIZERS DEFINES FILES...
	local out=$1 san=$2 def=$3
	shift 3
	# shellcheck disable=SC2086
	(cd "$SRC" && "$CC" "${common[@]}" -fsanitize="$san" $def "$@" "${srcs[@]}" $deps -lm \
		-o "$out") > "$T/build.log" 2>&1
}

# Seeds made by this tree's own writer, so they follow the format as it is now.
if build "$T/gen_corpus" address,undefined "" tests/fuzz/gen_corpus.c &&
	ASAN_OPTIONS=detect_leaks=1 "$T/gen_corpus" "$T/gen" > "$T/gen.log" 2>&1; then
	ok "seed generator"
else
	fail "seed generator: $(tail -n 5 "$T/build.log" "$T/gen.log" 2> /dev/null)"
fi

# The plan loader and the address parsers stand on the engine registry, so those targets
# link the whole library, compiled once (two files at a time) for both.
(cd "$SRC" && ls src/*.c src/util/*.c src/plan/*.c src/pipeline/*.c src/verify/*.c src/history/*.c \
	src/label/*.c src/engines/sqlite/*.c src/engines/postgres/*.c src/engines/label/*.c src/online/*.c) > "$T/lib.list"
mkdir -p "$T/obj"
export FUZZ_CC="$CC" FUZZ_OBJ="$T/obj"
export FUZZ_FLAGS="${common[*]} -DFERRY_VERSION_STRING=\"fuzz\" -fsanitize=fuzzer-no-link,address,undefined $(pkg-config --cflags libpq 2> /dev/null)"
lib_ok=0
# shellcheck disable=SC2016
if (cd "$SRC" && xargs -P 2 -n 1 sh -c 'eval exec "\$FUZZ_CC" $FUZZ_FLAGS -c "\$0" -o "\$FUZZ_OBJ/\$(echo "\$0" | tr / _).o"' \
	< "$T/lib.list") > "$T/lib.log" 2>&1; then
	lib_ok=1
else
	fail "build the library for the fuzz targets: $(grep -m 5 error "$T/lib.log")"
fi
build_full() { # build_full OUT FILE: a target linked with the whole library
	(cd "$SRC" && eval "$CC" $FUZZ_FLAGS -fsanitize=fuzzer,address,undefined "$2" "$T"/obj/*.o $alldeps -lpthread -lm -ldl \
		-o "$1") > "$T/build.log" 2>&1
}

for target in chunk manifest plan url; do
	case $target in
	chunk | manifest)
		built=0
		build "$T/fuzz_$target" fuzzer,address,undefined -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION \
			"tests/fuzz/fuzz_$target.c" && built=1
		;;
	*)
		built=0
		[ "$lib_ok" = 1 ] && build_full "$T/fuzz_$target" "tests/fuzz/fuzz_$target.c" && built=1
		;;
	esac
	if [ "$built" != 1 ]; then
		fail "build fuzz_$target: $(tail -n 5 "$T/build.log" 2> /dev/null)"
		continue
	fi
	mkdir -p "$T/gen/corpus-$target"
	mkdir -p "$T/corpus-$target"
	# The first corpus directory takes new inputs: a temp one, never the committed seeds.
	if ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		"$T/fuzz_$target" -max_total_time="$secs" -rss_limit_mb=512 -malloc_limit_mb=64 \
		-timeout=20 -artifact_prefix="$art/$target-" -print_final_stats=1 \
		"$T/corpus-$target" "$T/gen/corpus-$target" "$SRC/tests/fuzz/corpus-$target" \
		> "$T/$target.log" 2>&1; then
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$T/$target.log")
		ok "fuzz_$target: ${runs:-?} inputs in ${secs}s, no crash, leak or unbounded allocation"
	else
		fail "fuzz_$target found a problem (inputs kept in $art):"
		grep -E "ERROR|SUMMARY|runtime error|Test unit written|Base64" "$T/$target.log" | head -n 20 || true
		tail -n 30 "$T/$target.log" || true
		if [ -z "${FERRY_FUZZ_ARTIFACTS:-}" ]; then # $T goes away on exit
			cp -r "$art" "/tmp/ferry-fuzz-artifacts-$$" && echo "inputs copied to /tmp/ferry-fuzz-artifacts-$$"
		fi
	fi
done
finish
