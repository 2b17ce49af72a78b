#!/usr/bin/env bash
# pg-plan-errors.sh — plan-errors.sh into PostgreSQL: after every plan mistake (exit 2) the
# target's schema and data, as pg_dump writes them, are what they were (issue #17 "Why" 1:
# the tables were left loaded and without their primary keys).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../pg/pg.sh"
pg_newdb db
PG_TARGET=$(pg_url "$db")
pg_target_sql() { pgq "$db" "$1" > /dev/null; }
# pg_dump's \restrict lines take a new random key each time.
pg_snap() { "$pg_bin/pg_dump" --no-owner "$PG_TARGET" | grep -Ev '^\\(un)?restrict ' | md5sum; }
source "$(dirname "$0")/plan-errors.sh"
