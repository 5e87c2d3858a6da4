"""Plain HTML pages from the Jinja2 templates in ``templates/``: no script, no CDN, readable on a phone (one
column, large controls). Every value is escaped by the templates (autoescape); a page is a function of plain
data, so the same data serves its JSON twin."""

from __future__ import annotations

import base64
from functools import cache
from typing import Any

import jinja2

from tallyproof.storage.photos import ReviewForm
from tallyproof.storage.submissions import CopyCheck

__all__ = ["STYLE", "check_page", "render", "review_list_page", "review_page", "table_page"]

STYLE = (
    "body{font-family:sans-serif;max-width:50em;margin:1em auto;padding:0 1em;line-height:1.4}"
    "pre{white-space:pre-wrap;word-break:break-all}td{padding:0 1em}"
    "textarea,input,button{width:100%;font-size:1.1em;box-sizing:border-box;margin:.3em 0}"
    "button{padding:.6em}.ok{color:#05632e}.bad{color:#a40000}"
)


def _png(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("tallyproof.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
    )
    env.filters["thousands"] = lambda n: f"{n:,}"
    env.filters["png"] = _png
    return env


def render(template: str, *, title: str, **context: Any) -> str:
    """The page ``template`` (a file in ``templates/``) with ``context``, under ``title``."""
    return _environment().get_template(template).render(title=title, style=STYLE, **context)


def check_page(*, result: CopyCheck | None = None, error: str | None = None, payload: str = "") -> str:
    """The "check my copy" form, with the answer to the last check above it."""
    return render("check.html", title="Check my copy", result=result, error=error, payload=payload)


def review_list_page(token: str, reviews: list[tuple[int, str, str]], *, error: str | None = None) -> str:
    """Photos waiting for people: each opens a form beside its image (the token travels in the forms)."""
    return render("review_list.html", title="Photos to review", token=token, reviews=reviews, error=error)


def review_page(token: str, form: ReviewForm, *, said: str | None = None, values: dict[str, str] | None = None) -> str:
    """One photo: each field of the acta beside the crop that shows it (the whole counts region beside the
    form for the rest); nobody else's entry and no machine reading are shown."""
    keys = {f.key for f in form.fields}
    return render(
        "review.html",
        title=f"Review {form.review_id}",
        token=token,
        form=form,
        note=said,
        values=values or {},
        keys=keys,
    )


def table_page(data: dict[str, Any]) -> str:
    """A table's result, where it is in the log, and its proof (``data`` is the page's JSON twin)."""
    return render("table.html", title=f"Table {data['table']}", data=data)
