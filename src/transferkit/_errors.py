"""Errors that reach the user as one line."""

from __future__ import annotations

import difflib


class TransferKitError(ValueError):
    """Bad input or configuration: the message says what was wrong and what to do."""


class HubUnavailableError(TransferKitError):
    """A model was asked for by hub name and the hub cannot be reached."""


def choice_error(parameter: str, value: object, choices: list[str]) -> TransferKitError:
    """An error for a value outside a fixed set of choices, with a suggestion."""
    listed = ", ".join(repr(c) for c in choices)
    message = f"`{parameter}` must be one of {listed}. Got {value!r}."
    close = difflib.get_close_matches(str(value), choices, n=1)
    if close:
        message += f" Did you mean {close[0]!r}?"
    return TransferKitError(message)
