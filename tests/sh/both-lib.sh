# both-lib.sh — ferry sync --both-ways tests' shared parts: the plan (items renamed products
# with a renamed, a dropped, a computed and a defaulted column; users owned by the old
# version; pairs settled new_wins), its hand-written reverse for ferry verify the other way,
# and the independent comparison. Source after lib.sh and sync-lib.sh.
# shellcheck shell=bash

# both_plan DIR OLD_URL NEW_URL: DIR/v2.sql, DIR/plan.yaml, DIR/back.yaml.
both_plan() {
	sync_v2_schema "$1" "$3"
	cat > "$1/plan.yaml" <<YAML
source: $2
target: $3
target_schema: v2.sql
chunk_rows: 200
tables:
  - table: items
    rename: products
    both_ways: { conflict: last_commit }
    columns:
      title: name
      secret: { drop: true }
      total: { expr: "price * qty + 0.0" }
      status: { default: "new" }
  - table: users
    owner: old
  - table: pairs
    both_ways: { conflict: new_wins }
YAML
	cat > "$1/back.yaml" <<YAML
source: $3
target: $2
tables:
  - table: products
    rename: items
    columns:
      name: title
      total: { drop: true }
      status: { drop: true }
YAML
}

both_compare() { $PY "$(dirname "${BASH_SOURCE[0]}")/both-compare.py" "$1" "$2"; }

# both_verify: ferry verify --full one way and the other ("0 0" when both agree).
both_verify() {
	local a=0 b=0
	"$FERRY" verify -q -p plan.yaml --full > /dev/null 2>&1 || a=$?
	"$FERRY" verify -q -p back.yaml --full > /dev/null 2>&1 || b=$?
	echo "$a $b"
}
