"""Imports of real-format files (fixtures cut from the 2024 Venezuelan CSVs, see fixtures/PROVENANCE.md)."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Callable
from pathlib import Path

from conftest import FIXTURES, generic_header, write_csv
from tallyproof.election import Election
from tallyproof.sheets.sheet import Source
from tallyproof.storage.imports import derive_registry, import_file, import_registry
from tallyproof.storage.store import Store
from tallyproof.tabulate import tabulate

V1, V2 = FIXTURES / "resultados_v1_sample.csv", FIXTURES / "resultados_v2_sample.csv"


def column_sums(path: Path, encoding: str) -> dict[str, int]:
    with path.open(encoding=encoding, newline="") as f:
        rows = list(csv.DictReader(f))
    return {
        col: sum(int(r[col]) for r in rows)
        for col in ("EG", "NM", "LM", "JABE", "JOBR", "AE", "CF", "DC", "EM", "BERA", "VOTOS_NULOS")
    }


def keys(path: Path, encoding: str) -> set[str]:
    with path.open(encoding=encoding, newline="") as f:
        return {f"{int(r['CENTRO']):09d}.{int(r['MESA']):02d}" for r in csv.DictReader(f)}


def national(store: Store) -> dict[str, int]:
    e = store.election()
    tab = tabulate(e, store.columns(), store.registry_columns(), level="state", preference=["import"])
    return {**{c.id: v for c, v in zip(e.candidates, tab.total.candidates, strict=True)}, "VOTOS_NULOS": tab.total.null}


def test_v2_national_totals_are_the_column_sums(make_store: Callable[..., Store]) -> None:
    store = make_store()
    summary = import_file(store, V2)
    assert (summary.format, summary.encoding, summary.rejected) == ("ve-resultados", "latin-1", 0)
    assert national(store) == column_sums(V2, "latin-1")


def test_v1_and_v2_common_actas_are_recognised(make_store: Callable[..., Store]) -> None:
    store = make_store()
    import_file(store, V2)
    summary = import_file(store, V1)
    common = keys(V1, "utf-8-sig") & keys(V2, "latin-1")
    assert common and summary.overlapping == len(common)
    assert summary.differing == []  # the vote columns are identical in V1 and V2
    assert len(store.copies(sorted(common)[0])) == 2


def test_a_differing_copy_is_reported(make_store: Callable[..., Store], tmp_path: Path) -> None:
    store = make_store()
    import_file(store, V2)
    common = keys(V2, "latin-1")
    lines = V1.read_bytes().split(b"\r\n")
    i = next(
        i
        for i, line in enumerate(lines[1:], 1)
        if line and f"{int(line.split(b',')[6]):09d}.{int(line.split(b',')[7]):02d}" in common
    )
    fields = lines[i].split(b",")
    fields[11] = str(int(fields[11]) + 5).encode()  # EG
    lines[i] = b",".join(fields)
    changed = tmp_path / "v1_changed.csv"
    changed.write_bytes(b"\r\n".join(lines))
    summary = import_file(store, changed)
    assert summary.differing == [f"{int(fields[6]):09d}.{int(fields[7]):02d}"]


def test_reimport_adds_nothing(make_store: Callable[..., Store], tmp_path: Path) -> None:
    store = make_store()
    first = import_file(store, V1)
    again = import_file(store, V1)
    copy = tmp_path / "renamed.csv"
    shutil.copy(V1, copy)
    renamed = import_file(store, copy)
    assert again.already and renamed.already and again.batch_id == first.batch_id
    assert store.counts()["sheets"] == first.accepted


def test_bad_rows_are_rejected_with_file_line_and_reason(
    make_store: Callable[..., Store], ve2024: Election, tmp_path: Path
) -> None:
    store = make_store()
    ok = "010101001.01,0,300," + ",".join(["1"] * 10)
    rows = [
        ok,
        "010101001.02,0,300,1,2,x,4,5,6,7,8,9,10",
        "010101001.03,0,300,1,2",
        "010101001.04,0,300," + ",".join(["-1"] * 10),
    ]
    path = write_csv(tmp_path / "mixed.csv", generic_header(ve2024), rows)
    summary = import_file(store, path)
    assert (summary.accepted, summary.rejected) == (1, 3)
    rejects = store.rejects()
    assert [(r["filename"], r["line"]) for r in rejects] == [("mixed.csv", 3), ("mixed.csv", 4), ("mixed.csv", 5)]
    assert "candidate:JABE" in rejects[0]["reason"] and "'x' is not a number" in rejects[0]["reason"]
    assert "5 fields, the header has 13" in rejects[1]["reason"]
    assert "negative count -1" in rejects[2]["reason"] and rejects[2]["table_id"] == "010101001.04"
    assert rejects[0]["raw"] == rows[1] + "\n"


def test_registry_import_and_derive(make_store: Callable[..., Store], ve2024: Election, tmp_path: Path) -> None:
    store = make_store()
    import_file(store, V1)
    assert derive_registry(store).added == len(keys(V1, "utf-8-sig"))
    assert derive_registry(store).added == 0
    other = make_store(name="other.db")
    reg = write_csv(tmp_path / "reg.csv", "table,registered", ["010101001.01,500", "010101001.02,", "nonsense,3"])
    summary = import_registry(other, reg)
    assert (summary.accepted, summary.rejected) == (2, 1)
    assert other.registry() == {"010101001.01": 500, "010101001.02": None}
    assert import_registry(other, reg).already
    path = write_csv(
        tmp_path / "s.csv",
        generic_header(ve2024),
        ["010101001.01,0,," + ",".join(["60"] * 10), "099999999.01,0,," + ",".join(["1"] * 10)],
    )
    import_file(other, path)
    found = {c.sheet.table: c.findings for c in other.copies("010101001.01") + other.copies("099999999.01")}
    assert any("600 votes cast but 500 registered voters" in f for f in found["010101001.01"])
    assert any("not in the registry" in f for f in found["099999999.01"])


def test_unit_names_are_learned_from_the_files(make_store: Callable[..., Store]) -> None:
    store = make_store()
    import_file(store, V2)
    names = store.unit_names()
    assert names["state"]["01"] == "Distrito Capital"  # from the definition, not overwritten
    assert names["municipality"]["0101"] == "MP. BLVNO LIBERTADOR"


def test_copies_from_different_sources_are_all_kept(make_store: Callable[..., Store]) -> None:
    store = make_store()
    witness = import_file(store, V2, source=Source.WITNESS, submitter="mission A")
    official = import_file(store, V2, source=Source.OFFICIAL)
    assert not official.already and official.overlapping == witness.accepted
    table = sorted(keys(V2, "latin-1"))[0]
    copies = store.copies(table)
    assert [(c.source, c.submitter) for c in copies] == [("witness", "mission A"), ("official", None)]
    assert copies[0].digest == copies[1].digest  # same content, whatever the source


def test_registry_rows_are_checked(make_store: Callable[..., Store], tmp_path: Path) -> None:
    store = make_store()
    rows = ["010101001.01,100", "010101001.01,200", "010101001.02,-5", "010101001.03,3000000000", "010101001.04,1_000"]
    summary = import_registry(store, write_csv(tmp_path / "reg.csv", "table,registered", rows))
    assert (summary.accepted, summary.rejected) == (1, 4)
    reasons = [r["reason"] for r in store.rejects()]
    assert "listed again (first at line 2)" in reasons[0]
    assert "negative count -5" in reasons[1]
    assert "out of range" in reasons[2] and "'1_000' is not a number" in reasons[3]
    assert store.registry() == {"010101001.01": 100}


def test_reimporting_with_another_format_is_allowed(make_store: Callable[..., Store], tmp_path: Path) -> None:
    store = make_store()
    path = tmp_path / "payloads.txt"
    path.write_text((FIXTURES / "qr_payloads.txt").read_text(encoding="utf-8"), encoding="utf-8")
    wrong = import_file(store, path, fmt="jsonl")
    assert wrong.accepted == 0 and wrong.rejected == 10
    right = import_file(store, path)
    assert not right.already and right.accepted == 10
    again = import_file(store, path, fmt="qr")
    assert again.already and again.accepted == 10
