#!/usr/bin/env bash
# pg-hostile.sh — hostile input into PostgreSQL and hostile addresses of it (issue 18; the
# table of cases is docs/HOSTILE.md): values the server cannot hold (invalid UTF-8, CESU
# surrogates, NUL bytes, JSON nested 100,000 deep) are rejected one row at a time with their
# reason stored exactly and the run goes on; every spelling of a password libpq accepts is
# masked in every channel ferry writes text to. SQLite-only cases are in hostile.sh.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../pg/pg.sh"
cd "$T"

# ---- values the target cannot hold ----------------------------------------------------
sqlite3 bad.db <<'SQL'
CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);
INSERT INTO t VALUES (1, 'ok'), (2, CAST(x'61ff62c328' AS TEXT)), (3, 'fine'),
  (4, CAST(x'eda080' AS TEXT)), (5, 'a' || char(0) || 'b'), (6, CAST(x'f4908080' AS TEXT));
CREATE TABLE nokey(a TEXT, b INTEGER);
INSERT INTO nokey VALUES (CAST(x'61ff' AS TEXT), 1), ('x', 2), ('a' || char(0), 3);
CREATE TABLE doc(id INTEGER PRIMARY KEY, d TEXT);
INSERT INTO doc VALUES (1, '{"a": [1, 2]}');
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)
INSERT INTO doc SELECT 2, (SELECT group_concat('[', '') FROM n) || (SELECT group_concat(']', '') FROM n);
INSERT INTO doc VALUES (3, '"deep rows stand alone"');
SQL
pg_newdb dbv
pgq "$dbv" "CREATE TABLE doc(id bigint PRIMARY KEY, d json); CREATE TABLE t(id bigint PRIMARY KEY, v text);
	CREATE TABLE nokey(a text, b bigint)"
run_bad() { # run_bad MAX_REJECTS: copy bad.db into dbv; prints the exit code
	set +e
	"$FERRY" copy -q --chunk-rows 2 --max-rejects "$1" --rejects rej.jsonl bad.db "$(pg_url "$dbv")" > out.txt 2> err.txt
	echo $?
	set -e
}
check "values the target cannot hold: exit 3, the run goes on" "3" "$(run_bad 0)"
check "every other row of each chunk arrived" "1,3|2|1,3" \
	"$(pgq "$dbv" "SELECT (SELECT string_agg(id::text, ',' ORDER BY id) FROM t) || '|' ||
		(SELECT string_agg(b::text, ',') FROM nokey) || '|' || (SELECT string_agg(id::text, ',' ORDER BY id) FROM doc)")"
check "each refused row has its reject record" "7" "$(pgq "$dbv" "SELECT count(*) FROM ferry_rejects")"
check "invalid UTF-8 is stored with its bytes escaped" \
	"text 'a\\xffb\\xc3(' is not valid UTF-8 (or holds a NUL byte) for text column \"v\" (a rule carries it as bytes into a column ferry creates: v: {type: bytea})" \
	"$(pgq "$dbv" "SELECT reason FROM ferry_rejects WHERE row_key = '{\"id\":2}' AND table_name = 't'")"
check "a CESU surrogate is stored escaped" "1" \
	"$(pgq "$dbv" "SELECT count(*) FROM ferry_rejects WHERE strpos(reason, 'text ''\\xed\\xa0\\x80'' is not valid') = 1")"
check "a NUL byte does not cut the reason" "1" \
	"$(pgq "$dbv" "SELECT count(*) FROM ferry_rejects WHERE strpos(reason, 'text ''a\\x00b'' is not valid') = 1")"
check "a code point past U+10FFFF is refused" "1" \
	"$(pgq "$dbv" "SELECT count(*) FROM ferry_rejects WHERE strpos(reason, 'text ''\\xf4\\x90\\x80\\x80'' is not valid') = 1")"
check "a keyless row's key (the whole row) holds its bytes escaped" '{"a":"a\\xff","b":1}' \
	"$(pgq "$dbv" "SELECT row_key FROM ferry_rejects WHERE table_name = 'nokey' AND row_key LIKE '%\"b\":1}'")"
check "JSON nested 100,000 deep: that row is rejected, not the run" "stack depth limit exceeded" \
	"$(pgq "$dbv" "SELECT reason FROM ferry_rejects WHERE table_name = 'doc'")"
if python3 -c 'import json,sys; [json.loads(l) for l in open("rej.jsonl")]' 2> /dev/null; then
	ok "the rejects file is valid JSON with the bytes escaped ($(wc -l < rej.jsonl) lines)"
