"""Plain HTML pages: no script, no CDN, readable on a phone (one column, large controls)."""

from __future__ import annotations

import base64
import html

from tallyproof.photos.fields import Field
from tallyproof.storage.photos import ReviewForm
from tallyproof.storage.submissions import CopyCheck

__all__ = ["STYLE", "check_page", "page", "review_list_page", "review_page"]

STYLE = (
    "body{font-family:sans-serif;max-width:50em;margin:1em auto;padding:0 1em;line-height:1.4}"
    "pre{white-space:pre-wrap;word-break:break-all}td{padding:0 1em}"
    "textarea,input,button{width:100%;font-size:1.1em;box-sizing:border-box;margin:.3em 0}"
    "button{padding:.6em}.ok{color:#05632e}.bad{color:#a40000}"
)


def page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style><body>{body}</body></html>"
    )


def check_page(*, result: CopyCheck | None = None, error: str | None = None, payload: str = "") -> str:
    """The "check my copy" form, with the answer to the last check above it."""
    parts = ["<h1>Check my copy</h1>"]
    if error:
        parts.append(f"<p class=bad><strong>{html.escape(error)}</strong></p>")
    if result is not None:
        parts.append(_answer(result))
    parts.append(
        "<form method=post action=/check>"
        "<label>Your API token<input name=token type=password autocomplete=current-password required></label>"
        "<label>The QR payload of your sheet (scan it with any QR app and paste it here)"
        f"<textarea name=payload rows=5 required>{html.escape(payload)}</textarea></label>"
        "<button type=submit>Check</button></form>"
        "<p>Your check is recorded as your submission of this copy.</p>"
    )
    return page("Check my copy", "".join(parts))


def _answer(c: CopyCheck) -> str:
    table = html.escape(c.table)
    if c.status == "no-official" and c.in_registry is False:
        return f"<p class=bad><strong>Table {table} is not in the registry: check the acta id.</strong> Your copy is recorded.</p>"
    if c.status == "no-official":
        return f"<p><strong>Table {table}: no official sheet is published yet.</strong> Your copy is recorded.</p>"
    if c.status == "match":
        head = f"<p class=ok><strong>Table {table}: your copy matches the published official sheet.</strong></p>"
    else:
        head = f"<p class=bad><strong>Table {table}: your copy differs from the published official sheet.</strong></p>"
    rows = "".join(
        f"<tr><td>{html.escape(f)}</td><td>{mine:,}</td><td>{theirs:,}</td></tr>" for f, mine, theirs in c.differences
    )
    diff = f"<table><tr><th>Where</th><th>Your copy</th><th>Official</th></tr>{rows}</table>" if rows else ""
    proof = ""
    if c.leaf is not None:
        proof = f"<p>The official sheet is leaf {c.leaf:,} of the public log.</p>"
    if c.checkpoint:
        proof += f"<p>Inclusion proof:</p><pre>{html.escape(chr(10).join(c.proof))}</pre>"
        proof += f"<p>Signed checkpoint:</p><pre>{html.escape(c.checkpoint)}</pre>"
    return head + diff + proof + f"<p>Recorded as submission {c.submission}.</p>"


def review_list_page(token: str, reviews: list[tuple[int, str, str]], *, error: str | None = None) -> str:
    """Photos waiting for people: each opens a form beside its image (the token travels in the forms)."""
    parts = ["<h1>Photos to review</h1>"]
    if error:
        parts.append(f"<p class=bad><strong>{html.escape(error)}</strong></p>")
    if not token:
        parts.append(_token_form("/review", "Show the queue"))
        return page("Photos to review", "".join(parts))
    for review_id, filename, reason in reviews:
        parts.append(
            f"<form method=post action=/review/{review_id}><input type=hidden name=token value='{html.escape(token)}'>"
            f"<button type=submit>Review {review_id}: {html.escape(filename)}</button>"
            f"<p>{html.escape(reason)}</p></form>"
        )
    if not reviews:
        parts.append("<p>Nothing to review.</p>")
    return page("Photos to review", "".join(parts))


def review_page(token: str, form: ReviewForm, *, said: str | None = None, values: dict[str, str] | None = None) -> str:
    """One photo: each field of the acta beside the crop that shows it (the whole counts region beside the
    form for the rest); nobody else's entry and no machine reading are shown."""
    note = f"<p class=bad><strong>{html.escape(said)}</strong></p>" if said else ""
    keys = {f.key for f in form.fields}
    doubts = "".join(
        f"<li>{html.escape(why)}"
        + (
            f"<br><img alt='where' style='max-width:100%' src='{_png(form.crops[k])}'>"
            if k not in keys and k in form.crops
            else ""
        )
        + "</li>"
        for k, why in form.doubts.items()
    )
    rows = "".join(_field_row(f, form, values or {}) for f in form.fields)
    body = (
        f"<h1>Review {form.review_id}</h1>{note}"
        + (f"<p>In doubt, marked below:</p><ul>{doubts}</ul>" if doubts else "")
        + f"<div style='display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start'>"
        f"<img alt='the acta' style='max-width:100%;width:20em;position:sticky;top:0' src='{_png(form.overview_png)}'>"
        f"<form method=post action=/review/{form.review_id}/enter style='flex:1;min-width:18em'>"
        f"<input type=hidden name=token value='{html.escape(token)}'>"
        "<p>Type what the acta prints, field by field. Your entry counts only when a second reviewer, who does "
        f"not see it, enters the same.</p><table>{rows}</table><button type=submit>Enter</button></form></div>"
    )
    return page(f"Review {form.review_id}", body)


def _field_row(f: Field, form: ReviewForm, values: dict[str, str]) -> str:
    numeric = "" if f.key == "acta_id" else " inputmode=numeric pattern='[0-9 ]*'"
    crop = (
        f"<img alt='where it is printed' style='max-width:100%' src='{_png(form.crops[f.key])}'>"
        if f.key in form.crops
        else ""
    )
    doubt = f"<br><span class=bad>{html.escape(form.doubts[f.key])}</span>" if f.key in form.doubts else ""
    value = html.escape(values.get(f.key, ""))
    return (
        f"<tr><td><label for='{f.key}'>{html.escape(f.label)}</label>{doubt}<br>{crop}</td>"
        f"<td style='width:7em'><input id='{f.key}' name='{f.key}' value='{value}' required{numeric}></td></tr>"
    )


def _png(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _token_form(action: str, label: str) -> str:
    return (
        f"<form method=post action={action}>"
        "<label>Your API token<input name=token type=password autocomplete=current-password required></label>"
        f"<button type=submit>{html.escape(label)}</button></form>"
    )
