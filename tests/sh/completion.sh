#!/usr/bin/env bash
# completion.sh — the bash completion cmake builds (scripts/gen-completion.sh, from the
# --help text) and installs: sourced into bash, it completes commands, a command's options
# and words, plan files after -p, directories after --label, and it knows every option each
# command's --help lists.
source "$(dirname "$0")/lib.sh"
build="$(dirname "$FERRY")"
comp="$build/completion/ferry"
[ -f "$comp" ] && ok "built $comp" || fail "no completion file in the build"
cd "$T"
mkdir -p plans/sub labels/one
touch plans/a.yaml plans/b.yml plans/notes.txt old.db
# complete WORDS...: what _ferry offers for the last word, sorted, one line
complete_words() {
	bash -c '
		source "$1"
		shift
		COMP_WORDS=("$@")
		COMP_CWORD=$(($# - 1))
		_ferry
		[ ${#COMPREPLY[@]} -gt 0 ] && printf "%s\n" "${COMPREPLY[@]}" | LC_ALL=C sort | tr "\n" " "' _ "$comp" "$@"
}
check "a command" "copy cutover " "$(complete_words ferry c)"
check "help and a command" "reload-rejects repair " "$(complete_words ferry help re)"
check "copy's options" "--check --chunk-rows " "$(complete_words ferry copy --ch)"
check "reload-rejects' options" "--rejects " "$(complete_words ferry reload-rejects --rej)"
check "plan files after -p" "plans/a.yaml plans/b.yml plans/sub " "$(complete_words ferry copy -p plans/)"
check "plan files after --plan of verify" "plans/a.yaml plans/b.yml plans/sub " "$(complete_words ferry verify --plan plans/)"
check "a directory after --label" "labels/one " "$(complete_words ferry import --label labels/)"
check "nothing offered for a number" "" "$(complete_words ferry copy --threads "")"
check "label's words" "inspect " "$(complete_words ferry label i)"
check "a file as SOURCE" "old.db " "$(complete_words ferry copy ol)"
# Every option of every command's --help is offered for that command.
missing=""
for cmd in $("$FERRY" --help | awk '/^Commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 } on && /^$/ { exit }'); do
	case "$cmd" in help|version) continue ;; esac
	offered=" $(complete_words ferry "$cmd" -)"
	for o in $("$FERRY" "$cmd" --help | grep -oE '^  +(-[a-zA-Z], )?--[a-z][a-z-]*' | grep -oE -- '--[a-z][a-z-]*'); do
		case "$offered" in *" $o "*) ;; *) missing="$missing $cmd:$o" ;; esac
	done
done
check "every option of every --help is completed" "" "$missing"
# cmake --install puts it where bash-completion finds it.
cmake --install "$build" --prefix "$T/prefix" > /dev/null
check "installed" "1" "$(ls "$T/prefix/share/bash-completion/completions/ferry" 2> /dev/null | wc -l)"
finish
