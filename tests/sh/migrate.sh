#!/usr/bin/env bash
# migrate.sh — versioned migrations end to end, through the ferry command: ordering (1.9 <
# 1.10), bad names, dry runs that change nothing, status exit codes and JSON, a failing
# migration rolled back with its history row, edited / missing / out-of-order files, down
# scripts, baselines, repair after a failure outside a transaction (VACUUM on SQLite, CREATE
# INDEX CONCURRENTLY on PostgreSQL), the checksum cache, and every --help. Runs on SQLite and
# on PostgreSQL (see tests/migrate/lib.sh).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../migrate/lib.sh"

json() { # json EXPR < JSON: evaluate a Python expression on the parsed document j
	python3 -c "import json, sys; j = json.load(sys.stdin); print($1)"
}

t_order() {
	mig_new order
	mig_dir order
	mig_put V1.10__ten.sql "CREATE TABLE ten(x INTEGER);"
	mig_put V1.9__nine.sql "CREATE TABLE nine(x INTEGER);"
	mig_put V1.2__two.sql "CREATE TABLE two(x INTEGER);"
	mig_put V1__one.sql "CREATE TABLE one(x INTEGER);"
	mig_run migrate "$DB" -d "$D"
	check "$B: migrate exits 0" "0" "$CODE"
	check "$B: applied in numeric order" "1,1.2,1.9,1.10" \
		"$(mig_q "SELECT version FROM ferry_history ORDER BY installed_rank" | paste -sd, -)"
	check "$B: says where it stands" "1" "$(has "$OUT" "now at version 1.10")"
	check "$B: history rows carry sha256 checksums" "4|sha256|64" \
		"$(mig_q "SELECT count(*), min(checksum_algo), min(length(checksum)) FROM ferry_history")"
	if [ "$B" = sqlite ]; then
		check "$B: the checksum is the file's sha256" "$(sha256sum "$D/V1.9__nine.sql" | cut -d' ' -f1)" \
			"$(mig_q "SELECT checksum FROM ferry_history WHERE version = '1.9'")"
	fi
	mig_run migrate "$DB" -d "$D"
	check "$B: a second migrate is a no-op" "0 4" "$CODE $(mig_q "SELECT count(*) FROM ferry_history")"
	check "$B: and says so" "1" "$(has "$OUT" "up to date at version 1.10")"

	# 1 and 1.0 are one version: two files for it is a mistake, reported by name.
	mig_put V1.0__again.sql "SELECT 1;"
	mig_run migrate "$DB" -d "$D"
	check "$B: 1 and 1.0 are the same version (exit 2)" "2" "$CODE"
	check "$B: both files named" "1" "$(has "$ERR" 'two files for version 1 in')"
	check "$B: ... naming V1__one.sql and V1.0__again.sql" "1 1" "$(has "$ERR" '"V1__one.sql"') $(has "$ERR" '"V1.0__again.sql"')"
	rm "$D/V1.0__again.sql"
	mig_put add_users.sql "SELECT 1;"
	mig_put V2x__bad.sql "SELECT 1;"
	mig_run validate "$DB" -d "$D"
	check "$B: bad names: exit 2" "2" "$CODE"
	check "$B: bad name reported by file name" "1" "$(has "$ERR" 'bad migration file name "add_users.sql"')"
	check "$B: every bad name reported" "1" "$(has "$ERR" '"V2x__bad.sql"')"
	check "$B: problems one per line, each 'ferry: ...'" "3" "$(grep -c '^ferry: ' "$T/err")"
}

