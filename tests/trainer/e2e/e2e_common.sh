# Sourced by the trainer's end-to-end scripts, which are called as SCRIPT TOKENFOCUS PYTHON from
# the repository root:  source "$(dirname "$0")/e2e_common.sh" NAME "$@"
# Sets exe, python, repo, work (a scratch folder removed on exit) and mpi (2 ranks), and defines
# expect_error and compare_stores.
set -euo pipefail
e2e_name=$1
exe=$(readlink -f "$2")
python=$3
repo=$(pwd)
work=$(mktemp -d "/tmp/tokenfocus-$e2e_name.XXXXXX")
trap 'rm -rf "$work"' EXIT
mpi=(mpirun -np 2 --oversubscribe --bind-to none)
[ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)

compare_stores() {  # compare_stores DIR_A DIR_B FOLDS [ATOL]: see compare_stores.py
  "$python" "$(dirname "${BASH_SOURCE[0]}")/compare_stores.py" "$@"
}

expect_error() {  # expect_error TEXT COMMAND...: exit code 1 (user error) and TEXT in the output
  local text=$1; shift
  set +e; out=$("$@" 2>&1); code=$?; set -e
  [ "$code" -eq 1 ] || { echo "expected exit 1, got $code: $out"; exit 1; }
  grep -qF -- "$text" <<<"$out" || { echo "expected '$text' in: $out"; exit 1; }
}
