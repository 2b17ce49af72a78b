#!/usr/bin/env bash
# reload.sh — ferry reload-rejects: rows a run refused, fixed in the reject file (or with the
# target fixed), loaded into the target once, each row at most once however often the file
# is reloaded, rows refused again in a new file; then verified.
source "$(dirname "$0")/lib.sh"
cd "$T"
sqlite3 src.db "CREATE TABLE t(id INTEGER PRIMARY KEY, qty INTEGER, name TEXT, pic BLOB);
INSERT INTO t VALUES (1, 5, 'a', x'0102'), (2, -3, 'b', x'ff00'), (3, 7, 'c', NULL), (4, -1, 'd', x'00');
CREATE TABLE k(v TEXT, n INTEGER);
INSERT INTO k VALUES ('same', -1), ('same', -1), ('ok', 1);"
sqlite3 dst.db "CREATE TABLE t(id INTEGER PRIMARY KEY, qty INTEGER CHECK (qty >= 0), name TEXT, pic BLOB);
CREATE TABLE k(v TEXT, n INTEGER CHECK (n >= 0));"
set +e
"$FERRY" copy -q --append --max-rejects 10 src.db dst.db > /dev/null 2>&1
set -e
check "the run refused four rows (two of them equal, in a table without a key)" "4" "$(wc -l < dst.db.rejects.jsonl)"

# 1. Fix the rows in the file: qty of id 2 made 3; id 4 left as it was; one "same" fixed.
python3 - <<'PY'
import json
rows = [json.loads(l) for l in open("dst.db.rejects.jsonl")]
for r in rows:
    if r["table"] == "t" and r["key"]["id"] == 2:
        r["values"]["qty"] = 3
seen = 0
for r in rows:
    if r["table"] == "k" and seen == 0:
        r["values"]["n"] = 0
        seen = 1
with open("dst.db.rejects.jsonl", "w") as f:
    for r in rows:
        f.write(json.dumps(r, indent=None, separators=(", ", ": ")) + "\n")
PY
set +e
"$FERRY" reload-rejects --json dst.db.rejects.jsonl dst.db > r1.json 2> r1.err
c1=$?
set -e
check "reload: exit 3, the rows still wrong refused again" "3" "$c1"
check "... its summary: per table read/written/rejected/skipped" "k:2/1/1/0 t:2/1/1/0" \
	"$(python3 -c 'import json; print(" ".join(sorted("%s:%d/%d/%d/%d" % (t["target"], t["read"], t["written"], t["rejected"], t["skipped"]) for t in json.load(open("r1.json"))["tables"])))')"
check "... the fixed row arrived, its bytes exact" "2|3|b|FF00" "$(sqlite3 dst.db 'SELECT id, qty, name, hex(pic) FROM t WHERE id = 2')"
check "... the rows refused again are in the new file with the new reason" "2 2" \
	"$(wc -l < dst.db.rejects.again.jsonl) $(grep -c 'CHECK constraint failed' dst.db.rejects.again.jsonl)"
check "... and the error says where" "1" "$(grep -c 'refused 2 rows again: they are in "dst.db.rejects.again.jsonl"' r1.err)"
check "... ferry_history records the reload" "2|2 rows refused again: dst.db.rejects.again.jsonl" \
	"$(sqlite3 dst.db "SELECT rows_moved, verdict FROM ferry_history WHERE description LIKE 'ferry reload-rejects dst.db.rejects.jsonl%'")"

# 2. Reloading the same file loads nothing twice (k has no key: it would double).
set +e
"$FERRY" reload-rejects -q dst.db.rejects.jsonl dst.db > r2.out 2>&1
set -e
check "reloading the same file: nothing loaded twice" "3 2" \
	"$(sqlite3 dst.db 'SELECT count(*) FROM t') $(sqlite3 dst.db 'SELECT count(*) FROM k')"

