# Shared helpers of the CLI tests (tests/cli/*.sh source this file; it is in
# a subfolder so CMake does not run it as a test).
#   fail MESSAGE...                      print FAIL and exit 1
#   expect_error NAME PATTERN -- CMD...  CMD must exit 1 with PATTERN on stderr;
#                                        stdin is $STDIN (default /dev/null),
#                                        stdout/stderr land in out.txt/err.txt.
fail() { echo "FAIL: $*"; exit 1; }

expect_error() {
  local name="$1" pattern="$2"
  shift 3
  "$@" >out.txt 2>err.txt < "${STDIN:-/dev/null}"
  local rc=$?
  [ $rc -eq 1 ] || { cat err.txt; fail "$name: exit $rc, expected 1"; }
  grep -q -- "$pattern" err.txt || { cat err.txt; fail "$name: stderr lacks '$pattern'"; }
  echo "ok: $name"
}
