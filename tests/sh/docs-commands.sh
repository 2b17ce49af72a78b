#!/usr/bin/env bash
# docs-commands.sh — every ferry command line the README, docs/ and the examples show (in a
# `code span` or a fenced block) names a command that exists and only options its --help
# lists, so a renamed or removed option cannot stay in the docs. (The plan examples are run
# by plan-reference.sh, the migration ones by migrate-docs.sh, the demo by demo.sh.)
source "$(dirname "$0")/lib.sh"
SRC="${FERRY_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}"
python3 - "$FERRY" "$SRC" > "$T/bad.txt" <<'PY'
import glob, re, subprocess, sys
ferry, src = sys.argv[1], sys.argv[2]
files = [src + "/README.md"] + sorted(glob.glob(src + "/docs/*.md")) + sorted(glob.glob(src + "/examples/*/*.sh")) \
    + sorted(glob.glob(src + "/examples/*/*.yaml"))
out = subprocess.run([ferry, "--help"], capture_output=True, text=True).stdout
cmds, on = set(), False
for l in out.split("\n"):
    if l.startswith("Commands:"):
        on = True
    elif on and re.match(r"^  [a-z]", l):
        cmds.add(l.split()[0])
    elif on and l == "":
        break
helps = {}
def help_of(cmd):
    if cmd not in helps:
        helps[cmd] = subprocess.run([ferry, cmd, "--help"], capture_output=True, text=True).stdout
    return helps[cmd]
def code_of(path, text):
    """(line, text) of the code in a file: fenced blocks and `spans` of markdown; every
    line of a script or plan (their comments show commands)."""
    if not path.endswith(".md"):
        return list(enumerate(text.split("\n"), 1))
    res, fence = [], False
    for no, line in enumerate(text.split("\n"), 1):
        if line.startswith("```"):
            fence = not fence
            continue
        if fence:
            res.append((no, re.sub(r"\s+#.*", "", line)))
        else:
            res += [(no, m) for m in re.findall(r"`([^`]*)`", line)]
    return res
bad, seen = [], 0
for f in files:
    for no, code in code_of(f, open(f, encoding="utf-8").read()):
        for m in re.finditer(r"(?:^|[\s(;|&$])ferry ([a-z][a-z-]*)((?: +[^ ;|&)#]+)*)", code):
            cmd, rest = m.group(1), m.group(2)
            if cmd not in cmds:
                # A message or prose that names ferry ("another ferry process holds ...")
                # is not a command line: one only when the code starts with it.
                if not f.endswith(".md") or not re.match(r"\s*(\$ )?ferry ", code):
                    continue
                bad.append("%s:%d: no command \"ferry %s\"" % (f[len(src) + 1:], no, cmd))
                continue
            seen += 1
            h = help_of(cmd)
            for o in re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", rest):
                if not re.search(r"(?<![\w-])" + re.escape(o) + r"(?![\w-])", h):
                    bad.append("%s:%d: ferry %s %s: not an option of ferry %s (its --help)" % (f[len(src) + 1:], no, cmd, o, cmd))
print("checked %d" % seen)
print("\n".join(bad))
PY
n=$(head -n 1 "$T/bad.txt" | awk '{ print $2 }')
[ "${n:-0}" -gt 50 ] && ok "the docs show $n ferry command lines" || fail "too few command lines found: $(head -n 1 "$T/bad.txt")"
check "every command and option the docs show exists" "" "$(tail -n +2 "$T/bad.txt")"
finish