# 3. Fix the target instead (the check was wrong), reload the rows refused again unchanged.
sqlite3 dst.db "CREATE TABLE t2 AS SELECT * FROM t; DROP TABLE t;
CREATE TABLE t(id INTEGER PRIMARY KEY, qty INTEGER, name TEXT, pic BLOB); INSERT INTO t SELECT * FROM t2; DROP TABLE t2;
CREATE TABLE k2 AS SELECT * FROM k; DROP TABLE k; CREATE TABLE k(v TEXT, n INTEGER); INSERT INTO k SELECT * FROM k2; DROP TABLE k2;"
"$FERRY" reload-rejects dst.db.rejects.again.jsonl dst.db > r3.out
check "the rows refused again, reloaded after the target was fixed" "4 3" \
	"$(sqlite3 dst.db 'SELECT count(*) FROM t') $(sqlite3 dst.db 'SELECT count(*) FROM k')"
set +e
"$FERRY" verify --full src.db dst.db > v.out 2>&1
cv=$?
set -e
check "verify: only the row fixed by hand differs from its source, and the one fixed in k" "5 1 1" \
	"$cv $(grep -c 'different {"id": 2}: qty: expected -3, target has 3' v.out) $(grep -cE '^k +3 +3 ' v.out)"
# The fixed values back as they were in the source: verify passes, every row once.
sqlite3 dst.db "UPDATE t SET qty = -3 WHERE id = 2; UPDATE k SET n = -1 WHERE v = 'same';"
"$FERRY" verify --full src.db dst.db > v2.out
check "verify --full after the reloads: every row, once" "1" "$(grep -c 'verify: OK' v2.out)"

# Three equal rows of a table without a key are three rows: all loaded, and reloading the
# file (its lines in another order and layout) loads none of them again.
for _ in 1 2 3; do printf '{"table":"k","key":null,"reason":"x","values":{"v":"triple","n":3}}\n'; done > triple.jsonl
"$FERRY" reload-rejects -q triple.jsonl dst.db
for _ in 1 2 3; do printf '{"values": {"n": 3, "v": "triple"}, "table": "k"}\n'; done > triple2.jsonl
"$FERRY" reload-rejects -q triple2.jsonl dst.db
check "three equal rows: three, once" "3" "$(sqlite3 dst.db "SELECT count(*) FROM k WHERE v = 'triple'")"
printf '{"table":"k","values":{"v":"triple","n":3}}\n' >> triple2.jsonl
"$FERRY" reload-rejects -q triple2.jsonl dst.db
check "a fourth equal row is a new row" "4" "$(sqlite3 dst.db "SELECT count(*) FROM k WHERE v = 'triple'")"

# 4. Mistakes are refused before anything is loaded, naming the line.
printf '{"table":"t","key":{"id":9},"reason":"x","values":{"id":9,"nope":1}}\n' > bad1.jsonl
printf '{"table":"t","key":{"id":9},"reason":"x","values":null}\n' > bad2.jsonl
printf '{"table":"t","values":{"id":9}\n' > bad3.jsonl
printf '{"table":"zz","values":{"id":9}}\n' > bad4.jsonl
for n in 1 2 3 4; do
	set +e
	"$FERRY" reload-rejects bad$n.jsonl dst.db > bad$n.out 2> bad$n.err
	echo $? > bad$n.code
	set -e
done
check "a column the target lacks" "2 1" "$(cat bad1.code) $(grep -c '^ferry: bad1.jsonl:1: target table "t" has no column "nope"$' bad1.err)"
check "a reject without values" "2 1" "$(cat bad2.code) $(grep -c "bad2.jsonl:1: the row's values were not recorded" bad2.err)"
check "a line that is not JSON" "2 1" "$(cat bad3.code) $(grep -c 'bad3.jsonl:1: not a rejected row' bad3.err)"
check "a table the target lacks" "2 1" "$(cat bad4.code) $(grep -c 'bad4.jsonl:1: target table "zz" does not exist' bad4.err)"
check "nothing was loaded by them" "4" "$(sqlite3 dst.db 'SELECT count(*) FROM t')"
"$FERRY" export -q src.db lab
set +e
"$FERRY" reload-rejects dst.db.rejects.jsonl label:lab > lab.out 2> lab.err
cl=$?
"$FERRY" reload-rejects nowhere.jsonl dst.db > nf.out 2> nf.err
cn=$?
set -e
check "a label as the target: refused" "2 1" "$cl $(grep -c 'cannot reload rows into "label:lab"' lab.err)"
check "a reject file that is not there: exit 2, named" "2 1" "$cn $(grep -c 'could not open reject file "nowhere.jsonl"' nf.err)"
finish
