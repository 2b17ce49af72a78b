#!/usr/bin/env bash
# rejects.sh — a refused row can be fixed and loaded again (issue #17 "Why" 7: the reject
# file held only key and reason): each line holds the row's values as JSON (bytes as base64),
# the file is TARGET.rejects.jsonl beside a SQLite target (or --rejects PATH), and the reload
# documented in docs/PLAN-REFERENCE.md ("Rejected rows") loads the fixed rows.
# (pg-identity.sh checks the place beside the plan for a PostgreSQL target.)
source "$(dirname "$0")/lib.sh"
cd "$T"

sqlite3 src.db <<'SQL'
CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT, price TEXT, pic BLOB);
INSERT INTO items VALUES (1, 'one', '10', x'00ff10'), (2, 'two', '012', x'cafe'), (3, 'three', '30', NULL),
  (4, 'four', 'abc', x'');
SQL
sqlite3 dst.db "CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT, price INTEGER CHECK (price < 100), pic BLOB)"
set +e
"$FERRY" copy -q --append --max-rejects 5 src.db dst.db > out 2> err
code=$?
set -e
check "the run finishes, rows refused" "0" "$code"
check "beside the target: dst.db.rejects.jsonl" "1" "$([ -f dst.db.rejects.jsonl ] && echo 1)"
check "the refused row's values, bytes as base64" '{"id": 2, "name": "two", "pic": {"base64": "yv4="}, "price": "012"}' \
	"$(python3 -c 'import json; r=[json.loads(l) for l in open("dst.db.rejects.jsonl")]; print(json.dumps([x for x in r if x["key"]["id"]==2][0]["values"], sort_keys=True))')"
check "the key and the reason stay" "1" "$(grep -c '"reason":".*012' dst.db.rejects.jsonl)"

# The documented reload: fix the values (here: the price as the number it means), then load
# each line back (python3 here: bytes come back from base64).
python3 - <<'PY'
import json
out = open("fixed.jsonl", "w")
for line in open("dst.db.rejects.jsonl"):
    r = json.loads(line)
    v = r["values"]
    if v["price"] == "012":
        v["price"] = 12
        out.write(json.dumps(v) + "\n")
PY
python3 - <<'PY'
import base64, json, sqlite3
db = sqlite3.connect("dst.db")
for line in open("fixed.jsonl"):
    v = json.loads(line)
    for k, x in v.items():
        if isinstance(x, dict) and "base64" in x:
            v[k] = base64.b64decode(x["base64"])
    db.execute("INSERT INTO items(%s) VALUES (%s)" % (",".join(v), ",".join("?" * len(v))), list(v.values()))
db.commit()
PY
check "the fixed row is loaded, its bytes exact" "12|cafe" "$(sqlite3 dst.db "SELECT price || '|' || lower(hex(pic)) FROM items WHERE id = 2")"

sqlite3 dst2.db "CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT, price INTEGER CHECK (price < 100), pic BLOB)"
"$FERRY" copy -q --append --max-rejects 5 --rejects "$T/elsewhere.jsonl" src.db dst2.db > /dev/null 2>&1 || true
check "--rejects PATH" "1 0" "$([ -f elsewhere.jsonl ] && echo 1) $(ls dst2.db.rejects.jsonl 2> /dev/null | wc -l)"
finish
