"""The verification report: the same numbers in JSON, Markdown and one offline HTML page."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tallyproof.cli import app
from tallyproof.election import load_election
from tallyproof.report.statistics import estimate_data, estimate_lines
from tallyproof.stats.estimate import Coverage, InHand, estimate
from tallyproof.stats.sensitivity import sensitivity

SECTIONS = (
    "Alarms",
    "Coverage",
    "Is the announcement achievable?",
    "Official sheets against copies",
    "Conflicting copies",
    "Refused submissions",
    "Estimates from the copies",
    "Audits of the paper receipts",
    "Forensic screens",
)


@pytest.fixture(scope="module")
def reported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1,500-table election played with the 'altered' scenario, imported and reported."""
    folder = tmp_path_factory.mktemp("report")
    db, run = str(folder / "o.db"), CliRunner()
    for args in (
        ["simulate", "--tables", "1500", "--seed", "7", "--scenario", "altered", "-o", str(folder)],
        ["init", "--election", "ve2024", "--db", db],
        ["registry", "import", str(folder / "registry.csv"), "--db", db],
        ["import", str(folder / "official.csv"), "--source", "official", "--db", db],
        ["import", str(folder / "witness.csv"), "--source", "witness", "--db", db],
        ["audit", "plan", "--seed", "dice 6 2", "--risk-limit", "0.1", "--db", db],
        ["audit", "count-paper", "1", str(folder / "paper.csv"), "-o", str(folder / "counts.csv"), "--db", db],
        ["audit", "record", "1", str(folder / "counts.csv"), "--db", db],
    ):
        assert run.invoke(app, args).exit_code == 0, args
    result = run.invoke(
        app, ["report", "--announcement", str(folder / "announcement.toml"), "-o", str(folder / "r"), "--db", db]
    )
    assert result.exit_code == 0, result.output
    assert "Official sheets differ from the copies" in result.output
    return folder


def test_the_json_has_every_section_and_the_truth(reported: Path) -> None:
    data = json.loads((reported / "r.json").read_text())
    truth = json.loads((reported / "truth.json").read_text())
    witnessed = set(truth["affected"]) & set(_witnessed(reported))
    assert data["reconciliation"]["counts"]["mismatch"] == len(witnessed) > 0
    assert {d["table"] for d in data["reconciliation"]["discrepancies"]} <= witnessed
    assert data["feasibility"]["derived_from_official"] == "consistent"
    assert data["coverage"]["tables_known"] == 1500 and len(data["coverage"]["units"]) == 24
    assert [a["code"] for a in data["alarms"]] == ["altered-sheets"]
    assert set(data["reproduce"]) >= {"coverage", "feasibility", "reconciliation", "conflicts", "rejects"}


def _witnessed(folder: Path) -> list[str]:
    lines = (folder / "witness.csv").read_text().splitlines()[1:]
    return [line.split(",", 1)[0] for line in lines]


def test_markdown_and_html_say_the_same_offline(reported: Path) -> None:
    md, page = (reported / "r.md").read_text(), (reported / "r.html").read_text()
    for section in SECTIONS:
        assert f"## {section}" in md and f"<h2>{section}</h2>" in page
    data = json.loads((reported / "r.json").read_text())
    mismatches = f"{data['reconciliation']['counts']['mismatch']:,} mismatch"
    assert mismatches in md and mismatches in page
    assert page.count("<svg") == 4  # coverage map, copies vs announced, discrepancy histogram, fingerprint
    assert "<script" not in page and not re.search(r"(src|href)=\"?https?:", page)
    assert "Reproduce: <code>tallyproof reconcile" in page


def test_a_report_without_an_announcement(reported: Path) -> None:
    result = CliRunner().invoke(app, ["report", "-o", str(reported / "bare"), "--db", str(reported / "o.db")])
    assert result.exit_code == 0, result.output
    data = json.loads((reported / "bare.json").read_text())
    assert data["feasibility"] is None and "No announcement was given" in (reported / "bare.md").read_text()


