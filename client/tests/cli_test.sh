#!/usr/bin/env bash
# cli_test.sh -- every `cairn` command against a real single cairnd node,
# plus failover from a dead URL to it, exit codes, and bearer tokens.
#
# Usage: cli_test.sh CAIRND CAIRN
# Uses a temp dir under /tmp (removed at exit) and loopback ports only.
set -u

cairnd=${1:?usage: cli_test.sh CAIRND CAIRN}
cairn=${2:?usage: cli_test.sh CAIRND CAIRN}
tmp=$(mktemp -d /tmp/cairn-cli-test.XXXXXX)
pids=()

cleanup() {
  for p in "${pids[@]}"; do
    kill "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  for log in "$tmp"/node*.log; do
    [ -f "$log" ] && { echo "--- $log" >&2; tail -n 20 "$log" >&2; }
  done
  exit 1
}

ok() { echo "ok: $*"; }

# expect_exit CODE CMD...: runs CMD (stdout to $tmp/out, stderr to $tmp/err).
expect_exit() {
  local want=$1
  shift
  "$@" >"$tmp/out" 2>"$tmp/err"
  local got=$?
  [ "$got" -eq "$want" ] || fail "exit $got (wanted $want): $* -- stderr: $(cat "$tmp/err")"
}

# start_node NAME [EXTRA FLAGS...]: starts cairnd on free ports; sets $url.
start_node() {
  local name=$1
  shift
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$tmp/secret"
  for _ in 1 2 3 4 5 6 7 8; do
    local port=$((20000 + RANDOM % 20000))
    local pport=$((port + 1))
    "$cairnd" --node-id 1 --data "$tmp/$name" --listen "127.0.0.1:$port" \
      --peer-listen "127.0.0.1:$pport" --secret-file "$tmp/secret" \
      --durability local "$@" >"$tmp/$name.log" 2>&1 &
    local pid=$!
    url="http://127.0.0.1:$port"
    for _ in $(seq 1 100); do
      if ! kill -0 "$pid" 2>/dev/null; then
        break # died (port taken?): try another port
      fi
      "$cairn" --node "$url" --timeout 1 health >/dev/null 2>&1
      case $? in
      0 | 6) # up (6: it wants a token)
        # Make sure it is ours, not another test's server on a taken port.
        sleep 0.3
        if kill -0 "$pid" 2>/dev/null; then
          pids+=("$pid")
          return 0
        fi
        break
        ;;
      esac
      sleep 0.1
    done
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  fail "cairnd did not start"
}

# A URL where nothing listens: a port from the same range, checked closed.
dead_url() {
  local port
  while :; do
    port=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "http://127.0.0.1:$port"
      return
    fi
  done
}

start_node node1
N=(--node "$url")
dead=$(dead_url)
unset CAIRN_NODE CAIRN_TOKEN

# --- usage, help, version -------------------------------------------------
expect_exit 0 "$cairn" --help
grep -q "Exit status" "$tmp/out" || fail "--help lacks the exit codes"
expect_exit 0 "$cairn" --version
grep -q "^cairn " "$tmp/out" || fail "--version output: $(cat "$tmp/out")"
expect_exit 2 "$cairn"
expect_exit 2 "$cairn" frobnicate
expect_exit 2 "$cairn" "${N[@]}" get
expect_exit 2 "$cairn" "${N[@]}" put onlykey
expect_exit 2 "$cairn" "${N[@]}" --durability most put k /dev/null
expect_exit 2 "$cairn" --node "ftp://x" health
expect_exit 2 "$cairn" --timeout 0 health
expect_exit 2 "$cairn" --bogus health
ok "usage"

# --- health, cluster --------------------------------------------------------
expect_exit 0 "$cairn" "${N[@]}" health
[ "$(cat "$tmp/out")" = "$url	ok" ] || fail "health output: $(cat "$tmp/out")"
expect_exit 0 "$cairn" "${N[@]}" cluster
head -c 1 "$tmp/out" | grep -q '{' || fail "cluster output is not JSON: $(cat "$tmp/out")"
ok "health, cluster"

