#!/bin/sh
# SPDX-License-Identifier: MIT
# The man pages: podchecker accepts every POD source; every option keyword
# a plugin's config callback accepts (and every long option of
# vacquery-send) is an =item of its page, with its default; man renders
# each built page without a warning; README.md and docs/ point nowhere
# outside the repository. Needs top_srcdir and top_builddir (make check
# sets them). Exit 0 pass, 1 fail, 77 skip.
set -u
src=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${top_builddir:-$src}
man_dir=$src/docs/man
fails=0 checks=0

# ok CONDITION-STATUS MESSAGE: counts one check, prints failures.
ok() {
  checks=$((checks + 1))
  if [ "$1" -ne 0 ]; then
    fails=$((fails + 1))
    echo "FAIL: $2"
  fi
}

command -v podchecker >/dev/null 2>&1 || { echo "SKIP: no podchecker"; exit 77; }

# 1. podchecker: no error, no warning.
for pod in "$man_dir"/*.pod; do
  out=$(podchecker -warnings "$pod" 2>&1)
  st=$?
  echo "$out" | grep -q -E 'WARNING|ERROR' && st=1
  ok "$st" "podchecker $(basename "$pod"): $out"
done

# keywords FILE: the quoted names compared with a config key in FILE
# (strcasecmp("Key", c->key) or strcasecmp(ci->key, "Key")), one a line.
keywords() {
  grep -o 'strcasecmp([^;]*key[^;]*)' "$1" | grep -o '"[A-Za-z][A-Za-z0-9]*"' |
    tr -d '"' | sort -u
}

# option_item POD KEY: prints the paragraph of "=item B<KEY>" (or the
# block "=item B<E<lt>KEY>") up to the next =item, =back or =head; fails
# when there is none.
option_item() {
  awk -v key="$2" '
    BEGIN { it1 = "=item B<" key ">"; it2 = "=item B<" key " ";
            it3 = "=item B<E<lt>" key ">"; it4 = "=item B<" key ">,"; found = 0 }
    /^=(item|back|head)/ { if (inside) exit; }
    index($0, it1) == 1 || index($0, it2) == 1 || index($0, it3) == 1 ||
      index($0, it4) == 1 { inside = 1; found = 1 }
    inside { print }
    END { exit found ? 0 : 1 }' "$1"
}

# 2. Every plugin option is documented with its default.
for pair in vacquery:collectd-vacquery write_elasticsearch:collectd-write_elasticsearch \
  write_gmond:collectd-write_gmond; do
  c=$src/plugins/${pair%%:*}.c
  pod=$man_dir/${pair#*:}.pod
  keys=$(keywords "$c"; [ ! -f "${c%.c}_poll.c" ] || keywords "${c%.c}_poll.c")
  n=$(echo "$keys" | grep -c .)
  ok $([ "$n" -ge 10 ]; echo $?) "${pair%%:*}: only $n keywords found in $c (pattern changed?)"
  for k in $keys; do
    item=$(option_item "$pod" "$k")
    ok $? "${pair#*:}(5) has no =item for option $k of ${pair%%:*}.c"
    echo "$item" | grep -q 'Default' 
    ok $? "${pair#*:}(5): option $k has no default"
  done
done

# 3. Every long option of vacquery-send is documented.
send_opts=$(sed -n '/static const struct option lo\[\]/,/};/p' "$src/tools/vacquery-send.c" |
  grep -o '{"[a-z-]*"' | tr -d '{"')
ok $([ "$(echo "$send_opts" | grep -c .)" -ge 15 ]; echo $?) "vacquery-send: long options not found"
for o in $send_opts; do
  grep -q "^=item .*B<--$o>" "$man_dir/vacquery-send.pod"
  ok $? "vacquery-send(1) has no =item for --$o"
done

# 4. man renders every page without a warning.
if command -v man >/dev/null 2>&1 && command -v groff >/dev/null 2>&1; then
  for pod in "$man_dir"/*.pod; do
    b=$(basename "$pod" .pod)
    page=
    for p in "$build/docs/man/$b".[15] "$src/docs/man/$b".[15]; do
      [ -f "$p" ] && { page=$p; break; }
    done
    if [ -z "$page" ]; then
      ok 1 "$b: no built page in $build/docs/man (run make)"
      continue
    fi
    warn=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
    ok $([ -z "$warn" ]; echo $?) "man -l $page: $warn"
    text=$(LC_ALL=C.UTF-8 MANWIDTH=80 man -l "$page" 2>/dev/null)
    echo "$text" | grep -q '^NAME' && echo "$text" | grep -q "$b"
    ok $? "man -l $page: no NAME section naming $b"
  done
else
  echo "note: man/groff not installed: rendering not checked"
fi

# 5. The docs point nowhere outside the repository.
outside=$(grep -n -E '\.\./shared|SPEC\.md|DESIGN\.md|VIEWS\.md|/work/' \
  "$src/README.md" "$src"/docs/*.md "$man_dir"/*.pod 2>/dev/null)
ok $([ -z "$outside" ]; echo $?) "references outside the repository: $outside"

echo "man_test: $checks checks, $fails failed"
[ "$fails" -eq 0 ]