def test_the_forensic_screens_are_in_all_three_and_say_they_are_not_proof(reported: Path) -> None:
    data = json.loads((reported / "r.json").read_text())
    md, page = (reported / "r.md").read_text(), (reported / "r.html").read_text()
    f = data["forensics"]
    names = [s["name"] for s in f["screens"]]
    assert names[0] == "round-percentages" and "turnout-share-fingerprint" in names and f["tables"] > 1000
    assert all(s["summary"].endswith("A screen, not proof.") for s in f["screens"])
    assert sum(map(sum, f["fingerprint"]["counts"])) == f["tables"]
    section = page.split("<h2>Forensic screens</h2>")[1]
    for text in (md.split("## Forensic screens")[1], section):
        assert "screens are not proof" in text and "Reproduce:" in text and "tallyproof forensics" in text
        for s in f["screens"]:
            assert s["name"] in text and f"{s['p_value']:.2g}" in text
    assert "<svg" in section and 'class="corner"' in section
    assert "<script" not in page and not re.search(r"(src|href)=\"?https?:", page)


def test_the_estimate_and_the_audits_are_in_all_three(reported: Path) -> None:
    """The report shows the estimate from the witnesses' copies and every audit's risk and decision, each
    as ``tallyproof estimate`` and ``tallyproof audit status`` give them."""
    data = json.loads((reported / "r.json").read_text())
    db = str(reported / "o.db")
    again = CliRunner().invoke(
        app, ["estimate", "--by", "state", "--source", "witness,observer,import", "--format", "json", "--db", db]
    )
    assert data["estimate"]["estimate"] == json.loads(again.stdout)["estimate"]
    status = json.loads(CliRunner().invoke(app, ["audit", "status", "1", "--format", "json", "--db", db]).stdout)
    assert data["audits"] == [status] and status["status"]["decision"] == "confirm"
    md, page = (reported / "r.md").read_text(), (reported / "r.html").read_text()
    est = data["estimate"]["estimate"]
    leader = max(range(len(est["shares"])), key=lambda k: est["shares"][k]["estimate"])
    share = f"{100 * est['shares'][leader]['estimate']:.2f}%"
    for text in (md.split("## Estimates from the copies")[1], page.split("<h2>Estimates from the copies</h2>")[1]):
        assert share in text and "tallyproof estimate" in text.split("Audits of the paper receipts")[0]
    for text in (
        md.split("## Audits of the paper receipts")[1],
        page.split("<h2>Audits of the paper receipts</h2>")[1],
    ):
        assert "dice 6 2" in text and "confirm" in text and "tallyproof audit status" in text


def _estimate_section(in_hand: int) -> str:
    """The report's estimate section for 40 tables of 100 voters, ``in_hand`` of them with a copy: 60 votes for
    González and 20 for Maduro each (some tables differ by a vote, so that there is a variance)."""
    election = load_election("ve2024")
    votes = np.zeros((in_hand, len(election.candidates)))
    votes[:, 7], votes[:, 0] = 60 + np.arange(in_hand) % 3, 20
    tables = np.array([f"010101{i:03d}.01" for i in range(1, 41)])
    cov = Coverage.of(np.full(40, "01"), np.full(40, 100), np.arange(in_hand), votes, votes.sum(axis=1))
    hand = InHand(cov, tables, "state", conflicts=0, outside_registry=0, unknown_registered=0)
    data = estimate_data(election, hand, estimate(cov), sensitivity(cov), ["witness"])
    return " ".join(estimate_lines(data, lambda head, rows: [" | ".join(head)]))


def test_the_report_never_asks_for_a_margin_over_100_points() -> None:
    text = _estimate_section(36)  # a lead of about 1,476 votes in hand; 4 tables, 400 voters, missing
    assert "Nicolás Maduro could not tie even with every valid vote of the 4 tables without a copy" in text
    assert "would need to win" not in text and "Warning" not in text
    assert "would need to win the valid votes of the 30 tables without a copy by" in _estimate_section(10)


def test_the_report_warns_when_too_few_tables_are_in_hand() -> None:
    text = _estimate_section(2)
    assert "**Warning: only 2 tables in hand, fewer than the 30 the intervals' normal approximation needs" in text