else
	fail "rejects file: $(head -c 300 rej.jsonl)"
fi
grep -q "7 rows were rejected (allowed: 0)" err.txt && ok "the summary counts the rejects" || fail "err: $(cat err.txt)"
pgq "$dbv" "TRUNCATE t, nokey, doc; DROP TABLE ferry_rejects, ferry_progress, ferry_runs" > /dev/null 2>&1 || true
pg_newdb dbm
pgq "$dbm" "CREATE TABLE doc(id bigint PRIMARY KEY, d json); CREATE TABLE t(id bigint PRIMARY KEY, v text);
	CREATE TABLE nokey(a text, b bigint)"
dbv=$dbm
check "--max-rejects 7 allows them (exit 0)" "0" "$(run_bad 7)"
pg_newdb dbm2
pgq "$dbm2" "CREATE TABLE doc(id bigint PRIMARY KEY, d json); CREATE TABLE t(id bigint PRIMARY KEY, v text);
	CREATE TABLE nokey(a text, b bigint)"
dbv=$dbm2
check "--max-rejects 6 does not (exit 3)" "3" "$(run_bad 6)"
check "a rerun changes nothing and says the same" "3|2" "$(run_bad 6)|$(pgq "$dbv" "SELECT count(*) FROM t")"

# ---- a table wider than PostgreSQL allows (1600 columns): refused, nothing created -------
python3 - <<'PY' | sqlite3 wide.db
print("CREATE TABLE a(id INTEGER PRIMARY KEY); INSERT INTO a VALUES (1);")
print("CREATE TABLE w(id INTEGER PRIMARY KEY, %s);" % ", ".join("c%d" % i for i in range(1, 2000)))
print("INSERT INTO w(id, c1999) VALUES (1, 7);")
PY
pg_newdb dbw
set +e
"$FERRY" copy -q wide.db "$(pg_url "$dbw")" > o.txt 2> e.txt
code=$?
set -e
check "2000 columns into PostgreSQL: refused naming the table" "1|1" \
	"$code|$(grep -c 'could not create table "w" in database .*: tables can have at most 1600 columns' e.txt)"
check "and nothing was created" "0" "$(pgq "$dbw" "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")"

