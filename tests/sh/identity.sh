#!/usr/bin/env bash
# identity.sh — one run however it is spelled (issue #17, "Why" 2 and 3; issue #18, 1): the
# run's identity is what the plan means, so a plan given by a relative or an absolute path, a
# database by a relative path, an absolute one or a symlink, a plan with a comment added or
# laid out anew, all name the run that is already there; a target schema already applied is
# recognised by its checksum in ferry_history; a refusal names the run that wrote the rows.
source "$(dirname "$0")/lib.sh"
cd "$T"

mkdir proj
sqlite3 proj/src.db "CREATE TABLE customer(id INTEGER PRIMARY KEY, name TEXT NOT NULL);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 59)
INSERT INTO customer SELECT i, 'c' || i FROM n;"
echo 'CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT NOT NULL);' > proj/schema.sql
cat > proj/plan.yaml <<'YAML'
source: src.db
target: out.db
target_schema: schema.sql
tables:
  - table: customer
    rename: customers
YAML
complete() { # complete ARGS...: "exit=N complete=BOOL" of ferry copy --json ARGS
	set +e
	"$FERRY" copy --json "$@" > c.json 2> c.err
	local code=$?
	set -e
	echo "exit=$code complete=$(python3 -c 'import json,sys; print(json.load(open("c.json"))["already_complete"])' 2> /dev/null || cat c.err)"
}

(cd proj && "$FERRY" copy -q -p plan.yaml)
check "the first run loads every row" "59" "$(sqlite3 proj/out.db 'SELECT count(*) FROM customers')"
check "the plan by its absolute path: the same run, complete" "exit=0 complete=True" "$(complete -p "$T/proj/plan.yaml")"
check "the plan from another folder: the same run" "exit=0 complete=True" "$(complete -p proj/plan.yaml)"
ln -s proj link
check "the plan through a symlinked folder: the same run" "exit=0 complete=True" "$(complete -p link/plan.yaml)"

# A comment and another layout: the same plan, so the same finished run; the target schema
# is not applied again ("relation already exists" before).
cat > proj/plan.yaml <<'YAML'
# the plan, commented after the run
source: "src.db"          # quoted now
target: 'out.db'
target_schema: schema.sql
tables: [{table: customer, rename: customers}]
threads: 2                # how, not what
YAML
check "a comment and a new layout: the same run, complete" "exit=0 complete=True" "$(complete -p proj/plan.yaml)"
check "the target schema was applied once" "1" "$(sqlite3 proj/out.db "SELECT count(*) FROM ferry_history WHERE kind = 'schema'")"

# The same database spelled differently, plan-less.
"$FERRY" copy -q proj/src.db plain.db
check "plan-less, ./ and absolute paths: the same run" "exit=0 complete=True" "$(complete ./proj/src.db "sqlite:$T/plain.db")"
ln -s plain.db plain-link.db
check "plan-less, the target through a symlink: the same run" "exit=0 complete=True" "$(complete proj/src.db plain-link.db)"

# A crash, then the rerun spelled differently resumes (it was refused with advice to use
# --append, which doubles the rows of a table without a key).
sqlite3 crash-src.db "CREATE TABLE nokey(a INTEGER, b TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
INSERT INTO nokey SELECT i % 10, 'dup' FROM n;"
set +e
FERRY_FAULT=kill-after-commit:2 "$FERRY" copy -q -j 1 --chunk-rows 500 crash-src.db crash.db > /dev/null 2>&1
code=$?
set -e
check "the first run was killed" "137" "$code"
"$FERRY" copy -q -j 1 --chunk-rows 500 "sqlite:$T/crash-src.db" ./crash.db
check "the rerun spelled ./ and absolute resumes: every row once" "3000" "$(sqlite3 crash.db 'SELECT count(*) FROM nokey')"

# --append never doubles a table without a key: another run (an edited plan, another chunk
# size: another run) that would load rows of the same source table again is refused, all of
# them without a filter, the overlap of two filters counted; a split load's complement goes.
cat > ap-all.yaml <<'YAML'
# the same rows as the plan-less run above, spelled as a plan
sources:
  s: sqlite:./crash-src.db
target: sqlite:crash.db
chunk_rows: 100
tables:
  - table: nokey
    source: s
YAML
set +e
"$FERRY" copy -q -p ap-all.yaml > ap1.out 2> ap1.err
c1=$?
"$FERRY" copy -q --append -p ap-all.yaml > ap2.out 2> ap2.err
c2=$?
set -e
check "without --append: refused, and --append is offered only for other rows" "2 1" \
	"$c1 $(grep -c 'the table has no key, so --append of rows an earlier run loaded is refused' ap1.err)"
