#!/usr/bin/env bash
# The independent side of `make demo`: the simulated election was played with a manipulation scenario
# (official.csv as published, witness.csv as the witnesses' copies, announcement.toml as announced);
# an observer imports them, estimates the result from the witnesses' copies, audits the official sheets
# against the paper receipts in the boxes (paper.csv; the auditors are simulated), and writes the
# verification report, which prints the verdict.
# Usage: scripts/demo_independent.sh BIN_DIR DEMO_DIR
set -euo pipefail
bin=$1 demo=$2
db=$demo/observer.db
rm -f "$db"
"$bin/tallyproof" init --election ve2024 --db "$db"
"$bin/tallyproof" registry import "$demo/registry.csv" --db "$db"
"$bin/tallyproof" import "$demo/official.csv" --source official --db "$db"
"$bin/tallyproof" import "$demo/witness.csv" --source witness --db "$db"
"$bin/tallyproof" estimate --by state --db "$db"
"$bin/tallyproof" audit plan --seed "demo dice 3 1 4 1 5" --risk-limit 0.05 --output "$demo/audit-draws.csv" --db "$db"
"$bin/tallyproof" audit count-paper 1 "$demo/paper.csv" --output "$demo/audit-counts.csv" --db "$db"
"$bin/tallyproof" audit record 1 "$demo/audit-counts.csv" --by "simulated auditors" --db "$db"
"$bin/tallyproof" audit status 1 --db "$db"
"$bin/tallyproof" report --announcement "$demo/announcement.toml" --output "$demo/report" --db "$db"
echo "Ground truth of the scenario: $demo/truth.json; the report: $demo/report.html"