t_dry_run() {
	mig_new dry
	mig_dir dry
	mig_put V1__base.sql "CREATE TABLE base(x INTEGER);"
	mig_run migrate "$DB" -d "$D"
	mig_put V2__more.sql "CREATE TABLE more(x INTEGER);
INSERT INTO more VALUES (1); -- a comment"
	mig_put V3__other.sql "CREATE TABLE other(x INTEGER);"
	local before
	if [ "$B" = sqlite ]; then
		cp "$DB" "$T/dry.before"
	else
		before=$(mig_q "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
	fi
	mig_run migrate "$DB" -d "$D" --dry-run
	check "$B: dry run exits 0" "0" "$CODE"
	check "$B: dry run prints the statements" "1" "$(has "$OUT" "INSERT INTO more VALUES (1)")"
	check "$B: ... with their lines" "1" "$(has "$OUT" "-- line 2")"
	check "$B: dry run prints the rows it would record" "2" "$(grep -c '^-- would record in ferry_history: version=' "$T/out")"
	check "$B: ... with their checksums" "1" "$(has "$OUT" "checksum=sha256:")"
	check "$B: dry run says nothing changed" "1" "$(has "$OUT" "nothing was changed")"
	if [ "$B" = sqlite ]; then
		cmp -s "$DB" "$T/dry.before" && ok "$B: the database file is byte-identical after a dry run" ||
			fail "$B: the database file changed in a dry run"
	else
		check "$B: no table was created by the dry run" "$before" \
			"$(mig_q "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")"
	fi
	check "$B: history unchanged by the dry run" "1" "$(mig_q "SELECT count(*) FROM ferry_history")"
	# A dry run of a database that does not exist yet creates nothing.
	if [ "$B" = sqlite ]; then
		mig_run migrate "$T/never.db" -d "$D" --dry-run
		check "$B: dry run of a new database: exit 0, no file" "0 no" \
			"$CODE $([ -e "$T/never.db" ] && echo yes || echo no)"
	fi
}

t_status() {
	mig_new status
	mig_dir status
	mig_put V1__a.sql "CREATE TABLE a(x INTEGER);"
	mig_put V2__b.sql "CREATE TABLE b(x INTEGER);"
	if [ "$B" = sqlite ]; then
		mig_run status "$DB" -d "$D"
		check "$B: status of a database that does not exist: exit 2" "2" "$CODE"
	fi
	mig_run migrate "$DB" -d "$D" --to 1
	check "$B: --to stops at the version" "0 1" "$CODE $(mig_q "SELECT count(*) FROM ferry_history")"
	mig_run status "$DB" -d "$D"
	check "$B: status with pending migrations exits 4" "4" "$CODE"
	check "$B: status lists applied" "1" "$(printf '%s\n' "$OUT" | grep -c '^1  *a  *applied  *20')"
	check "$B: status lists pending" "1" "$(printf '%s\n' "$OUT" | grep -c '^2  *b  *pending')"
	mig_run status "$DB" -d "$D" --json
	check "$B: status --json exit 4" "4" "$CODE"
	check "$B: status --json fields" "1 1 ['applied', 'pending'] True" \
		"$(printf '%s' "$OUT" | json "j['current'], j['pending'], [m['state'] for m in j['migrations']], j['valid']")"
	mig_run migrate "$DB" -d "$D"
	mig_run status "$DB" -d "$D" --json
	check "$B: status up to date exits 0" "0 0" "$CODE $(printf '%s' "$OUT" | json "j['pending']")"
	mig_run status "$DB" -d "$D" -q
	check "$B: status -q prints nothing" "0 []" "$CODE [$OUT]"
	echo "-- edited" >> "$D/V1__a.sql"
	mig_run status "$DB" -d "$D"
	check "$B: status with a problem exits 2" "2" "$CODE"
	check "$B: ... and shows the state" "1" "$(printf '%s\n' "$OUT" | grep -c '^1  *a  *changed')"
	mig_run history "$DB" --json
	check "$B: history --json" "0 2 schema True 1" \
		"$CODE $(printf '%s' "$OUT" | json "len(j['history']), j['history'][0]['kind'], j['history'][1]['success'], j['history'][0]['installed_rank']")"
	mig_run history "$DB"
	check "$B: history lists every row" "3" "$(printf '%s\n' "$OUT" | wc -l)"
	if [ "$B" = pg ]; then
		# A password in the URL is never printed (the test server trusts, so it connects).
		local url
		url=$(printf '%s' "$DB" | sed 's|://\([^:@/]*\)@|://\1:hunter2@|')
		mig_run status "$url" -d "$D"
		check "$B: status masks the password" "0 1" "$(has "$OUT$ERR" hunter2) $(has "$OUT$ERR" ':***@')"
		mig_run migrate "$url" -d "$D" --lock-timeout 0
		check "$B: migrate's messages mask it too" "0" "$(has "$OUT$ERR" hunter2)"
	fi
}

t_failure() {
	mig_new fail
	mig_dir fail
	mig_put V1__ok.sql "CREATE TABLE ok(x INTEGER);"
	mig_put V2__broken.sql "CREATE TABLE half(x INTEGER);
INSERT INTO half VALUES (1);
INSERT INTO no_such_table VALUES (1);"
	mig_put V3__later.sql "CREATE TABLE later(x INTEGER);"
	mig_run migrate "$DB" -d "$D"
	check "$B: a failing migration exits 1" "1" "$CODE"
	check "$B: the error names the file and line" "1" "$(has "$ERR" '"V2__broken.sql" (line 3), rolled back')"
	check "$B: versions before it are kept" "1:1" "$(mig_q "SELECT min(version) || ':' || count(*) FROM ferry_history")"
	check "$B: its statements were rolled back" "0" "$(mig_has_table half)"
	check "$B: its history row was rolled back too" "0" "$(mig_q "SELECT count(*) FROM ferry_history WHERE version = '2'")"
	check "$B: later versions did not run" "0" "$(mig_has_table later)"
	mig_put V2__broken.sql "CREATE TABLE half(x INTEGER);
INSERT INTO half VALUES (1);"
	mig_run migrate "$DB" -d "$D"
	check "$B: after fixing the file migrate goes on" "0 3 1" \
		"$CODE $(mig_q "SELECT count(*) FROM ferry_history") $(mig_q "SELECT count(*) FROM half")"

	# Transaction control in a script would end ferry's transaction: refused.
	mig_put V4__txn.sql "BEGIN;
CREATE TABLE t4(x INTEGER);
COMMIT;"
	mig_run migrate "$DB" -d "$D"
	check "$B: BEGIN/COMMIT in a script is refused" "2 1" "$CODE $(has "$ERR" '"V4__txn.sql" line 1: transaction control')"
}

t_validate() {
	mig_new val
	mig_dir val
	mig_put V1__a.sql "CREATE TABLE a(x INTEGER);"
	mig_put V2__b.sql "CREATE TABLE b(x INTEGER);"
	mig_put V3__c.sql "CREATE TABLE c(x INTEGER);"
	mig_run migrate "$DB" -d "$D"
	mig_run validate "$DB" -d "$D"
	check "$B: validate of a clean database exits 0" "0 1" "$CODE $(has "$OUT" "are valid")"

	# An edited applied file.
	echo "-- an edit" >> "$D/V2__b.sql"
	mig_put V4__d.sql "CREATE TABLE d(x INTEGER);"
	mig_run migrate "$DB" -d "$D"
	check "$B: migrate refuses an edited applied file (exit 2)" "2" "$CODE"
	check "$B: ... naming it" "1" "$(has "$ERR" 'ferry: migration "V2__b.sql" changed after it was applied')"
	check "$B: ... and applies nothing" "0" "$(mig_has_table d)"
	mig_run validate "$DB" -d "$D" --json
	check "$B: validate --json names the changed file" "2 False changed V2__b.sql" \
		"$CODE $(printf '%s' "$OUT" | json "j['valid'], j['problems'][0]['kind'], j['problems'][0]['script']")"
	mig_run repair "$DB" -d "$D"
	check "$B: repair takes the edited file's checksum" "0 1" "$CODE $(has "$OUT" 'took the current checksum of "V2__b.sql"')"
	check "$B: the row now has the file's checksum" "$(sha256sum "$D/V2__b.sql" | cut -d' ' -f1)" \
		"$(mig_q "SELECT checksum FROM ferry_history WHERE version = '2'")"
	mig_run migrate "$DB" -d "$D"
	check "$B: after repair migrate goes on" "0 1" "$CODE $(mig_has_table d)"

	# A missing file.
	mv "$D/V3__c.sql" "$T/V3__c.sql.away"
	mig_put V5__e.sql "CREATE TABLE e(x INTEGER);"
	mig_run validate "$DB" -d "$D"
	check "$B: a missing file: validate exits 2 naming it" "2 1" "$CODE $(has "$OUT" 'no file for version 3 ("V3__c.sql")')"
	mig_run migrate "$DB" -d "$D"
	check "$B: migrate refuses a missing file" "2 0" "$CODE $(mig_has_table e)"
	mig_run migrate "$DB" -d "$D" --ignore-missing
	check "$B: --ignore-missing lets it go on" "0 1" "$CODE $(mig_has_table e)"
	mv "$T/V3__c.sql.away" "$D/V3__c.sql"

	# A new file older than the newest applied version.
	mig_put V2.5__late.sql "CREATE TABLE late(x INTEGER);"
	mig_run validate "$DB" -d "$D"
	check "$B: out of order: validate exits 2 naming it" "2 1" \
		"$CODE $(has "$OUT" 'migration "V2.5__late.sql" is older than version 5 already applied')"
	mig_run migrate "$DB" -d "$D"
	check "$B: migrate refuses an out-of-order file" "2 0" "$CODE $(mig_has_table late)"
	check "$B: ... one line per problem, then the summary" "2" "$(grep -c '^ferry: ' "$T/err")"
	mig_run migrate "$DB" -d "$D" --allow-out-of-order
	check "$B: --allow-out-of-order applies it" "0 1" "$CODE $(mig_has_table late)"
	mig_run validate "$DB" -d "$D"
	check "$B: valid again" "0" "$CODE"
}

t_down() {
	mig_new down
	mig_dir down
	mig_put V1__a.sql "CREATE TABLE a(x INTEGER);"
	mig_put V2__b.sql "CREATE TABLE b(x INTEGER);"
	mig_put V2__b.down.sql "DROP TABLE b;"
	mig_put V3__c.sql "CREATE TABLE c(x INTEGER);"
	mig_run migrate "$DB" -d "$D"
	mig_run down "$DB" -d "$D" --to 1
	check "$B: down refused when a down script is missing (exit 2)" "2" "$CODE"
	check "$B: ... naming the missing one" "1" "$(has "$ERR" 'version 3 ("V3__c.sql") has no down script "V3__c.down.sql"')"
	check "$B: ... before doing anything" "1 1 3" "$(mig_has_table b) $(mig_has_table c) $(mig_q "SELECT count(*) FROM ferry_history")"
	mig_run down "$DB" -d "$D"
	check "$B: down needs --to" "2" "$CODE"
	mig_put V3__c.down.sql "DROP TABLE c;"
	mig_run down "$DB" -d "$D" --to 1 --dry-run
	check "$B: down --dry-run changes nothing" "0 1 3" "$CODE $(mig_has_table c) $(mig_q "SELECT count(*) FROM ferry_history")"
	mig_run down "$DB" -d "$D" --to 1
	check "$B: down runs" "0" "$CODE"
	check "$B: down in reverse order, each recorded" "3:down: c:V3__c.down.sql,2:down: b:V2__b.down.sql" \
		"$(mig_q "SELECT version || ':' || description || ':' || script FROM ferry_history WHERE installed_rank > 3 ORDER BY installed_rank" | paste -sd, -)"
	check "$B: down rows are kind schema" "schema" "$(mig_q "SELECT DISTINCT kind FROM ferry_history WHERE installed_rank > 3")"
	check "$B: the tables are gone" "1 0 0" "$(mig_has_table a) $(mig_has_table b) $(mig_has_table c)"
	mig_run status "$DB" -d "$D"
	check "$B: undone versions are pending again" "4 2" "$CODE $(printf '%s\n' "$OUT" | grep -c '  pending')"
	mig_run migrate "$DB" -d "$D"
	check "$B: and migrate applies them again" "0 1 1" "$CODE $(mig_has_table b) $(mig_has_table c)"
	mig_run down "$DB" -d "$D" --to 3
	check "$B: nothing to undo" "0 1" "$CODE $(has "$OUT" "nothing to undo")"
}

t_baseline() {
	mig_new base
	mig_dir base
	mig_put V1__a.sql "CREATE TABLE a(x INTEGER);"
	mig_put V2__b.sql "CREATE TABLE b(x INTEGER);"
	mig_put V3__c.sql "CREATE TABLE c(x INTEGER);"
	if [ "$B" = sqlite ]; then
		sqlite3 "$DB" "CREATE TABLE a(x INTEGER); CREATE TABLE b(x INTEGER);"
	else
		mig_q "CREATE TABLE a(x INTEGER); CREATE TABLE b(x INTEGER);" > /dev/null
	fi
	# A data run's row (a copy into the database) does not stand in the way of a baseline.
	rm -f "$T/bl-src.db"
	sqlite3 "$T/bl-src.db" "CREATE TABLE bl_data(id INTEGER PRIMARY KEY); INSERT INTO bl_data VALUES (1);"
	"$FERRY" copy -q "$T/bl-src.db" "$DB" > /dev/null
	check "$B: a copy left its data row" "1" "$(mig_q "SELECT count(*) FROM ferry_history WHERE kind = 'data'")"
	mig_run baseline "$DB" 2
	check "$B: baseline exits 0" "0" "$CODE"
	mig_q "DELETE FROM ferry_history WHERE kind = 'data'" > /dev/null
	check "$B: one baseline row" "2|baseline|baseline" "$(mig_q "SELECT version, kind, description FROM ferry_history")"
	mig_run status "$DB" -d "$D"
	check "$B: versions up to the baseline count as applied" "4 2" "$CODE $(printf '%s\n' "$OUT" | grep -c ' baseline ')"
	mig_run migrate "$DB" -d "$D"
	check "$B: migrate runs only the later ones" "0 1 2" "$CODE $(mig_has_table c) $(mig_q "SELECT count(*) FROM ferry_history")"
	mig_run baseline "$DB" 3
	check "$B: baseline refused when history has versioned rows" "2 1" "$CODE $(has "$ERR" "ferry_history already has 2 versioned rows")"
	mig_run down "$DB" -d "$D" --to 1
	check "$B: down below the baseline is refused" "2" "$CODE"
	mig_run baseline "$DB" 1.x
	check "$B: a baseline version must be a version" "2" "$CODE"
}

t_repair_autocommit() {
	mig_new auto
	mig_dir auto
	mig_put V1__a.sql "CREATE TABLE a(x INTEGER);"
	mig_put V2__outside.sql "CREATE TABLE p(x INTEGER);
$(mig_autocommit p);
INSERT INTO no_such_table VALUES (1);"
	mig_run migrate "$DB" -d "$D"
	check "$B: a failure after a statement outside a transaction exits 1" "1" "$CODE"
	check "$B: ... and says the version is recorded as failed" "1" "$(has "$ERR" "recorded as failed")"
	check "$B: the failed row is recorded (success false)" "2|0" \
		"$(mig_q "SELECT version, CASE WHEN success THEN 1 ELSE 0 END FROM ferry_history WHERE version = '2'")"
	check "$B: the part outside the transaction stayed" "1" "$(mig_has_table p)"
	mig_run migrate "$DB" -d "$D"
	check "$B: migrate refuses to go on (exit 2)" "2" "$CODE"
	check "$B: ... naming the failed version and the way out" "1" "$(has "$ERR" "failed on \"$DB\" at")"
	check "$B: ... 'ferry repair'" "1" "$(has "$ERR" "then run 'ferry repair'")"
	mig_run status "$DB" -d "$D"
	check "$B: status shows it failed" "2 1" "$CODE $(printf '%s\n' "$OUT" | grep -c '^2  *outside  *failed')"
	# The way forward: undo by hand what ran, fix the script, repair, migrate.
	mig_q "DROP TABLE p" > /dev/null
	mig_put V2__outside.sql "CREATE TABLE p(x INTEGER);
$(mig_autocommit p);
INSERT INTO p VALUES (1);"
	mig_run repair "$DB" -d "$D" --dry-run
	check "$B: repair --dry-run changes nothing" "0 1" "$CODE $(mig_q "SELECT count(*) FROM ferry_history WHERE NOT success")"
	mig_run repair "$DB" -d "$D"
	check "$B: repair removes the failed row" "0 1 0" \
		"$CODE $(has "$OUT" "removed the failed row of version 2") $(mig_q "SELECT count(*) FROM ferry_history WHERE NOT success")"
	mig_run migrate "$DB" -d "$D"
	check "$B: migrate applies it once repaired" "0 1" "$CODE $(mig_q "SELECT count(*) FROM p")"
	if [ "$B" = pg ]; then
		check "$B: the index built concurrently is there and valid" "1" \
			"$(mig_q "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'p_x' AND i.indisvalid")"
	fi
	check "$B: one successful row for it" "1" "$(mig_q "SELECT count(*) FROM ferry_history WHERE version = '2' AND success")"
	mig_run repair "$DB" -d "$D"
	check "$B: nothing left to repair" "0 1" "$CODE $(has "$OUT" "nothing to repair")"
}

