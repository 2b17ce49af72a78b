#!/usr/bin/env bash
# pg-capture.sh — runs the unit tests of the PostgreSQL change capture (test_pg_capture, built
# next to the ferry binary) against a server with wal_level=logical: FERRY_TEST_PG's, or a
# private one from tests/pg/pg.sh.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../pg/pg.sh"
unit="$(dirname "$FERRY")/test_pg_capture"
[ -x "$unit" ] || { fail "no unit test binary at $unit"; finish; }
if FERRY_TEST_PG="$(pg_url "$pg_admin_db")" "$unit" > "$T/unit.out" 2>&1; then
	ok "test_pg_capture: $(tail -n 1 "$T/unit.out")"
else
	cat "$T/unit.out"
	fail "test_pg_capture"
fi
finish
