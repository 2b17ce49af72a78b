#!/usr/bin/env bash
# demo.sh — the README's first command: install what is missing, build ferry, and run the
# demo migration (examples/shop: a v1 content store carried to v2).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$root/build/release" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$root/build/release" -j"$(nproc)" >/dev/null
FERRY="$root/build/release/ferry" exec "$root/examples/shop/demo.sh" "$@"