t_cache() {
	# Checksums of unchanged files come from the cache (FERRY_CACHE_DIR); an edit that keeps
	# the size and puts the mtime back is still caught (the ctime moves).
	mig_new cache
	mig_dir cache
	mig_put V1__a.sql "CREATE TABLE a(x INTEGER);"
	mig_put V2__b.sql "CREATE TABLE b(x INTEGER);"
	mig_run migrate "$DB" -d "$D"
	sleep 2.2
	mig_run validate "$DB" -d "$D"
	check "$B: validate fills the checksum cache" "0 1" "$CODE $(ls "$FERRY_CACHE_DIR" | grep -c '^sums-')"
	mig_run validate "$DB" -d "$D"
	check "$B: validate from the cache" "0" "$CODE"
	touch -r "$D/V1__a.sql" "$T/stamp"
	printf 'CREATE TABLE z(x INTEGER);\n' > "$D/V1__a.sql"
	touch -r "$T/stamp" "$D/V1__a.sql"
	mig_run validate "$DB" -d "$D"
	check "$B: a same-size edit with its mtime put back is caught" "2 1" \
		"$CODE $(has "$OUT" 'migration "V1__a.sql" changed after it was applied')"
	FERRY_CACHE_DIR= mig_run validate "$DB" -d "$D"
	check "$B: and without the cache (FERRY_CACHE_DIR empty)" "2" "$CODE"
}

t_help() {
	local c
	for c in migrate status history validate baseline repair down; do
		mig_run "$c" --help
		check "$c --help exits 0 with usage, examples and exit codes" "0 1 1 1" \
			"$CODE $(has "$OUT" "usage: ferry $c") $(has "$OUT" "Examples:") $(has "$OUT" "Exit codes:")"
	done
	mig_run status --help
	check "status --help documents exit 4" "1" "$(has "$OUT" "4 migrations are pending")"
	mig_run migrate
	check "migrate without DB exits 2" "2" "$CODE"
	mig_run history x.db --dir y
	check "an option a command does not take exits 2" "2 1" "$CODE $(has "$ERR" "has no option --dir")"
	mig_run migrate x.db --lock-timeout soon
	check "a bad --lock-timeout exits 2" "2" "$CODE"
	mig_run --help
	check "ferry --help lists the commands" "1 1" "$(has "$OUT" "  migrate ") $(has "$OUT" "  baseline ")"
}

t_help
mig_pg_setup
for B in $MIG_BACKENDS; do
	echo "# backend: $B"
	t_order
	t_dry_run
	t_status
	t_failure
	t_validate
	t_down
	t_baseline
	t_repair_autocommit
	t_cache
done
finish