check "with --append: refused (exit 2), naming the run that loaded them" "2 1" \
	"$c2 $(grep -c 'cannot --append into target table "nokey": it has no primary key or unique index, and run [0-9a-f]* (ferry copy .*crash-src.db' ap2.err)"
check "no row twice" "3000" "$(sqlite3 crash.db 'SELECT count(*) FROM nokey')"
sqlite3 split-src.db "CREATE TABLE ev(n INTEGER, v TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
INSERT INTO ev SELECT i, 'e' || i FROM n;"
split_plan() { # split_plan FILE WHERE
	printf 'sources:\n  s: sqlite:split-src.db\ntarget: sqlite:split.db\ntables:\n  - table: ev\n    source: s\n    where: "%s"\n' "$2" > "$1"
}
split_plan sp-new.yaml "n >= 501"
split_plan sp-old.yaml "n < 501"
split_plan sp-over.yaml "n >= 401"
"$FERRY" copy -q -p sp-new.yaml
set +e
"$FERRY" copy -q --append -p sp-over.yaml > sp1.out 2> sp1.err
c1=$?
"$FERRY" copy -q --append -p sp-old.yaml > sp2.out 2> sp2.err
c2=$?
set -e
check "an overlapping filter: refused, the rows both select counted" "2 1" \
	"$c1 $(grep -c 'loaded 500 of the rows of s.ev this run would load already' sp1.err)"
check "the complement: loaded beside them, every row once" "0 1000 1000" \
	"$c2 $(sqlite3 split.db 'SELECT count(*), count(DISTINCT n) FROM ev' | tr '|' ' ')"

# Another plan with the same target schema: the schema is recognised by its checksum and
# not applied again; the rows already there are refused, naming the run that wrote them.
cat > proj/plan-b.yaml <<'YAML'
source: src.db
target: out.db
target_schema: schema.sql
tables:
  - table: customer
    rename: customers
    where: "id > 10"
YAML
set +e
"$FERRY" copy -q -p proj/plan-b.yaml > /dev/null 2> b.err
code=$?
set -e
check "another plan into the loaded table: refused (exit 2)" "2" "$code"
grep -q 'they were loaded by run [0-9a-f]\{12\} (ferry copy -p .*plan.yaml, finished 20' b.err && ok "the refusal names the earlier run and its command" ||
	fail "the refusal names the earlier run: $(cat b.err)"
grep -q 'use --truncate' b.err && ok "the refusal says what to do" || fail "the refusal says what to do: $(cat b.err)"
grep -q 'already exists' b.err && fail "the schema was applied again: $(cat b.err)" || ok "the schema was not applied again"
"$FERRY" copy -q --truncate -p proj/plan-b.yaml > trunc.out 2>&1
check "--truncate reloads with the other plan" "49" "$(sqlite3 proj/out.db 'SELECT count(*) FROM customers')"
check "still one schema row in ferry_history" "1" "$(sqlite3 proj/out.db "SELECT count(*) FROM ferry_history WHERE kind = 'schema'")"

# The README's label example after a copy of the same plan: the import does not apply the
# target schema again (it failed with "table ... already exists").
cp proj/plan.yaml proj/plan-c.yaml
sed -i 's/out.db/out-c.db/' proj/plan-c.yaml
"$FERRY" copy -q -p proj/plan-c.yaml
"$FERRY" export -q -p proj/plan-c.yaml --label "$T/c.label"
set +e
"$FERRY" import -q -p proj/plan-c.yaml --label "$T/c.label" > /dev/null 2> imp.err
code=$?
set -e
grep -q 'already exists' imp.err && fail "import applied the schema again: $(cat imp.err)" || ok "import recognises the schema the copy applied"
check "import into the copied tables: refused, naming the copy" "2 1" "$code $(grep -c 'loaded by run' imp.err)"
"$FERRY" import -q --truncate -p proj/plan-c.yaml --label "$T/c.label"
check "import --truncate loads the label" "59" "$(sqlite3 proj/out-c.db 'SELECT count(*) FROM customers')"
check "import run again: complete" "True" \
	"$("$FERRY" import --json -p proj/plan-c.yaml --label "$T/c.label" | python3 -c 'import json,sys; print(json.load(sys.stdin)["already_complete"])')"

finish
