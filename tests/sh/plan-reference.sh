#!/usr/bin/env bash
# plan-reference.sh — run every example of docs/PLAN-REFERENCE.md. Each ```yaml block is a
# complete plan: in a fresh directory, the page's ```sql blocks are turned into the files
# their first line names (`-- file: shop-v1.db` is a database made with sqlite3, any other
# path a file written as it is, e.g. a target schema), the block becomes plan.yaml, and
# `ferry copy --quiet --json -p plan.yaml` must end as the block's leading comments say:
#   # expect: exit N          the exit code (default 0)
#   # expect-error: TEXT      the one-line error message on stderr contains TEXT
#   # expect-arrived: BOOL    the JSON summary's all_rows_arrived (default: true for exit 0,
#                             false for exit 3)
#   # expect-verify: exit N   after a run that finished (exit 0 or 3), `ferry verify --full`
#                             ends with N (default 0 after exit 0: the target holds what the
#                             plan says; 5 after exit 3: the rejected rows are missing)
# A run that prints a summary must also count consistently: per table,
# written + rejected = read - skipped - waiting (rows `later:` delays). A run refused with exit 2 must leave no new file.
source "$(dirname "$0")/lib.sh"
SRC="${FERRY_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}"
DOC="$SRC/docs/PLAN-REFERENCE.md"
FERRY="$(cd "$(dirname "$FERRY")" && pwd)/$(basename "$FERRY")"

# Split the page: sql/N.sql with sql/N.path (its line, then the `-- file:` path or nothing), and
# yaml/N.yaml with yaml/N.where ("LINE<TAB>HEADING"). Fences open with ``` at a line start
# (```yaml, ```sql, ```text, or bare) and close with a line that is only ```.
mkdir -p "$T/sql" "$T/yaml" "$T/run"
python3 - "$DOC" "$T" <<'PY'
import re, sys
doc, out = sys.argv[1], sys.argv[2]
heading, lang, start, body = "(top)", None, 0, []
nsql = nyaml = 0
for no, line in enumerate(open(doc, encoding="utf-8").read().split("\n"), 1):
    if lang is None:
        if line.startswith("```"):
            lang, start, body = line[3:].strip(), no, []
        elif re.match(r"#{1,6} ", line):
            heading = line
        continue
    if line != "```":
        body.append(line)
        continue
    text = "\n".join(body) + "\n"
    if lang == "sql":
        nsql += 1
        m = re.match(r"-- file: (\S+)\s*$", body[0]) if body else None
        open(f"{out}/sql/{nsql:03d}.sql", "w").write(text)
        open(f"{out}/sql/{nsql:03d}.path", "w").write(f"{start}\n" + (m.group(1) if m else "") + "\n")
    elif lang == "yaml":
        nyaml += 1
        open(f"{out}/yaml/{nyaml:03d}.yaml", "w").write(text)
        open(f"{out}/yaml/{nyaml:03d}.where", "w").write(f"{start}\t{heading}\n")
    lang = None
if lang is not None:
    print(f"FAIL - {doc}:{start}: a ``` block is not closed")
PY

fences=$(grep -c '^```yaml' "$DOC" || true)
ran=0

