"""Acta photos in the store: imported a folder at a time, read in parallel, and reviewed by people.

:func:`import_photos` keeps every photo byte for byte (a batch of kind ``photo``, with its SHA-256),
reads its QR code with :func:`tallyproof.photos.read.read_photo` on a pool of processes, imports each
payload it reads as a copy, and puts every photo it cannot read into the review queue with the reason.
The same file (same SHA-256) is imported once; the same payload read from different photos is the same
copy, counted once; different payloads for one table are a conflict, shown side by side.

**Double-blind review** (:class:`ReviewQueue`): a transcription counts only when two different reviewers,
each entering what they read without seeing the other's entry, agree exactly; when they disagree, a
third reviewer's entry decides (it must equal one of the two). Every entry is kept with who and when,
and the agreed transcription is imported as a copy of the photo's source, its batch recorded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update

from tallyproof.errors import InputError, UnknownError
from tallyproof.photos.fields import Field, fields
from tallyproof.photos.ocr import Box
from tallyproof.photos.read import MAX_BYTES, PhotoRead, crops, read_photo, review_image, table_in_name
from tallyproof.sheets.sheet import Source
from tallyproof.storage import schema as s
from tallyproof.storage.imports import import_data
from tallyproof.storage.store import Store, now
from tallyproof.storage.submissions import decode_sheet, keep_photo

__all__ = ["PHOTO_SUFFIXES", "PhotoImport", "Review", "ReviewField", "ReviewForm", "ReviewQueue", "import_photos"]

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff")


@dataclass(slots=True)
class PhotoImport:
    """What became of a folder of photos."""

    read: int = 0
    review: int = 0
    already: int = 0
    """Photos already in the store (same SHA-256): not read again."""
    bad: list[tuple[str, str]] = field(default_factory=list)
    """Files that are not usable images, with the reason (nothing stored for them)."""
    conflicts: list[str] = field(default_factory=list)
    """Tables for which photos gave different payloads."""


def photo_files(folder: Path) -> list[Path]:
    """The photos in ``folder`` and below, in name order."""
    if not folder.is_dir():
        raise InputError("not a folder", where=str(folder))
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)


def _read_one(job: tuple[str, Any, bool, bool]) -> PhotoRead:
    name, election, ocr, printed = job
    try:
        data = Path(name).read_bytes() if Path(name).stat().st_size <= MAX_BYTES else b""
    except OSError as exc:
        return PhotoRead(name, "", "bad-file", reason=f"cannot read: {exc.strerror}")
    if not data:
        return PhotoRead(name, "", "bad-file", reason=f"more than the {MAX_BYTES:,} bytes a photo may have")
    return _read(data, election, name, ocr, printed)


def _read_sent(job: tuple[str, bytes, Any, bool, bool]) -> PhotoRead:
    """A photo read on a Dask worker, from the bytes sent with it (workers need not see our files)."""
    name, data, election, ocr, printed = job
    return _read(data, election, name, ocr, printed)


def _read(data: bytes, election: Any, name: str, ocr: bool, printed: bool) -> PhotoRead:
    expected = table_in_name(name, election)
    return read_photo(data, election, name=name, expected_table=expected, ocr=ocr, check_printed=printed)


DASK_CHUNK = 256
"""Photos in flight on a Dask cluster at once (bounds the memory their bytes take)."""
DASK_TIMEOUT = 20
"""Seconds to wait for the Dask scheduler to answer."""


def read_all(
    paths: Sequence[Path],
    election: Any,
    *,
    workers: int,
    dask: str | None = None,
    ocr: bool = True,
    check_printed: bool = False,
    done: Callable[[int], None] | None = None,
) -> list[PhotoRead]:
    """:func:`read_photo` of every file, in order: on ``workers`` local processes (1: in this process), or on
    the Dask cluster at ``dask`` (a scheduler address such as ``tcp://10.0.0.5:8786``)."""
    if dask is not None:
        return _read_on_dask(paths, election, dask, (ocr, check_printed), done)
    jobs = [(str(p), election, ocr, check_printed) for p in paths]
    results: list[PhotoRead] = []
    if workers <= 1:
        mapped: Iterable[PhotoRead] = map(_read_one, jobs)
        for r in mapped:
            results.append(r)
            if done:
                done(len(results))
        return results
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for r in pool.map(_read_one, jobs, chunksize=4):
            results.append(r)
            if done:
                done(len(results))
    return results


def _read_on_dask(
    paths: Sequence[Path], election: Any, address: str, how: tuple[bool, bool], done: Callable[[int], None] | None
) -> list[PhotoRead]:
    from dask import distributed

    connect: Any = distributed.Client  # untyped library
    results: list[PhotoRead] = []
    try:
        client: Any = connect(address, timeout=DASK_TIMEOUT)
    except OSError as exc:
        raise InputError(f"cannot reach the Dask scheduler: {exc}", where="--dask") from exc
    with client:
        for start in range(0, len(paths), DASK_CHUNK):
            part = paths[start : start + DASK_CHUNK]
            jobs = [(str(p), _bytes_or_empty(p), election, *how) for p in part]
            ready = [j for j in jobs if j[1]]
            read = iter(client.gather(client.map(_read_sent, ready, pure=False)))
            results += [next(read) if data else _read_one((name, election, *how)) for name, data, *_ in jobs]
            if done:
                done(len(results))
    return results


def _bytes_or_empty(path: Path) -> bytes:
    try:
        return path.read_bytes() if path.stat().st_size <= MAX_BYTES else b""
    except OSError:
        return b""


def import_photos(
    store: Store,
    paths: Sequence[Path],
    *,
    source: Source = Source.WITNESS,
    submitter: str | None = None,
    workers: int = 1,
    dask: str | None = None,
    ocr: bool = True,
    check_printed: bool = False,
    done: Callable[[int], None] | None = None,
) -> PhotoImport:
    """Keep, read and import every photo (see the module docstring); ``dask``: read on that cluster."""
    summary = PhotoImport()
    known = _known_photos(store)
    fresh = []
    for path in paths:
        digest = _sha256(path)
        if digest in known:
            summary.already += 1
        else:
            fresh.append(path)
            known.add(digest)
    reading = read_all(
        fresh, store.election(), workers=workers, dask=dask, ocr=ocr, check_printed=check_printed, done=done
    )
    for result in reading:
        _record(store, result, source, submitter, summary)
    summary.conflicts = _conflicting_photos(store)
    return summary


def _sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", where=str(path)) from exc


def _known_photos(store: Store) -> set[str]:
    with store._read() as conn:
        return set(conn.execute(select(s.batches.c.sha256).where(s.batches.c.kind == "photo")).scalars())


def _record(store: Store, result: PhotoRead, source: Source, submitter: str | None, summary: PhotoImport) -> None:
    if result.status == "bad-file":
        summary.bad.append((result.name, result.reason or ""))
        return
    data = Path(result.name).read_bytes()
    batch_id = keep_photo(store, data, Path(result.name).name, source.value, submitter)
    if result.status == "qr" and result.payload is not None:
        copies = import_data(
            store,
            result.payload.encode("ascii"),
            name=result.name + " (QR)",
            source=source,
            submitter=submitter,
            kind="submission",
        )
        with store.write() as conn:
            conn.execute(
                update(s.photos).where(s.photos.c.batch_id == batch_id).values(payload_batch_id=copies.batch_id)
            )
        summary.read += 1
        return
    suggestion = result.ocr.payload(store.election()) if result.ocr is not None else None
    with store.write() as conn:
        row = {"photo_batch_id": batch_id, "reason": result.reason or "", "suggestion": suggestion}
        review_id = conn.execute(insert(s.reviews).values(**row, created_at=now(), status="open")).inserted_primary_key
        if located := _located(review_id[0], result):
            conn.execute(insert(s.review_fields), located)
    summary.review += 1


def _located(review_id: int, result: PhotoRead) -> list[dict[str, Any]]:
    """The rows of ``review_fields`` for a photo: every field located, and every field in doubt."""
    doubts: dict[str, list[str]] = {}
    for d in result.doubts:
        doubts.setdefault(d.field, []).append(d.said)
    boxes = dict(result.regions)
    rows = []
    for name in dict.fromkeys([*boxes, *doubts]):
        box = boxes.get(name)
        left, top, right, bottom = box if box is not None else (None, None, None, None)
        said = "; ".join(doubts[name]) if name in doubts else None
        rows.append(dict(review_id=review_id, field=name, left=left, top=top, right=right, bottom=bottom, doubt=said))
    return rows


def _conflicting_photos(store: Store) -> list[str]:
    """Tables whose copies read from photos disagree."""
    sh, ph = s.sheets.c, s.photos.c
    q = select(sh.table_id, sh.digest).join_from(s.sheets, s.photos, sh.batch_id == ph.payload_batch_id)
    seen: dict[str, set[str]] = {}
    with store._read() as conn:
        for table, digest in conn.execute(q):
            seen.setdefault(table, set()).add(digest)
    return sorted(t for t, digests in seen.items() if len(digests) > 1)


@dataclass(frozen=True, slots=True)
class ReviewField:
    """A field of a photo under review: where it is printed (if located) and why it is in doubt (if it is)."""

    field: str
    box: Box | None
    doubt: str | None


@dataclass(frozen=True, slots=True)
class ReviewForm:
    """What a reviewer is shown for one photo: the acta's fields in order, each with the crop of the photo
    where it is printed (PNG, when OCR located it) and why it is in doubt (when it is); and the counts
    region of the whole photo for the rest."""

    review_id: int
    overview_png: bytes
    fields: list[Field]
    crops: dict[str, bytes]
    doubts: dict[str, str]


@dataclass(frozen=True, slots=True)
class Review:
    id: int
    photo_batch_id: int
    filename: str
    reason: str
    status: str
    entries: int
    payload: str | None


class ReviewQueue:
    """Photos waiting for people, and their double-blind transcriptions (see the module docstring)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def reviews(self, *, open_only: bool = True) -> list[Review]:
        r, b, e = s.reviews.c, s.batches.c, s.review_entries.c
        count = select(e.review_id, e.id).subquery()
        q = select(r.id, r.photo_batch_id, b.filename, r.reason, r.status, r.payload).join_from(
            s.reviews, s.batches, r.photo_batch_id == b.id
        )
        if open_only:
            q = q.where(r.status != "agreed")
        with self.store._read() as conn:
            counts: dict[int, int] = {}
            for review_id, _ in conn.execute(select(count)):
                counts[review_id] = counts.get(review_id, 0) + 1
            rows = conn.execute(q.order_by(r.id)).all()
        return [Review(i, p, f, why, st, counts.get(i, 0), pay) for i, p, f, why, st, pay in rows]

    def photo(self, review_id: int) -> bytes:
        """The photo under review, as received."""
        r, b = s.reviews.c, s.batches.c
        with self.store._read() as conn:
            raw = conn.execute(
                select(b.raw).join_from(s.reviews, s.batches, r.photo_batch_id == b.id).where(r.id == review_id)
            ).scalar()
        if raw is None:
            raise UnknownError("no such review", where=f"review {review_id}")
        return bytes(raw)

    def fields(self, review_id: int) -> dict[str, ReviewField]:
        """The fields of a photo under review located by OCR or in doubt, by field key."""
        f = s.review_fields.c
        q = select(f.field, f.left, f.top, f.right, f.bottom, f.doubt).where(f.review_id == review_id)
        with self.store._read() as conn:
            rows = conn.execute(q).all()
        return {
            name: ReviewField(name, None if left is None else (left, top, right, bottom), doubt)
            for name, left, top, right, bottom, doubt in rows
        }

    def form(self, review_id: int) -> ReviewForm:
        """The photo under review laid out for a reviewer (see :class:`ReviewForm`)."""
        photo = self.photo(review_id)
        located = self.fields(review_id)
        shown = crops(photo, {k: f.box for k, f in located.items() if f.box is not None})
        doubts = {k: f.doubt for k, f in located.items() if f.doubt is not None}
        return ReviewForm(review_id, review_image(photo), fields(self.store.election()), shown, doubts)

    def enter(self, review_id: int, reviewer: str, payload: str) -> Review:
        """Record what ``reviewer`` read (as a QR payload); decide when two agree (or a third settles it)."""
        review = next((x for x in self.reviews(open_only=False) if x.id == review_id), None)
        if review is None:
            raise UnknownError("no such review", where=f"review {review_id}")
        if review.status == "agreed":
            raise InputError("already decided", where=f"review {review_id}")
        decode_sheet(payload, self.store.election())  # a transcription must be a well-formed payload
        e = s.review_entries.c
        with self.store.write() as conn:
            entered = {
                who: text for who, text in conn.execute(select(e.reviewer, e.payload).where(e.review_id == review_id))
            }
            if reviewer in entered:
                raise InputError("this reviewer has already entered this photo", where=f"review {review_id}")
            conn.execute(
                insert(s.review_entries).values(
                    review_id=review_id, reviewer=reviewer, payload=payload.strip(), entered_at=now()
                )
            )
        entries = [*entered.values(), payload.strip()]
        return self._decide(review, entries)

    def _decide(self, review: Review, entries: list[str]) -> Review:
        agreed = next((p for p in entries if entries.count(p) >= 2), None)
        status = "agreed" if agreed else ("third" if len(entries) >= 2 else "open")
        values: dict[str, Any] = {"status": status}
        if agreed is not None:
            values |= {"payload": agreed, "decided_at": now(), "copy_batch_id": self._import(review, agreed)}
        with self.store.write() as conn:
            conn.execute(update(s.reviews).where(s.reviews.c.id == review.id).values(**values))
        return next(x for x in self.reviews(open_only=False) if x.id == review.id)

    def _import(self, review: Review, payload: str) -> int:
        b = s.batches.c
        with self.store._read() as conn:
            source, submitter = conn.execute(select(b.source, b.submitter).where(b.id == review.photo_batch_id)).one()
        name = f"{review.filename} (review {review.id})"
        copies = import_data(
            self.store,
            payload.encode("ascii"),
            name=name,
            source=Source(source),
            submitter=submitter,
            kind="submission",
        )
        return copies.batch_id
