"""Folders of acta photos: kept, read in parallel, duplicates and conflicts recognised, and the double-blind
review of what no reader could read."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from tallyproof.cli import app
from tallyproof.election import Election
from tallyproof.errors import CodecError, InputError
from tallyproof.photos.fields import entries
from tallyproof.sheets.qr import to_qr
from tallyproof.sheets.sheet import Source, TallySheet
from tallyproof.simulation.actas import degraded
from tallyproof.storage.photos import ReviewQueue, import_photos, photo_files
from tallyproof.storage.store import Store
from tallyproof.tabulate import choose_copies

IMAGES = Path(__file__).resolve().parents[2] / "shared" / "data" / "ve2024" / "images"


def acta(ve2024: Election, table: str, first: int) -> TallySheet:
    return TallySheet.from_cards(
        ve2024, table, [first, *([1] * 37)], null=0, blank=0, registered=500, acta_id=table + ".1.0001"
    )  # type: ignore[arg-type]


@pytest.fixture
def folder(tmp_path: Path, ve2024: Election) -> Path:
    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    a, b = acta(ve2024, "010111043.01", 10), acta(ve2024, "010111043.02", 20)
    (photos / "a1.jpg").write_bytes(degraded(a, ve2024, seed=1, steps=[]))
    (photos / "sub" / "a2.jpg").write_bytes(degraded(a, ve2024, seed=2, steps=["blur:1"]))  # same acta, another photo
    (photos / "b.jpg").write_bytes(degraded(b, ve2024, seed=3, steps=["occlude-qr"]))  # unreadable
    (photos / "c.jpg").write_bytes(degraded(acta(ve2024, "010111043.01", 11), ve2024, seed=4, steps=[]))  # conflict
    (photos / "notes.jpg").write_text("not a photo")
    (photos / "readme.txt").write_text("ignored: not a photo file name")
    return photos


def test_a_folder_is_kept_read_and_reviewed(make_store: Callable[..., Store], folder: Path, ve2024: Election) -> None:
    store = make_store()
    paths = photo_files(folder)
    assert [p.name for p in paths] == ["a1.jpg", "b.jpg", "c.jpg", "notes.jpg", "a2.jpg"]
    done = import_photos(store, paths, source=Source.WITNESS, submitter="mission", workers=2, ocr=False)
    assert (done.read, done.review, done.already) == (3, 1, 0)
    assert done.bad == [(str(folder / "notes.jpg"), "not a readable image (UnidentifiedImageError)")]
    assert done.conflicts == ["010111043.01"]  # photos of one table with different payloads
    chosen, conflict = choose_copies(store.columns(), ["witness"])
    assert chosen.size == 1 and conflict.tolist() == [True]  # a1 and a2 are one copy; c conflicts with it
    again = import_photos(store, paths, workers=1, ocr=False)
    assert (again.read, again.review, again.already) == (0, 0, 4)
    (review,) = ReviewQueue(store).reviews()
    assert review.filename == "b.jpg" and review.reason and review.status == "open"


def test_double_blind_review(make_store: Callable[..., Store], folder: Path, ve2024: Election) -> None:
    store = make_store()
    import_photos(store, [folder / "b.jpg"], source=Source.OBSERVER, submitter="mission", workers=1, ocr=False)
    queue = ReviewQueue(store)
    (review,) = queue.reviews()
    assert queue.photo(review.id) == (folder / "b.jpg").read_bytes()
    right, wrong = to_qr(acta(ve2024, "010111043.02", 20)), to_qr(acta(ve2024, "010111043.02", 21))
    assert queue.enter(review.id, "Rosa", right).status == "open"
    with pytest.raises(InputError, match="already entered"):
        queue.enter(review.id, "Rosa", right)
    with pytest.raises(CodecError):
        queue.enter(review.id, "Luis", "not a payload")
    assert store.columns().ids.size == 0
    assert queue.enter(review.id, "Luis", wrong).status == "third"  # they disagree: a third decides
    decided = queue.enter(review.id, "Marta", right)
    assert (decided.status, decided.payload, decided.entries) == ("agreed", right, 3)
    cols = store.columns()
    assert cols.ids.size == 1 and cols.sources.astype(str).tolist() == ["observer"] and cols.candidates[0, 0] == 20 + 12
    assert queue.reviews() == [] and len(queue.reviews(open_only=False)) == 1
    with pytest.raises(InputError, match="already decided"):
        queue.enter(review.id, "Pablo", right)


def test_photos_and_review_from_the_command_line(
    make_store: Callable[..., Store], folder: Path, tmp_path: Path
) -> None:
    db, run = make_store().where, CliRunner()
    imported = run.invoke(app, ["import", str(folder), "--photos", "--workers", "1", "--no-ocr", "--db", db])
    said = " ".join(imported.stdout.split())
    assert imported.exit_code == 0 and "5 photos: 3 read, 1 put up for review" in said and "different payloads" in said
    assert "b.jpg" in run.invoke(app, ["review", "list", "--db", db]).stdout
    look = ["review", "photo", "1", "-o", str(tmp_path / "look.jpg"), "--crops", str(tmp_path / "crops"), "--db", db]
    saved = run.invoke(app, look)
    assert saved.exit_code == 0 and (tmp_path / "look.jpg").read_bytes() == (folder / "b.jpg").read_bytes()
    assert "in doubt, qr: no QR code found by any step" in " ".join(saved.stdout.split())
    assert [p.name for p in (tmp_path / "crops").iterdir()] == ["qr.png"]  # no OCR here: only where the QR is
    payload = "010111043.02.1.0001!" + ",".join(["20", *(["1"] * 37)]) + "!0!0"
    first = run.invoke(app, ["review", "enter", "1", "--as", "Rosa", "--payload", payload, "--db", db])
    assert first.exit_code == 0 and "a second reviewer" in first.stdout
    typed = "\n".join(entries(payload, Store.sqlite(Path(db)).election()).values()) + "\n"
    second = run.invoke(app, ["review", "enter", "1", "--as", "Luis", "--db", db], input=typed)  # field by field
    assert second.exit_code == 0 and "1. PSUV (269)" in second.stdout
    assert "two reviewers agree" in " ".join(second.stdout.split())


def test_the_real_photos_as_a_folder(make_store: Callable[..., Store]) -> None:
    if not IMAGES.is_dir():
        pytest.skip(
            "../shared/data/ve2024 not present: the real photos are not in the repository (names, IDs, signatures)"
        )
    store = make_store()
    done = import_photos(store, photo_files(IMAGES), workers=2, ocr=False)
    assert (done.read, done.review, done.bad, done.conflicts) == (43, 0, [], [])
    assert store.columns().ids.size == 43


def test_photos_read_on_a_dask_cluster(make_store: Callable[..., Store], folder: Path) -> None:
    """The same reading on a real (local) Dask cluster: two worker processes, photos sent as bytes."""
    from dask.distributed import LocalCluster

    store = make_store()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        done = import_photos(
            store, photo_files(folder), source=Source.WITNESS, dask=cluster.scheduler_address, ocr=False
        )
    assert (done.read, done.review, len(done.bad)) == (3, 1, 1) and done.conflicts == ["010111043.01"]


def test_an_unreachable_dask_scheduler_is_named(
    make_store: Callable[..., Store], folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tallyproof.storage import photos

    monkeypatch.setattr(photos, "DASK_TIMEOUT", 1)
    with pytest.raises(InputError, match="cannot reach the Dask scheduler"):
        import_photos(make_store(), photo_files(folder), dask="tcp://127.0.0.1:9", ocr=False)


def test_a_file_name_that_names_another_table_sends_the_photo_to_review(
    make_store: Callable[..., Store], tmp_path: Path, ve2024: Election
) -> None:
    from tallyproof.photos.read import table_in_name

    assert table_in_name("x/010111043_01_acta.png", ve2024) == "010111043.01"
    assert table_in_name("637933_329296_0476Acta0120.jpg", ve2024) is None  # real names carry no table id
    right, wrong = tmp_path / "010111043.01.jpg", tmp_path / "010111043.02.jpg"
    data = degraded(acta(ve2024, "010111043.01", 10), ve2024, seed=1, steps=[])
    right.write_bytes(data)
    wrong.write_bytes(data + b"\\0")  # another file, the same acta
    store = make_store()
    done = import_photos(store, [right, wrong], workers=1, ocr=False)
    assert (done.read, done.review) == (1, 1)
    (review,) = ReviewQueue(store).reviews()
    assert review.filename == "010111043.02.jpg" and "sent for table 010111043.02" in review.reason
    located = ReviewQueue(store).fields(review.id)
    assert located["acta_id"].doubt == located["qr"].doubt == review.reason  # the id to check, and the QR
    assert located["acta_id"].box is None and located["qr"].box is not None  # without OCR: the QR region only
    form = ReviewQueue(store).form(review.id)
    assert list(form.crops) == ["qr"] and Image.open(io.BytesIO(form.crops["qr"])).width <= 480


def test_import_can_check_every_qr_against_its_printed_acta(
    make_store: Callable[..., Store], folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With check_printed, a QR the printed text contradicts goes to review (OCR stubbed: a printed acta id
    that is not the QR's)."""
    from tallyproof.photos import ocr

    monkeypatch.setattr(ocr, "available", lambda: True)
    monkeypatch.setattr(ocr, "scan", lambda _img: ocr.Scan("Acta de escrutinio\n999999999.99.1.0001\n", None))
    store = make_store()
    done = import_photos(store, [folder / "a1.jpg"], workers=1, check_printed=True)
    assert (done.read, done.review) == (0, 1)
    (review,) = ReviewQueue(store).reviews()
    assert "the printed acta id is 999999999.99.1.0001" in review.reason
