#!/usr/bin/env bash
# The parity runner's own rules, on throw-away fixture roots (no real case is named here):
# a case of unknown kind, a case.json without "kind", an unreadable case.json and an empty root
# are each a FAIL line and a non-zero exit; $EDITCLIP_FIXTURES picks the root when no argument is
# given. Usage: runner_rules_test.sh PATH/TO/editclip_parity
set -u
runner=${1:?usage: runner_rules_test.sh PATH/TO/editclip_parity}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/editclip_parity_rules.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
failures=0

# expect NAME EXPECTED_LINE [runner args...]: non-zero exit and EXPECTED_LINE among the output.
expect() {
  local name=$1 line=$2
  shift 2
  local out rc
  out=$("$runner" "$@" 2>&1)
  rc=$?
  if [[ $rc -eq 0 ]]; then
    echo "not ok - $name: exit status 0, expected non-zero"
    failures=$((failures + 1))
  elif ! grep -qxF -- "$line" <<<"$out"; then
    echo "not ok - $name: no line '$line' in:"
    sed 's/^/    /' <<<"$out"
    failures=$((failures + 1))
  else
    echo "ok - $name"
  fi
}

make_case() {  # make_case ROOT CASE CASE_JSON_TEXT
  mkdir -p "$1/cases/$2"
  printf '%s' "$3" >"$1/cases/$2/case.json"
}

make_case "$tmp/unknown" a_case '{"kind": "no_such_kind_for_test", "params": {}}'
expect "unknown kind fails" "FAIL a_case unknown case kind 'no_such_kind_for_test'" "$tmp/unknown"
expect "unknown kind is counted" "0 passed, 1 failed" "$tmp/unknown"

make_case "$tmp/nokind" b_case '{"params": {}}'
expect "case.json without kind fails" 'FAIL b_case case.json has no "kind" string' "$tmp/nokind"

make_case "$tmp/badjson" c_case '{ "kind": "tokenizer", '
out=$("$runner" "$tmp/badjson" 2>&1)
if [[ $? -ne 0 ]] && grep -q '^FAIL c_case .*case.json"\?: invalid JSON' <<<"$out"; then
  echo "ok - bad case.json fails"
else
  echo "not ok - bad case.json fails:"
  sed 's/^/    /' <<<"$out"
  failures=$((failures + 1))
fi

mkdir -p "$tmp/empty"
expect "empty root fails" "0 passed, 1 failed" "$tmp/empty"
expect "empty root says why" "no case folders found under $tmp/empty" "$tmp/empty"

mkdir -p "$tmp/all/cases"
cp -r "$tmp/unknown/cases/." "$tmp/nokind/cases/." "$tmp/badjson/cases/." "$tmp/all/cases/"
expect "every bad case counts" "0 passed, 3 failed" "$tmp/all"

# No argument: the root comes from $EDITCLIP_FIXTURES.
export EDITCLIP_FIXTURES="$tmp/unknown"
expect "EDITCLIP_FIXTURES is honoured" "FAIL a_case unknown case kind 'no_such_kind_for_test'"
unset EDITCLIP_FIXTURES

if [[ $failures -ne 0 ]]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all parity runner rule checks passed"