# --- put / get / stat --------------------------------------------------------
printf 'hello, cairn\n' >"$tmp/small"
expect_exit 0 "$cairn" "${N[@]}" put greeting "$tmp/small"
IFS=$'\t' read -r k size etag version <"$tmp/out"
[ "$k" = greeting ] && [ "$size" = 13 ] && [ -n "$etag" ] && [ -n "$version" ] ||
  fail "put output: $(cat "$tmp/out")"
[ -s "$tmp/err" ] && fail "put wrote to stderr: $(cat "$tmp/err")"

expect_exit 0 "$cairn" "${N[@]}" get greeting
cmp -s "$tmp/out" "$tmp/small" || fail "get to stdout differs"
expect_exit 0 "$cairn" "${N[@]}" get greeting -
cmp -s "$tmp/out" "$tmp/small" || fail "get - differs"
expect_exit 0 "$cairn" "${N[@]}" get greeting "$tmp/copy"
cmp -s "$tmp/copy" "$tmp/small" || fail "get FILE differs"
[ -e "$tmp/copy.tmp" ] && fail "get left copy.tmp behind"

expect_exit 0 "$cairn" "${N[@]}" stat greeting
IFS=$'\t' read -r k size etag2 version2 <"$tmp/out"
[ "$k" = greeting ] && [ "$size" = 13 ] && [ "$etag2" = "$etag" ] && [ "$version2" = "$version" ] ||
  fail "stat output: $(cat "$tmp/out") (put said $etag $version)"
ok "put, get, stat"

# A missing key: exit 3 everywhere, and get never creates FILE.
expect_exit 3 "$cairn" "${N[@]}" get nosuchkey "$tmp/never"
[ -e "$tmp/never" ] || [ -e "$tmp/never.tmp" ] && fail "failed get left a file"
expect_exit 3 "$cairn" "${N[@]}" stat nosuchkey
expect_exit 3 "$cairn" "${N[@]}" rm nosuchkey
grep -q "not found" "$tmp/err" || fail "rm error message: $(cat "$tmp/err")"
# A failed get leaves an existing FILE as it was.
echo "precious" >"$tmp/keep"
expect_exit 3 "$cairn" "${N[@]}" get nosuchkey "$tmp/keep"
[ "$(cat "$tmp/keep")" = precious ] || fail "failed get changed FILE"
ok "not found"

# --- big blobs: file, stdin redirect, pipe (chunked) ------------------------
head -c $((5 * 1024 * 1024 + 123)) /dev/urandom >"$tmp/big"
expect_exit 0 "$cairn" "${N[@]}" put big/file "$tmp/big"
[ -s "$tmp/err" ] && fail "progress output although stderr is not a terminal"
expect_exit 0 "$cairn" "${N[@]}" get big/file "$tmp/big.out"
cmp -s "$tmp/big" "$tmp/big.out" || fail "big file round trip differs"
expect_exit 0 "$cairn" "${N[@]}" put big/stdin - <"$tmp/big"
expect_exit 0 "$cairn" "${N[@]}" get big/stdin "$tmp/big.out"
cmp -s "$tmp/big" "$tmp/big.out" || fail "stdin round trip differs"
cat "$tmp/big" | "$cairn" "${N[@]}" put big/pipe - >"$tmp/out" 2>"$tmp/err" ||
  fail "put from a pipe: $(cat "$tmp/err")"
"$cairn" "${N[@]}" get big/pipe | cmp -s - "$tmp/big" || fail "pipe round trip differs"
: >"$tmp/empty"
expect_exit 0 "$cairn" "${N[@]}" put empty "$tmp/empty"
expect_exit 0 "$cairn" "${N[@]}" get empty "$tmp/empty.out"
[ -f "$tmp/empty.out" ] && [ ! -s "$tmp/empty.out" ] || fail "empty blob round trip"
# get replaces an existing FILE.
expect_exit 0 "$cairn" "${N[@]}" get greeting "$tmp/keep"
cmp -s "$tmp/keep" "$tmp/small" || fail "get did not replace FILE"
ok "big blobs, stdin, pipe, empty"

