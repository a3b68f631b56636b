"""Domain errors: each carries a stable ``reason`` code and a message for staff.

The conversational core maps ``reason`` codes to translated texts for customers; staff
surfaces (CLI, API) print ``str(error)``.
"""
from __future__ import annotations


class LoyaltyError(Exception):
    """A refusal the user can act on; never a bug."""

    reason = "error"

    def __init__(self, message: str, *, reason: str | None = None, **details: object) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason
        self.details = details


class ConfigError(LoyaltyError):
    reason = "config"


class NotFound(LoyaltyError):
    reason = "not_found"


class InvalidInput(LoyaltyError):
    """``field``: the input it is about, by the domain's name for it; ``problem``: the message
    after that name, so a surface that calls the field otherwise (the API's ``offer.factor``
    for ``multiplier``) words it as ``its_name + problem`` without reading the text."""

    reason = "invalid"

    def __init__(self, message: str, *, reason: str | None = None, field: str | None = None,
                 problem: str | None = None, **details: object) -> None:
        super().__init__(message, reason=reason, **details)
        self.field = field
        self.problem = problem

    @classmethod
    def about(cls, field: str, problem: str) -> InvalidInput:
        """"<field><problem>": ``problem`` starts with ": " or a space."""
        return cls(field + problem, field=field, problem=problem)

    def naming(self, names: dict[str, str]) -> str:
        """The message with the field called as ``names`` says (unchanged when it is not there)."""
        if self.field in names and self.problem is not None:
            return names[self.field] + self.problem
        return str(self)


class InsufficientPoints(LoyaltyError):
    reason = "insufficient_points"


class Refused(LoyaltyError):
    """A rule refused the operation; ``reason`` says which."""

    reason = "refused"


class AlreadyDone(LoyaltyError):
    """The same operation was already applied (idempotent repeat)."""

    reason = "already_done"


class Inconsistent(RuntimeError):
    """Something the code relies on does not hold (a row another says exists is gone): a
    defect to fix, never a user's mistake. Raised where ``assert`` would vanish under -O."""