# The fixtures: every ```sql block must name its file.
fixtures=()
for f in "$T"/sql/*.sql; do
	[ -e "$f" ] || break
	{ read -r line; read -r path; } < "${f%.sql}.path"
	case "$path" in
	"") fail "PLAN-REFERENCE.md:$line: a \`\`\`sql block without a '-- file: PATH' first line" ;;
	/* | *..*) fail "PLAN-REFERENCE.md:$line: '-- file: $path' must be a relative path inside the example's directory" ;;
	*) fixtures+=("$f") ;;
	esac
done
make_fixtures() { # make_fixtures DIR: every fixture file in DIR
	local f path line
	for f in "${fixtures[@]}"; do
		{ read -r line; read -r path; } < "${f%.sql}.path"
		mkdir -p "$1/$(dirname "$path")"
		case "$path" in
		*.db) sqlite3 -bail "$1/$path" < "$f" > /dev/null || { echo "fixture $path (line $line) does not load"; return 1; } ;;
		*) cp "$f" "$1/$path" ;;
		esac
	done
}

for plan in "$T"/yaml/*.yaml; do
	[ -e "$plan" ] || break
	IFS=$'\t' read -r line heading < "${plan%.yaml}.where"
	name="PLAN-REFERENCE.md:$line ($heading)"
	ran=$((ran + 1))

	# The expectations: leading comment lines.
	want_code=0 want_err="" want_arrived="" want_verify="" bad=""
	while IFS= read -r l; do
		case "$l" in
		"# expect: exit "*) want_code="${l#\# expect: exit }" ;;
		"# expect-error: "*) want_err="${l#\# expect-error: }" ;;
		"# expect-arrived: "*) want_arrived="${l#\# expect-arrived: }" ;;
		"# expect-verify: exit "*) want_verify="${l#\# expect-verify: exit }" ;;
		"# expect"*) bad="unknown expectation: $l" ;;
		"#"*) ;;
		*) break ;;
		esac
	done < "$plan"
	case "$want_code" in 0 | 1 | 2 | 3 | 130) ;; *) bad="unknown exit code in '# expect: exit $want_code'" ;; esac
	case "$want_arrived" in "") [ "$want_code" = 3 ] && want_arrived=false || want_arrived=true ;; true | false) ;; *) bad="'# expect-arrived:' takes true or false" ;; esac
	if [ -n "$bad" ]; then
		fail "$name: $bad"
		continue
	fi

	d="$T/run/$(basename "${plan%.yaml}")"
	mkdir -p "$d"
	if ! msg=$(make_fixtures "$d"); then
		fail "$name: $msg"
		continue
	fi
	cp "$plan" "$d/plan.yaml"
	(cd "$d" && find . -type f | sort) > "$T/before.txt"
	# Run from elsewhere: relative paths in a plan are relative to the plan file.
	set +e
	(cd "$T" && "$FERRY" copy --quiet --json -p "$d/plan.yaml" > "$d.json" 2> "$d.err")
	code=$?
	set -e
	why=""
	if [ "$code" != "$want_code" ]; then
		why="exit code $code, expected $want_code"
	elif [ -n "$want_err" ] && ! grep -qF -- "$want_err" "$d.err"; then
		why="the error message does not contain [$want_err]"
	elif [ "$code" != 0 ] && [ "$(grep -c '^ferry: ' "$d.err")" != 1 ]; then
		why="expected one error line"
	elif [ "$code" = 2 ]; then
		(cd "$d" && find . -type f | sort) > "$T/after.txt"
		if ! cmp -s "$T/before.txt" "$T/after.txt"; then
			why="refused with exit 2 but left new files: $(comm -13 "$T/before.txt" "$T/after.txt" | tr '\n' ' ')"
		fi
	elif [ "$code" = 0 ] || [ "$code" = 3 ]; then
		why=$(python3 - "$d.json" "$want_arrived" <<'PY'
import json, sys
try:
    s = json.load(open(sys.argv[1]))
except ValueError as e:
    print(f"no JSON summary on stdout ({e})")
    sys.exit()
want = sys.argv[2] == "true"
if s["all_rows_arrived"] != want:
    print(f"all_rows_arrived is {str(s['all_rows_arrived']).lower()}, expected {sys.argv[2]}")
for t in s["tables"]:
    if t["written"] + t["rejected"] != t["read"] - t["skipped"] - t.get("waiting", 0):
        print(f"{t['source']} -> {t['target']}: written {t['written']} + rejected {t['rejected']}"
              f" != read {t['read']} - skipped {t['skipped']} - waiting {t.get('waiting', 0)}")
if not s["tables"]:
    print("the summary lists no table")
PY
)
		# The target holds what the plan says: verify agrees (every row compared).
		[ -n "$want_verify" ] || { [ "$code" = 0 ] && want_verify=0 || want_verify=5; }
		if [ -z "$why" ]; then
			set +e
			(cd "$T" && "$FERRY" verify --quiet --full -p "$d/plan.yaml" > "$d.verify" 2>&1)
			vcode=$?
			set -e
			if [ "$vcode" != "$want_verify" ]; then
				why="ferry verify --full exited $vcode, expected $want_verify"
				cat "$d.verify" >> "$d.err"
			fi
		fi
	fi
	if [ -z "$why" ]; then
		ok "$name: exit $code"
	else
		fail "$name: $why"
		sed 's/^/    /' "$d.err"
	fi
done

check "every \`\`\`yaml block of PLAN-REFERENCE.md ran" "$fences" "$ran"
finish