# ---- passwords: every spelling, every channel ------------------------------------------
# The server trusts every connection, so each spelling connects and the password reaches
# every place ferry writes text: a copy's output and --json, verify --json, a label's
# files (manifest.json, chunks), label inspect, migrate, status, history (text and --json), connection errors.
pg_newdb dbp
host="${PG_BASE#postgresql://}"
host="${host##*@}"
hostname="${host%%:*}"
port="${host##*:}"
[ "$port" = "$host" ] && port=5432
user="$(pgq "$pg_admin_db" "SELECT current_user")"
enc_user="$(python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$user")"
spellings=(
	"postgresql://$enc_user:Sekr3tPw@$hostname:$port/$dbp"
	"postgresql://$enc_user:Sekr3tPw%21@$hostname:$port/$dbp"
	"postgresql://$enc_user@$hostname:$port/$dbp?password=Sekr3tPw"
	"postgresql://$enc_user@$hostname:$port/$dbp?pass%77ord=Sekr3tPw"
	"postgresql://$enc_user@$hostname:$port/$dbp?%70assword=Sekr3tPw&application_name=x"
	"host=$hostname port=$port user=$user dbname=$dbp password=Sekr3tPw"
	"host=$hostname port=$port user=$user dbname=$dbp password = Sekr3tPw"
	"host=$hostname port=$port user=$user dbname=$dbp password	=	Sekr3tPw"
	"host=$hostname port=$port user=$user dbname=$dbp password='Sekr3tPw two'"
	"host=$hostname port=$port user=$user dbname=$dbp password = 'Sekr3t\\'Pw'"
	"host=$hostname port=$port user=$user dbname=$dbp password=Sekr3t\\ Pw"
	"password=Sekr3tPw host=$hostname port=$port user=$user dbname=$dbp"
	"host=$hostname port=$port user=$user dbname=$dbp sslpassword=Sekr3tPw"
)
sqlite3 pw.db "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a'), (2, 'b');"
mkdir -p mig
echo "CREATE TABLE m1(id int);" > mig/V1__first.sql
echo "CREATE TABLE m2(id int);" > mig/V2__second.sql
leaks=0
n=0
for url in "${spellings[@]}"; do
	n=$((n + 1))
	pgq "$dbp" "DROP SCHEMA public CASCADE; CREATE SCHEMA public" > /dev/null 2>&1
	rm -rf out-$n lab-$n
	mkdir out-$n
	(
		set +e
		"$FERRY" copy --verify --json pw.db "$url" > out-$n/copy.json 2> out-$n/copy.err
		echo "copy=$?" > out-$n/codes
		"$FERRY" copy --verify pw.db "$url" > out-$n/copy2.txt 2>&1
		"$FERRY" verify --json pw.db "$url" > out-$n/verify.json 2> out-$n/verify.err
		"$FERRY" export "$url" lab-$n > out-$n/export.txt 2>&1
		echo "export=$?" >> out-$n/codes
		"$FERRY" migrate "$url" -d mig > out-$n/migrate.txt 2>&1
		echo "migrate=$?" >> out-$n/codes
		"$FERRY" migrate --dry-run "$url" -d mig > out-$n/migrate2.txt 2>&1
		"$FERRY" status "$url" -d mig > out-$n/status.txt 2>&1
		"$FERRY" status --json "$url" -d mig > out-$n/status.json 2>&1
		"$FERRY" history "$url" > out-$n/history.txt 2>&1
		"$FERRY" history --json "$url" > out-$n/history.json 2>&1
		"$FERRY" label inspect --json lab-$n > out-$n/inspect.json 2>&1
		"$FERRY" import lab-$n "$url" > out-$n/import.txt 2>&1
		true
	)
	if [ "$(cat out-$n/codes | tr '\n' ' ')" != "copy=0 export=0 migrate=0 " ]; then
		fail "spelling $n did not connect: $(cat out-$n/codes | tr '\n' ' ') $(head -c 300 out-$n/copy.err out-$n/export.txt)"
		continue
	fi
	if grep -rl "Sekr3t" out-$n lab-$n > leak.txt 2>&1; then
		leaks=$((leaks + 1))
		fail "spelling $n shows its password in: $(tr '\n' ' ' < leak.txt)"
	else
		ok "spelling $n masked in every channel ($(ls out-$n lab-$n | wc -l) files)"
	fi
	pgq "$dbp" "SELECT 1" > /dev/null
done
grep -q '\*\*\*' out-1/copy.json && ok "the masked URL is there, with ***" || fail "no *** in copy --json: $(head -c 300 out-1/copy.json)"

# A URL password with an unencoded '/' or '@' (libpq would read part of it as the host or
# the database) is refused before connecting, masked, with the fix.
for url in "postgresql://$enc_user:Sekr3t/Xyzzy9@$hostname:$port/$dbp" \
	"postgresql://$enc_user:Sekr3t@Xyzzy9@$hostname:$port/$dbp" \
	"postgresql://$enc_user:Sekr3t@Xyzzy9/x@nowhere.invalid:1/$dbp"; do
	set +e
	"$FERRY" copy pw.db "$url" > o.txt 2> e.txt
	code=$?
	"$FERRY" status "$url" >> o.txt 2>> e.txt
	set -e
	if [ "$code" = 2 ] && ! grep -qE "Sekr3t|Xyzzy9" o.txt e.txt && grep -q "write them as %40 and %2F" e.txt; then
		ok "an unencoded / or @ in a URL password: refused, masked ($(head -n 1 e.txt))"
	else
		fail "unencoded password ($url): exit $code: $(cat o.txt e.txt)"
	fi
done
# Connection errors quote no password, whatever its spelling.
for url in "host=127.0.0.1 port=1 dbname=x password = Sekr3tPw connect_timeout=2" \
	"postgresql://u:Sekr3t%2FPw@127.0.0.1:1/x?connect_timeout=2" \
	"postgresql://u@127.0.0.1:1/x?pass%77ord=Sekr3tPw&connect_timeout=2" \
	"postgresql://u:Sekr3tPw@[::1/x" "host=h port=notaport password='Sekr3t Pw'"; do
	set +e
	"$FERRY" copy pw.db "$url" > o.txt 2> e.txt
	code=$?
	set -e
	if [ "$code" != 0 ] && grep -q "^ferry: " e.txt && ! grep -q "Sekr3t" o.txt e.txt; then
		ok "a connection error masks the password ($(head -c 120 e.txt))"
	else
		fail "connection error shows the password ($url): $(cat e.txt)"
	fi
done
finish
