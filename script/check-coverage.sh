#!/usr/bin/env bash
# Fails unless the deployable contracts (contracts/*.sol, not tests) have >= 95% of lines and
# >= 90% of branches covered. Usage: script/check-coverage.sh LCOV_FILE
set -euo pipefail
awk -v min_lines=95 -v min_branches=90 '
  /^SF:/ { keep = ($0 ~ /^SF:contracts\/[^\/]+\.sol$/); file = substr($0, 4) }
  keep && /^LF:/ { lf += substr($0, 4) }  keep && /^LH:/ { lh += substr($0, 4) }
  keep && /^BRF:/ { bf += substr($0, 5) } keep && /^BRH:/ { bh += substr($0, 5) }
  END {
    if (lf == 0) { print "coverage: no contract lines in the report" > "/dev/stderr"; exit 1 }
    lines = 100 * lh / lf; branches = bf ? 100 * bh / bf : 100
    printf "coverage of contracts/*.sol: lines %.2f%% (%d/%d), branches %.2f%% (%d/%d)\n", lines, lh, lf, branches, bh, bf
    if (lines < min_lines || branches < min_branches) { print "coverage: below the gate" > "/dev/stderr"; exit 1 }
  }' "$1"
