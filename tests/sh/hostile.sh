#!/usr/bin/env bash
# hostile.sh — hostile input and faults without a server (issue 18; the table of cases is
# docs/HOSTILE.md; PostgreSQL's are in pg-hostile.sh): sources that are not databases, one
# database spelled twice, full disks, damaged and unfinished labels, very wide tables,
# renames onto a table of another shape, names with control and multibyte characters.
# Each case ends in a one-line refusal naming what and why, or in a correct result.
source "$(dirname "$0")/lib.sh"
cd "$T"

# run NAME CMD...: run a command, keeping its exit code, stdout (NAME.out) and stderr (NAME.err)
run() {
	local name=$1
	shift
	set +e
	timeout -k 5 60 "$@" > "$name.out" 2> "$name.err"
	echo $? > "$name.code"
	set -e
}
code() { cat "$1.code"; }
# refused NAME CODE PATTERN WHAT: the command NAME exited CODE with one line matching PATTERN
refused() {
	if [ "$(code "$1")" = "$2" ] && [ "$(wc -l < "$1.err")" = 1 ] && grep -qE "$3" "$1.err"; then
		ok "$4: $(cat "$1.err")"
	else
		fail "$4: exit $(code "$1"), $(cat "$1.out" "$1.err")"
	fi
}

sqlite3 s.db "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a'), (2, 'b');"

