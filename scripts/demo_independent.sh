#!/usr/bin/env bash
# The independent side of `make demo`: the simulated election was played with a manipulation scenario
# (official.csv as published, witness.csv as the witnesses' copies, announcement.toml as announced);
# an observer imports them and writes the verification report, which prints the verdict.
# Usage: scripts/demo_independent.sh BIN_DIR DEMO_DIR
set -euo pipefail
bin=$1 demo=$2
db=$demo/observer.db
rm -f "$db"
"$bin/tallyproof" init --election ve2024 --db "$db"
"$bin/tallyproof" registry import "$demo/registry.csv" --db "$db"
"$bin/tallyproof" import "$demo/official.csv" --source official --db "$db"
"$bin/tallyproof" import "$demo/witness.csv" --source witness --db "$db"
"$bin/tallyproof" report --announcement "$demo/announcement.toml" --output "$demo/report" --db "$db"
echo "Ground truth of the scenario: $demo/truth.json; the report: $demo/report.html"
