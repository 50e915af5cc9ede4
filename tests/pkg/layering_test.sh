#!/bin/sh
# SPDX-License-Identifier: MIT
# The module layering of docs/architecture.md: a core in src/<module>/
# includes only its own headers and src/common/; src/common/ includes no
# module; each plugin includes only its own module and src/common/; only
# src/elasticsearch/ and its plugin include json-c.
set -u
top=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$top" || exit 99
bad=0
# check FILE ALLOWED...: every '#include "dir/x.h"' of FILE names an allowed dir
check() {
  f=$1; shift
  for dir in $(sed -n 's/^#include "\([a-z_]*\)\/[^"]*".*/\1/p' "$f" | sort -u); do
    ok=0
    for a in "$@"; do [ "$dir" = "$a" ] && ok=1; done
    [ "$dir" = collectd ] && case "$f" in plugins/*) ok=1 ;; esac
    if [ $ok -eq 0 ]; then
      echo "FAIL: $f includes $dir/ (allowed: $*)"
      bad=$((bad + 1))
    fi
  done
}
n=0
for f in src/common/*.[ch]; do check "$f"; n=$((n + 1)); done
for m in vacquery elasticsearch ganglia; do
  for f in src/$m/*.[ch]; do check "$f" common; n=$((n + 1)); done
done
check plugins/vacquery.c common vacquery
check plugins/write_elasticsearch.c common elasticsearch
check plugins/write_gmond.c common ganglia
n=$((n + 3))
# json-c is write_elasticsearch's alone: the vacquery and ganglia modules,
# src/common/ and their plugins read JSON with common/cm_json.h or not at all.
for f in src/common/*.[ch] src/vacquery/*.[ch] src/ganglia/*.[ch] \
  plugins/vacquery*.c plugins/write_gmond.c; do
  if grep -q '^#include <json-c/' "$f"; then
    echo "FAIL: $f includes json-c (only src/elasticsearch/ may)"
    bad=$((bad + 1))
  fi
  n=$((n + 1))
done
echo "layering: $((n - bad)) passed, $bad failed"
[ $bad -eq 0 ]
