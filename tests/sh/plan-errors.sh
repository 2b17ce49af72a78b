#!/usr/bin/env bash
# plan-errors.sh — exit 2 means nothing changed (issue #17 "Why" 1): every plan mistake is
# found before anything is committed, names plan.yaml:line:col, and leaves the target byte
# for byte as it was (SQLite); --check finds the same mistakes. Sourced by
# pg-plan-errors.sh with PG_TARGET set to a PostgreSQL URL, the target compared by pg_dump.
[ -n "${PG_TARGET:-}" ] || source "$(dirname "$0")/lib.sh"
cd "$T"

sqlite3 src.db <<'SQL'
CREATE TABLE Artist(ArtistId INTEGER PRIMARY KEY, Name TEXT);
CREATE TABLE Album(AlbumId INTEGER PRIMARY KEY, Title TEXT NOT NULL, ArtistId INTEGER REFERENCES Artist(ArtistId));
CREATE TABLE Invoice(InvoiceId INTEGER PRIMARY KEY, InvoiceDate TEXT, Total NUMERIC);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 275)
INSERT INTO Artist SELECT i, 'artist ' || i FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 347)
INSERT INTO Album SELECT i, 'album ' || i, 1 + i % 275 FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 412)
INSERT INTO Invoice SELECT i, printf('20%02d-01-01', 9 + i % 5), i * 1.5 FROM n;
SQL
# The target already holds something of its own, and a table the second stage would load.
mine="CREATE TABLE mine(x TEXT); INSERT INTO mine VALUES ('kept');
CREATE TABLE \"Invoice\"(\"InvoiceId\" INTEGER PRIMARY KEY, \"InvoiceDate\" TEXT, \"Total\" NUMERIC); INSERT INTO \"Invoice\" VALUES (1, 'x', 0);"
if [ -n "${PG_TARGET:-}" ]; then
	TARGET=$PG_TARGET
	pg_target_sql "$mine"
	snap() { pg_snap; }
else
	sqlite3 dst.db "$mine"
	TARGET=sqlite:dst.db
	snap() { md5sum < dst.db; ls dst.db* | tr '\n' ' '; }
fi

# plan BODY: a plan with Artist and Album in stage "first", then BODY's tables in "second".
plan() {
	cat > plan.yaml <<YAML
source: src.db
target: $TARGET
others: skip
stages:
  - name: first
  - name: second
    after: [first]
tables:
  - table: Artist
    stage: first
  - table: Album
    stage: first
$1
YAML
}
# refused NAME WANT_POSITION BODY: the plan is refused with exit 2 naming its place, and the
# target is as it was; the same with --check.
refused() {
	local before after code
	plan "$3"
	for mode in run check; do
		before=$(snap)
		set +e
		if [ "$mode" = check ]; then "$FERRY" copy -q --check -p plan.yaml > out 2> err; else "$FERRY" copy -q -p plan.yaml > out 2> err; fi
		code=$?
		set -e
		after=$(snap)
		check "$1 ($mode): exit 2" "2" "$code"
		[ "$2" = - ] || grep -q "plan.yaml:$2" err && ok "$1 ($mode): the message names plan.yaml:$2" || fail "$1 ($mode): the message names plan.yaml:$2: $(cat err)"
		check "$1 ($mode): the target is unchanged" "$before" "$after"
	done
}

refused "a typo in a where" "15:12:" '  - table: Invoice
    stage: second
    where: "InvoiceDat >= '"'"'2010'"'"'"'
refused "a typo in an expr" "17:7:" '  - table: Invoice
    stage: second
    rename: Invoice2
    columns:
      InvoiceDate: { expr: "upper(InvoiceDat)" }'
refused "an expr of another dialect" "17:7:" '  - table: Album
    stage: second
    rename: Album2
    columns:
      Title: { expr: "Title ||| '"'"'x'"'"'" }'
refused "a column rule from a column that does not exist" "17:7:" '  - table: Invoice
    stage: second
    rename: Invoice3
    columns:
      InvoiceDate: { from: InvoiceDat }'
refused "a table the source does not have" "13:5:" '  - table: Invoices
    stage: second'
refused "a table of the second stage holding rows this run did not write" - '  - table: Invoice
    stage: second'
grep -q 'already holds 1 rows' err && ok "the refusal says why" || fail "the refusal says why: $(cat err)"

# A target schema that fails: rolled back with everything else.
echo 'CREATE TABLE fresh(id INTEGER PRIMARY KEY); CREATE TABLE mine(x TEXT);' > bad-schema.sql
plan '  - table: Invoice
    stage: second
    rename: Invoice4'
sed -i 's/^others: skip/others: skip\ntarget_schema: bad-schema.sql/' plan.yaml
before=$(snap)
set +e
"$FERRY" copy -q -p plan.yaml > out 2> err
code=$?
set -e
check "a target schema that fails: refused" "1" "$((code != 0))"
check "a target schema that fails: the target is unchanged" "$before" "$(snap)"

# ${VAR} in a plan: an unset one is an error naming it (it created a SQLite file literally
# named "${TARGET_URL}", exit 0); a set one is the address.
if [ -z "${PG_TARGET:-}" ]; then
	mkdir envp
	printf 'source: ../src.db\nothers: skip\ntables:\n  - table: Artist\ntarget: ${TARGET_URL}\n' > envp/plan.yaml
	set +e
	(unset TARGET_URL; "$FERRY" copy -q -p envp/plan.yaml) > out 2> err
	code=$?
	set -e
	check "an unset \${TARGET_URL}: exit 2" "2" "$code"
	grep -q 'plan.yaml:5:9: environment variable "TARGET_URL" is not set' err && ok "the message names the variable and its place" ||
		fail "the message names the variable and its place: $(cat err)"
	check "no file named after the variable" "" "$(ls envp | grep -v plan.yaml || true)"
	TARGET_URL=sqlite:env.db "$FERRY" copy -q -p envp/plan.yaml
	check "a set \${TARGET_URL} is the target" "275" "$(sqlite3 envp/env.db 'SELECT count(*) FROM Artist')"
fi

# The mistake fixed: the run goes through, and a rerun is not refused for rows of its own.
plan '  - table: Invoice
    stage: second
    rename: Invoice5
    where: "InvoiceDate >= '"'"'2010'"'"'"'
"$FERRY" copy -q -p plan.yaml
check "the fixed plan loads" "0" "$?"
finish