# --- keys that need encoding --------------------------------------------------
weird='dir/with space/ü€?#%+&=.txt'
expect_exit 0 "$cairn" "${N[@]}" put "$weird" "$tmp/small"
expect_exit 0 "$cairn" "${N[@]}" get "$weird"
cmp -s "$tmp/out" "$tmp/small" || fail "weird key round trip"
expect_exit 0 "$cairn" "${N[@]}" ls "dir/with space/"
[ "$(cut -f1 "$tmp/out")" = "$weird" ] || fail "ls of weird key: $(cat "$tmp/out")"
expect_exit 0 "$cairn" "${N[@]}" rm "$weird"
expect_exit 2 "$cairn" "${N[@]}" get "$(printf 'bad\xffkey')"
ok "encoded keys"

# --- ls: prefix, pagination, format -------------------------------------------
for i in 1 2 3 4 5; do
  printf 'v%d' "$i" >"$tmp/v"
  expect_exit 0 "$cairn" "${N[@]}" put "page/k$i" "$tmp/v"
done
expect_exit 0 "$cairn" "${N[@]}" --page-size 2 ls page/
[ "$(cut -f1 "$tmp/out" | tr '\n' ' ')" = "page/k1 page/k2 page/k3 page/k4 page/k5 " ] ||
  fail "paginated ls: $(cat "$tmp/out")"
[ "$(awk -F'\t' 'NF != 3 || $2 != 2' "$tmp/out")" = "" ] || fail "ls columns: $(cat "$tmp/out")"
expect_exit 0 "$cairn" "${N[@]}" ls
grep -q "^greeting	13	" "$tmp/out" || fail "ls without prefix: $(cat "$tmp/out")"
grep -q "^page/k3	" "$tmp/out" || fail "ls without prefix lacks page/k3"
expect_exit 0 "$cairn" "${N[@]}" ls nothing/here/
[ -s "$tmp/out" ] && fail "ls of an empty prefix printed: $(cat "$tmp/out")"
ok "ls"

# --- rm -------------------------------------------------------------------------
expect_exit 0 "$cairn" "${N[@]}" rm page/k3
expect_exit 3 "$cairn" "${N[@]}" get page/k3
expect_exit 0 "$cairn" "${N[@]}" ls page/
grep -q "page/k3" "$tmp/out" && fail "deleted key still listed"
ok "rm"

# --- durability option ---------------------------------------------------------
expect_exit 0 "$cairn" "${N[@]}" --durability local put dur/local "$tmp/small"
expect_exit 0 "$cairn" "${N[@]}" -d majority put dur/majority "$tmp/small"
expect_exit 0 "$cairn" "${N[@]}" -d all rm dur/local
ok "durability"

# --- failover and unavailability ------------------------------------------------
expect_exit 0 "$cairn" --node "$dead" --node "$url" put fo/key "$tmp/small"
expect_exit 0 "$cairn" --node "$dead,$url" get fo/key
cmp -s "$tmp/out" "$tmp/small" || fail "failover get differs"
CAIRN_NODE="$dead,$url" expect_exit 0 "$cairn" stat fo/key
CAIRN_NODE="$dead,$url" expect_exit 0 "$cairn" put fo/stdin - <"$tmp/big"
expect_exit 4 "$cairn" --node "$dead" get fo/key
expect_exit 4 "$cairn" --node "$dead" --node "$(dead_url)" put fo/x "$tmp/small"
grep -q "unavailable" "$tmp/err" || fail "unavailable message: $(cat "$tmp/err")"
expect_exit 4 "$cairn" --node "$dead" --node "$url" health
grep -q "^$url	ok" "$tmp/out" || fail "health per node: $(cat "$tmp/out")"
ok "failover"

# --- bearer token -------------------------------------------------------------------
printf "t0ps3cret" >"$tmp/token"
start_node node2 --api-token-file "$tmp/token"
T=(--node "$url")
expect_exit 6 "$cairn" "${T[@]}" put tok/k "$tmp/small"
expect_exit 6 "$cairn" "${T[@]}" --token wrong put tok/k "$tmp/small"
expect_exit 0 "$cairn" "${T[@]}" --token t0ps3cret put tok/k "$tmp/small"
CAIRN_TOKEN=t0ps3cret expect_exit 0 "$cairn" "${T[@]}" get tok/k
cmp -s "$tmp/out" "$tmp/small" || fail "token get differs"
expect_exit 0 "$cairn" "${T[@]}" --token-file "$tmp/token" ls tok/
grep -q "^tok/k	" "$tmp/out" || fail "ls with token file: $(cat "$tmp/out")"
ok "token"

echo "cli_test: all passed"