# ---- sources that are not databases ---------------------------------------------------
: > empty.db
mkdir dir.db
mkfifo fifo.db
echo "not a database at all, just some text" > text.db
run zero "$FERRY" copy /dev/zero t1.db
refused zero 2 '"/dev/zero": is a character device, not a database file' "/dev/zero as a source"
run null "$FERRY" copy /dev/null t1.db
refused null 2 '"/dev/null": is a character device' "/dev/null as a source"
run empty "$FERRY" copy empty.db t1.db
refused empty 2 'source database "empty.db": the file is empty, not a database' "an empty file as a source"
run dir "$FERRY" copy dir.db t1.db
refused dir 2 '"dir.db": is a directory' "a directory as a source"
start=$(date +%s)
run fifo "$FERRY" copy fifo.db t1.db
refused fifo 2 '"fifo.db": is a FIFO, not a database file' "a FIFO as a source, at once ($(( $(date +%s) - start )) s)"
run fifot "$FERRY" copy s.db fifo.db
refused fifot 2 '"fifo.db": is a FIFO' "a FIFO as a target"
run text "$FERRY" copy text.db t1.db
refused text 2 'file is not a database' "a text file as a source"
run verzero "$FERRY" verify /dev/zero s.db
refused verzero 2 'is a character device' "verify with /dev/zero as a source"
check "nothing was created for any of them" "0" "$(ls t1.db 2> /dev/null | wc -l)"
run mem "$FERRY" copy s.db sqlite::memory:
refused mem 2 'cannot load table "t" into an in-memory database' "sqlite::memory: as the target"
# As a source it is a new, empty database: refused, not "copied" in full with nothing in it.
run memsrc "$FERRY" copy sqlite::memory: tm.db
refused memsrc 2 'cannot read database ":memory:": an in-memory database is new and empty' "sqlite::memory: as the source"
run memsrc2 "$FERRY" copy :memory: tm.db
refused memsrc2 2 'an in-memory database is new and empty' ":memory: as the source"
run memver "$FERRY" verify s.db sqlite::memory:
refused memver 2 'an in-memory database is new and empty' "verify of sqlite::memory: as the target"
check "no target file for an in-memory source" "0" "$(ls tm.db 2> /dev/null | wc -l)"
# A blocking open of the rejects file (a FIFO nobody reads) ends at the first SIGTERM.
sqlite3 r.db "CREATE TABLE t(id INTEGER PRIMARY KEY, v); INSERT INTO t VALUES (1, -0.0), (2, 1);"
sqlite3 rt.db "CREATE TABLE t(id INTEGER PRIMARY KEY, v REAL);"
set +e
"$FERRY" copy -q --rejects fifo.db r.db rt.db > sig.out 2> sig.err &
pid=$!
# Until it blocks in the open (the kernel's wait for a reader), however slow the start.
for _ in $(seq 1 200); do
	cat /proc/$pid/task/*/wchan 2> /dev/null | grep -q 'wait_for_partner' && break
	sleep 0.05
done
kill -TERM $pid
for _ in $(seq 1 50); do kill -0 $pid 2> /dev/null || break; sleep 0.2; done
if kill -0 $pid 2> /dev/null; then
	kill -KILL $pid
	fail "SIGTERM did not end a blocked open of the rejects file"
else
	wait $pid
	c=$?
	[ "$c" != 0 ] && grep -q 'could not write reject file "fifo.db"' sig.err &&
		ok "SIGTERM ends a blocked open, naming it (exit $c): $(cat sig.err)" ||
		fail "SIGTERM: exit $c: $(cat sig.err)"
fi
set -e

# ---- the same database spelled twice: refused at once, not after a lock wait -----------
sqlite3 same.db "CREATE TABLE t(id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1);"
ln -s same.db link.db
ln same.db hard.db
mkdir sub
n=0
for pair in "sqlite:same.db sqlite:./same.db" "same.db link.db" "same.db hard.db" "same.db $T/same.db" \
	"sqlite:same.db sqlite://$T/same.db" "same.db sub/../same.db" "link.db hard.db"; do
	n=$((n + 1))
	start=$(date +%s)
	# shellcheck disable=SC2086
	run same$n "$FERRY" copy $pair
	refused same$n 2 'and the target are the same database' "same database as '$pair' ($(( $(date +%s) - start )) s)"
done
check "the database was not touched" "1|delete" "$(sqlite3 same.db 'SELECT count(*) FROM t')|$(sqlite3 same.db 'PRAGMA journal_mode')"
cat > same.yaml <<EOF
sources: {old: same.db}
target: ./link.db
EOF
run sameplan "$FERRY" copy -p same.yaml
refused sameplan 2 'the same database' "same database through a plan"

# ---- tables with SQLite's maximum of columns (2000) ------------------------------------------
python3 - <<'PY' | sqlite3 wide.db
cols = ", ".join("c%d" % i for i in range(1, 2000))
print("CREATE TABLE w(id INTEGER PRIMARY KEY, %s);" % cols)
print("INSERT INTO w(id, c1, c1000, c1999) VALUES (1, 5, 'x', 7), (2, 6, NULL, 8);")
print("CREATE TABLE nk(%s, c2000);" % cols)
print("INSERT INTO nk(c1, c2000) VALUES (1, 2), (1, 2), (3, NULL);")
print("CREATE TABLE wr(id TEXT PRIMARY KEY, %s) WITHOUT ROWID;" % cols)
print("INSERT INTO wr(id, c1999) VALUES ('a', 1), ('b', 2);")
PY
run wide "$FERRY" copy -q --verify --chunk-rows 1 wide.db wide-t.db
check "2000 columns: a keyed, a keyless and a WITHOUT ROWID table copied and verified" "0" "$(code wide)"
check "their rows, every column" "1|5|x|7 2|6||8|3|2" \
	"$(sqlite3 wide-t.db "SELECT group_concat(id || '|' || c1 || '|' || ifnull(c1000, '') || '|' || c1999, ' ') FROM w")|$(sqlite3 wide-t.db 'SELECT count(*) FROM nk')|$(sqlite3 wide-t.db 'SELECT count(*) FROM wr')"
run widev "$FERRY" verify --full wide.db wide-t.db
check "verify --full of 2000-column tables" "0" "$(code widev)"
run widel "$FERRY" export -q wide.db wide-lab
run widei "$FERRY" import -q --verify wide-lab wide-t2.db
check "through a label" "0|0|2" "$(code widel)|$(code widei)|$(sqlite3 wide-t2.db 'SELECT count(*) FROM w')"

# ---- names: multibyte past the summary's width, control characters --------------------------
long=$(python3 -c 'print("é" * 45)')
sqlite3 names.db "CREATE TABLE \"$long\"(id INTEGER PRIMARY KEY); INSERT INTO \"$long\" VALUES (1);
	CREATE TABLE \"two
lines\"(id INTEGER PRIMARY KEY, \"col
x\" TEXT); INSERT INTO \"two
lines\" VALUES (1, 'a');
	CREATE TABLE \"tab	bed\"(id INTEGER PRIMARY KEY); INSERT INTO \"tab	bed\" VALUES (1);"
run names "$FERRY" copy --verify names.db names-t.db
check "names with a newline, a tab, 45 two-byte characters: copied and verified" "0" "$(code names)"
if python3 - names.out names.err <<'PY'
import sys
for f in sys.argv[1:]:
    raw = open(f, "rb").read()
    raw.decode("utf-8")  # a name cut inside a character would fail here
    for line in raw.decode().splitlines():
        assert not line.startswith("lines") and not line.startswith("x\""), line
PY
then
	ok "every line is valid UTF-8 and no name breaks a line"
else
	fail "output of odd names: $(cat -A names.out names.err | head -n 20)"
fi
check "one summary line per table, the names escaped" "3" "$(grep -cE '^source\.(two\\x0alines|tab\\x09bed|é+) ' names.out)"
check "one progress line per table, for the copy and for its verify" "6" "$(grep -c ' <- source\.' names.err)"

# ---- rename onto an existing table of another shape --------------------------------------
sqlite3 rn.db "CREATE TABLE a(id INTEGER PRIMARY KEY, x TEXT, y INTEGER); INSERT INTO a VALUES (1, 'p', 10), (2, 'q', 20);"
mkrt() { rm -f rn-t.db; sqlite3 rn-t.db "CREATE TABLE b(id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT 'n', z INTEGER); INSERT INTO b VALUES (5, 'five', 50);"; }
printf 'source: rn.db\ntarget: rn-t.db\ntables:\n  - table: a\n    rename: b\n' > rn.yaml
for opt in "" --append --truncate; do
	mkrt
	# shellcheck disable=SC2086
	run rn "$FERRY" copy $opt -p rn.yaml
	refused rn 2 'rn.yaml:4:5: table "a" is renamed onto existing target table "b" of another shape \(only in the source: "x", "y"; only in the target: "name", "z"\)' "rename onto a different table${opt:+ with $opt}"
	check "  and the target table is as it was" "5|five|50" "$(sqlite3 rn-t.db 'SELECT * FROM b')"
done
mkrt
printf 'source: rn.db\ntarget: rn-t.db\ntables:\n  - table: a\n    rename: b\n    columns:\n      name: {from: x}\n      z: {from: y}\n' > rn2.yaml
run rn2 "$FERRY" copy -q --append -p rn2.yaml
check "with the columns mapped by the plan it loads" "0|1,p,10 2,q,20 5,five,50" \
	"$(code rn2)|$(sqlite3 rn-t.db "SELECT group_concat(id || ',' || name || ',' || z, ' ') FROM b")"
rm -f rn-t.db
sqlite3 rn-t.db "CREATE TABLE b(id INTEGER PRIMARY KEY, x TEXT, y INTEGER);"
run rn3 "$FERRY" copy -q -p rn.yaml
check "a rename onto an existing table of the same shape loads" "0|2" "$(code rn3)|$(sqlite3 rn-t.db 'SELECT count(*) FROM b')"

# ---- full disks ----------------------------------------------------------------------
sqlite3 manyrej.db "CREATE TABLE t(id INTEGER PRIMARY KEY, v);
	WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) INSERT INTO t SELECT i, -0.0 FROM n;"
sqlite3 mt.db "CREATE TABLE t(id INTEGER PRIMARY KEY, v REAL);"
run full "$FERRY" copy -q --rejects /dev/full manyrej.db mt.db
refused full 1 'could not write reject file "/dev/full": No space left on device' "a full disk under the rejects file (3000 lines)"
sqlite3 mt2.db "CREATE TABLE t(id INTEGER PRIMARY KEY, v REAL);"
run full2 "$FERRY" copy -q --rejects /dev/full r.db mt2.db
refused full2 1 'could not write reject file "/dev/full": No space left on device' "a full disk under a one-line rejects file"
# A small tmpfs, where the system lets us mount one (root in a container); otherwise the
# cases above (/dev/full) stand for it.
mkdir small
if mount -t tmpfs -o size=96k tmpfs small 2> /dev/null; then
	trap 'umount "$T/small" 2> /dev/null || true; rm -rf "$T"' EXIT
	sqlite3 big.db "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);
		WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) INSERT INTO t SELECT i, hex(randomblob(40)) FROM n;"
	run exfull "$FERRY" export -q big.db small/lab
	refused exfull 1 'could not write label chunk "small/lab/.*": No space left on device' "a full disk under an export"
	run lvfull "$FERRY" label verify small/lab
	if [ "$(code lvfull)" = 1 ] && grep -q "INCOMPLETE" lvfull.out && grep -q 'is incomplete' lvfull.err; then
		ok "label verify fails on the label the full disk left: $(cat lvfull.err)"
	else
		fail "label verify on an unfinished label: exit $(code lvfull): $(cat lvfull.out lvfull.err)"
	fi
	run cpfull "$FERRY" copy -q big.db small/t.db
	if [ "$(code cpfull)" = 1 ] && grep -qE 'small/t.db.*(full|No space)' cpfull.err; then
		ok "a full disk under a SQLite target names it: $(cat cpfull.err)"
	else
		fail "full disk under a target: exit $(code cpfull): $(cat cpfull.err)"
	fi
	umount small
else
	ok "no tmpfs can be mounted here: the full-disk cases run on /dev/full only"
fi

# ---- labels: unfinished, a folder or a chunk gone: nothing is loaded -----------------------
sqlite3 two.db "CREATE TABLE a(id INTEGER PRIMARY KEY, v); CREATE TABLE b(id INTEGER PRIMARY KEY, v);
	INSERT INTO a VALUES (1, 1), (2, 2); INSERT INTO b VALUES (1, 1);"
"$FERRY" export -q two.db lab
cp -r lab lab-nofolder
rm -rf lab-nofolder/main/000001-b
run nofolder "$FERRY" import lab-nofolder it1.db
refused nofolder 1 'label "lab-nofolder" is not whole: could not open chunk ".*" of table "b": No such file or directory' "import of a label with a table's folder gone"
check "nothing was created in the target" "0" "$(ls it1.db 2> /dev/null | wc -l)"
run lvnofolder "$FERRY" label verify lab-nofolder
refused lvnofolder 1 'missing chunks' "label verify of a label with a table's folder gone"
cp -r lab lab-cut
truncate -s -5 lab-cut/main/000000-a/000000.chunk
sqlite3 it2.db "CREATE TABLE keep(x); INSERT INTO keep VALUES (1);"
run cut "$FERRY" import lab-cut it2.db
refused cut 1 'chunk ".*" of table "a" holds [0-9]+ bytes, the manifest says [0-9]+' "import of a label with a chunk cut short"
check "the existing target is unchanged" "keep" "$(sqlite3 it2.db '.tables')"
set +e
FERRY_FAULT=kill-after-commit:1 "$FERRY" export -q --chunk-rows 1 two.db lab-unfinished > /dev/null 2>&1
set -e
run lvunf "$FERRY" label verify lab-unfinished
refused lvunf 1 'is incomplete: 1 of its stages not finished, 2 chunks never written' "label verify of an unfinished export"
grep -q "INCOMPLETE" lvunf.out && ok "and its report says INCOMPLETE" || fail "label verify output: $(cat lvunf.out)"
run lvunfj "$FERRY" label verify --json lab-unfinished
check "label verify --json says ok false" "False 2" \
	"$(python3 -c 'import json; r = json.load(open("lvunfj.out")); print(r["ok"], r["unwritten"])')"
run lvok "$FERRY" label verify lab
check "a whole label still verifies" "0" "$(code lvok)"

finish
