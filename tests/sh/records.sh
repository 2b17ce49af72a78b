#!/usr/bin/env bash
# records.sh — what ferry_history keeps (issue #17 "Why" 6): data runs with their real
# duration, one timestamp form (ISO 8601 UTC) on every engine (pg-identity.sh checks
# PostgreSQL), a repair recorded as a row of its own, a plan-less copy naming its ends.
source "$(dirname "$0")/lib.sh"
cd "$T"
resume_source src.db 2000 20000 3000
"$FERRY" copy -q src.db out.db
hist() { "$FERRY" history --json "$1" | python3 -c "$2"; }
check "a data run's duration is recorded" "True" \
	"$(hist out.db 'import json,sys; h=[r for r in json.load(sys.stdin)["history"] if r["kind"]=="data"]; print(len(h)==1 and h[0]["duration_ms"]>0)')"
check "a plan-less copy names its source and target" "ferry copy sqlite:src.db sqlite:out.db" \
	"$(hist out.db 'import json,sys; print([r for r in json.load(sys.stdin)["history"] if r["kind"]=="data"][0]["description"])')"
check "timestamps are ISO 8601 UTC" "True" \
	"$(hist out.db 'import json,re,sys; print(all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r["applied_at"]) for r in json.load(sys.stdin)["history"]))')"

# repair: the accepted edit is a row of the history, not forgotten.
mkdir migrations
echo 'CREATE TABLE a(x);' > migrations/V1__a.sql
"$FERRY" migrate -q m.db -d migrations
echo 'CREATE TABLE a(x, y);' > migrations/V1__a.sql
"$FERRY" repair -q m.db -d migrations
check "repair records what it accepted" "1 True" \
	"$(hist m.db 'import json,sys; h=[r for r in json.load(sys.stdin)["history"] if r["kind"]=="repair"]; print(len(h), "accepted V1__a.sql of version 1" in h[0]["description"])')"

# An import names the tables its rows came from (it named "label.000000-parent"), and an
# import without a plan says what it does not apply (it skipped target_schema silently).
"$FERRY" export -q src.db "$T/l.label"
"$FERRY" import --json "$T/l.label" imp.db > imp.json 2> /dev/null
check "import names the original tables" "source.child (label) source.nokey (label) source.parent (label)" \
	"$(python3 -c 'import json; print(" ".join(sorted(t["source"] for t in json.load(open("imp.json"))["tables"])))')"
check "import without a plan says what it does not apply" "1" \
	"$(python3 -c 'import json; print(sum("import without a plan" in n["message"] for n in json.load(open("imp.json"))["notes"]))')"
finish
