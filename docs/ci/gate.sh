#!/usr/bin/env bash
# The merge gate of docs/ci.md: every scenario given is checked (every state of every
# strategy, --expect graceful), and those with a `risk:` or `availability:` section are
# also judged on their limits. JUnit files go to REPORTS; the Markdown summaries to the
# job summary when $GITHUB_STEP_SUMMARY is set. One line per command says its exit code.
#
#   bash docs/ci/gate.sh SIMULATE REPORTS SCENARIO...
#
# Exit: 1 when some command's expectation failed or its scenario is invalid (2 is
# reported as 1: the merge is blocked either way), else 4 when some measurement was
# inconclusive (the machine, not the services, limited it: rerun, never merge on it),
# else 0. RISK_TRIALS, when set, replaces `risk.trials` (`simulate risk --trials`).
#
# In GitHub Actions each command annotates at most 10 findings (GitHub shows 10 errors a
# step): with several scenarios in one step, GitHub may drop the later ones; the job
# summary and the JUnit files hold every finding.
set -uo pipefail

if [ "$#" -lt 2 ]; then
  echo "usage: bash docs/ci/gate.sh SIMULATE REPORTS [SCENARIO...]" >&2
  exit 2
fi
simulate=$1
reports=$2
shift 2
mkdir -p "$reports"

summary=()
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  summary=(--step-summary)
fi

worst=0
code=0
judge() {
  "$@"
  code=$?
  echo "gate: exit $code: $*"
  case $code in
    0) ;;
    4) [ "$worst" -eq 0 ] && worst=4 ;;
    *) worst=1 ;;
  esac
}

for scenario in "$@"; do
  name=$(basename "$scenario" .yaml)
  judge "$simulate" check "$scenario" --expect graceful --quiet \
    --junit "$reports/check-$name.xml" "${summary[@]}"
  # An invalid scenario (2) has said every problem once; the other commands would say
  # them again.
  [ "$code" -eq 2 ] && continue
  # A top-level `risk:` or `availability:` key, plain or quoted.
  if grep -Eq "^[\"']?risk[\"']?[[:space:]]*:" "$scenario"; then
    judge "$simulate" risk "$scenario" ${RISK_TRIALS:+--trials "$RISK_TRIALS"} --quiet \
      --junit "$reports/risk-$name.xml" "${summary[@]}"
  fi
  if grep -Eq "^[\"']?availability[\"']?[[:space:]]*:" "$scenario"; then
    judge "$simulate" availability "$scenario" --quiet \
      --junit "$reports/availability-$name.xml" "${summary[@]}"
  fi
done
exit "$worst"
