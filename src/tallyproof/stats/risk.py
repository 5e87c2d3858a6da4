"""The risk limit of an audit: the largest chance it may confirm a wrong reported outcome, checked once."""

from __future__ import annotations

from tallyproof.errors import InputError

__all__ = ["check_risk_limit"]


def check_risk_limit(risk_limit: float, *, where: str = "risk_limit") -> float:
    """``risk_limit`` if it lies strictly between 0 and 1 (NaN does not), else :class:`InputError` naming ``where``."""
    if not 0 < risk_limit < 1:
        raise InputError(f"the risk limit must lie strictly between 0 and 1, not {risk_limit}", where=where)
    return risk_limit
