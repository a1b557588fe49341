#!/usr/bin/env bash
# The format and lint checks: Biome for TypeScript and JavaScript, clang-format for C++ and CUDA, and
# the type check of the tests (tsconfig.test.json; the build's tsc covers lib and bench).
# --fix rewrites the files instead of failing on them.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t native_sources < <(git ls-files 'native/*.cpp' 'native/*.h' 'native/*.cu' 'native/*.cuh')
if [ "${1:-}" = --fix ]; then
  npx biome check --write .
  npx clang-format -i --style=file "${native_sources[@]}"
else
  npx biome ci --colors=off .
  npx tsc -p tsconfig.test.json
  npx clang-format --dry-run --Werror --style=file "${native_sources[@]}"
  echo "lint: OK (${#native_sources[@]} C++ and CUDA files, Biome on lib, test, bench and scripts)"
fi
