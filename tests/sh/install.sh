#!/usr/bin/env bash
# install.sh — `cmake --install` puts the tool, the library, both headers and ferry.pc in a
# prefix, and a program built with pkg-config against it runs a copy through the public API.
source "$(dirname "$0")/lib.sh"
build="$(dirname "$FERRY")"
cmake --install "$build" --prefix "$T/prefix" > /dev/null
for f in bin/ferry include/ferry.h include/ferry/engine.h; do
	[ -e "$T/prefix/$f" ] && ok "installed $f" || fail "missing $f"
done
# man pages, one per command, from the --help text (issue #17 item 9).
for page in ferry ferry-copy ferry-export ferry-import ferry-verify ferry-migrate ferry-sync ferry-reload-rejects; do
	if MANPATH="$T/prefix/share/man" MANWIDTH=100 man -P cat "$page" 2> /dev/null > "$T/man.txt" && grep -q "SYNOPSIS" "$T/man.txt"; then
		ok "man $page"
	else
		fail "man $page after cmake --install"
	fi
done
MANPATH="$T/prefix/share/man" MANWIDTH=100 man -P cat ferry-copy > "$T/man.txt" 2> /dev/null || true
grep -q -- "--dry-run" "$T/man.txt" && ok "man ferry-copy holds the options of ferry copy --help" || fail "man ferry-copy lacks --dry-run"
pc=$(find "$T/prefix" -name ferry.pc | head -n 1)
[ -n "$pc" ] && ok "installed ferry.pc" || fail "missing ferry.pc"
export PKG_CONFIG_PATH="$(dirname "$pc")"
cat > "$T/use.c" <<'C'
#include <ferry.h>
#include <stdio.h>
int main(int argc, char **argv)
{
	ferry_ctx *ctx;
	ferry_plan *plan;
	ferry_summary *sum = NULL;
	if (argc != 3 || ferry_ctx_new(&ctx) != 0)
		return 2;
	if (ferry_plan_simple(&plan, ctx, argv[1], argv[2]) != 0)
		return 2;
	ferry_copy_options o = FERRY_COPY_OPTIONS_INIT;
	int rc = ferry_copy(&sum, ctx, plan, &o);
	if (rc != 0)
		fprintf(stderr, "%s\n", ferry_errmsg(ctx));
	ferry_table_stats t;
	if (rc == 0 && ferry_summary_table(&t, sum, 0) == 0)
		printf("%s %lld\n", t.target, (long long)t.rows_written);
	ferry_summary_free(sum);
	ferry_plan_free(plan);
	ferry_ctx_free(ctx);
	return rc != 0;
}
C
san=""
if nm "$T/prefix"/lib*/libferry.a 2> /dev/null | grep -c __asan > /dev/null; then san="-fsanitize=address,undefined"; fi
# shellcheck disable=SC2046
cc -std=c11 -pedantic -Wall -Wextra -Werror $san -o "$T/use" "$T/use.c" $(pkg-config --cflags --libs --static ferry) \
	&& ok "a program compiles against the installed ferry.h with pkg-config" || fail "could not build against the installed library"
sqlite3 "$T/a.db" "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1,'x'),(2,'y');"
check "the program copies through the public API" "t 2" "$("$T/use" "$T/a.db" "$T/b.db")"
finish
