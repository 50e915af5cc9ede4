#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The test command (README, .ci/run): installs what is missing, then runs
#   0. clang-format --dry-run on every C file,
#   1. the build with -Werror and `make check` (cmocka unit tests and the
#      end-to-end test with a real collectd),
#   2. the unit tests built with AddressSanitizer + UndefinedBehaviorSanitizer,
#   3. the unit tests under valgrind (memcheck, leaks are errors),
#   4. the libFuzzer targets on the parser and on the JSON reader, each
#      for FUZZ_SECONDS (default 60),
#   5. `make distcheck` (skip with DISTCHECK=no).
#   6. tests/pkg/deb_test.sh: the Debian packages built, installed, run
#      with the stock collectd.conf, purged (skip with DEB=no).
#   7. the EL9 build path and RPM spec, tests/pkg/rpm_test.sh (skip with RPM=no).
# Builds go to _build*/ beside the sources; the source tree stays clean.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
"$top/tools/install-deps.sh" || exit 1

passed=0 failed=0
step() { # step NAME COMMAND...: runs one step and counts it
  local name=$1; shift
  local t0=$SECONDS
  echo "=== $name"
  if "$@"; then passed=$((passed + 1)); echo "=== $name: ok ($((SECONDS - t0)) s)"
  else failed=$((failed + 1)); echo "=== $name: FAILED ($((SECONDS - t0)) s)"; fi
}
jobs=$(nproc 2>/dev/null || echo 2)

bootstrap() { autoreconf -fi >/dev/null 2>&1 || autoreconf -fi; }
build() { # build DIR CONFIGURE-ARGS...
  local dir=$1; shift
  rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" &&
    "$top/configure" --enable-werror "$@" >configure.out &&
    make -j"$jobs" >make.out 2>&1 || { tail -40 make.out 2>/dev/null; cd "$top"; return 1; }
  cd "$top"
}
check() { # check DIR [TESTS]: make check, showing the logs of failures
  local dir=$1; shift
  if make -C "$dir" -j1 check "$@"; then return 0; fi
  find "$dir/tests" -name '*.log' -exec grep -l -E '^(FAIL|ERROR)' {} + 2>/dev/null |
    while read -r l; do echo "--- $l"; tail -60 "$l"; done
  return 1
}
valgrind_units() {
  local t rc=0
  for t in $unit_tests; do
    valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect \
      "_build/$t" >"_build/$t.valgrind.log" 2>&1 || { echo "valgrind: $t"; tail -30 "_build/$t.valgrind.log"; rc=1; }
  done
  return $rc
}
# One libFuzzer target for FUZZ_SECONDS, its corpus under _build/.
fuzz_one() {
  mkdir -p "_build/fuzz-corpus/$1" &&
    "_build/tests/fuzz/$1" -max_total_time="${FUZZ_SECONDS:-60}" -max_len=8192 \
      -print_final_stats=1 "_build/fuzz-corpus/$1" "$top/tests/fixtures/examples" 2>&1 | tail -6
  return "${PIPESTATUS[0]}"
}
# The datagram parser, then the JSON reader against json-c.
fuzz() {
  make -C _build fuzz >/dev/null && fuzz_one fuzz_vq_parse && fuzz_one fuzz_cm_json
}

distcheck() {
  # The tarball builds, installs, uninstalls and passes the unit tests and
  # the package checks; the end-to-end tests ran in the step above, from the
  # same sources (TESTS on the command line reaches distcheck's make check).
  local quick="$unit_tests tests/pkg/layering_test.sh tests/pkg/install_test.sh tests/pkg/man_test.sh"
  make -C _build distcheck TESTS="$quick" >_build/distcheck.out 2>&1 || { tail -60 _build/distcheck.out; return 1; }
  grep -E 'archives ready|distributions? ready' -A2 _build/distcheck.out | head -3
}

format_check() {
  clang-format --dry-run --Werror src/*/*.[ch] plugins/*.c tools/*.c tests/unit/*/*.[ch] tests/fuzz/*.c
}

step "clang-format (.clang-format)" format_check
step "bootstrap (autoreconf)" bootstrap
step "build (-Werror)" build _build
# Every unit-test program, including those the mk/ fragments add.
unit_tests=$(make -s -C _build print-unit-tests 2>/dev/null)
# The sanitizer and valgrind steps run this list: an empty one would pass
# them with no test at all.
units_listed() {
  local n
  n=$(echo "$unit_tests" | wc -w)
  echo "$n unit-test programs"
  [ "$n" -gt 0 ]
}
step "unit-test list (make print-unit-tests)" units_listed
step "make check: unit + end-to-end" check _build
san="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all"
step "build with ASan+UBSan" build _build-asan CFLAGS="$san" LDFLAGS="-fsanitize=address,undefined"
step "unit tests under ASan+UBSan" check _build-asan TESTS="$unit_tests"
step "unit tests under valgrind" valgrind_units
step "fuzz the parser and the JSON reader (${FUZZ_SECONDS:-60} s each)" fuzz
if [ "${DISTCHECK:-yes}" != no ]; then
  step "make distcheck" distcheck
fi
# Build the .debs, install them, stock collectd.conf, purge (root; skip with DEB=no).
if [ "${DEB:-yes}" != no ]; then
  step "debian packages (build, install, stock collectd, purge)" tests/pkg/deb_test.sh
fi
# The EL9 path: --with-collectd-src against collectd 5.12.0's source (from
# Debian's source archive), the spec, rpmbuild (skip with RPM=no).
if [ "${RPM:-yes}" != no ]; then
  step "EL9: --with-collectd-src, spec, rpmbuild" tests/pkg/rpm_test.sh
fi
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
