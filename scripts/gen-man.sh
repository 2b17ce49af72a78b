#!/bin/sh
# gen-man.sh FERRY OUTDIR — a man page per command, made from the same text as its --help
# (so the two cannot drift): ferry.1 from `ferry --help`, ferry-CMD.1 from `ferry CMD --help`.
# The usage lines become SYNOPSIS, the text before the first "Heading:" line DESCRIPTION,
# each "Heading:" block a section of its own, kept as written (.nf).
set -eu
ferry=$1
out=$2
mkdir -p "$out"
version=$("$ferry" version 2> /dev/null | awk '{ print $NF; exit }')

# roff PAGE NAME SUMMARY < help text
roff() {
	awk -v page="$1" -v name="$2" -v summary="$3" -v version="$version" '
	function esc(s) {
		gsub(/\\/, "\\e", s)
		gsub(/-/, "\\-", s)
		if (s ~ /^[.\047]/) s = "\\&" s
		return s
	}
	BEGIN {
		printf ".TH %s 1 \"\" \"ferry %s\" \"ferry manual\"\n", toupper(page), version
		printf ".SH NAME\n%s \\- %s\n", name, esc(summary)
		part = "start"
	}
	/^usage: / || (part == "synopsis" && /^       /) {
		if (part != "synopsis") { print ".SH SYNOPSIS"; print ".nf"; part = "synopsis" }
		sub(/^usage: /, ""); sub(/^       /, "")
		print esc($0)
		next
	}
	/^[A-Z][A-Za-z ]*:$/ {
		if (part == "synopsis" || part == "section") print ".fi"
		h = $0; sub(/:$/, "", h)
		printf ".SH %s\n.nf\n", toupper(h)
		part = "section"
		next
	}
	{
		if (part == "synopsis") { print ".fi"; part = "description"; print ".SH DESCRIPTION" }
		if (part == "start") { part = "description"; print ".SH DESCRIPTION" }
		if (part == "description" && $0 == "") { print ".PP"; next }
		print esc($0)
	}
	END { if (part == "synopsis" || part == "section") print ".fi" }'
}

"$ferry" --help | roff ferry ferry "carry a database from one version of its schema to the next" > "$out/ferry.1"
"$ferry" --help | awk '/^Commands:/ { on = 1; next } on && /^  [a-z]/ { print } on && /^$/ { exit }' |
while read -r cmd summary; do
	case "$cmd" in help|version) continue ;; esac
	"$ferry" "$cmd" --help | roff "ferry-$cmd" "ferry-$cmd" "$summary" > "$out/ferry-$cmd.1"
done
