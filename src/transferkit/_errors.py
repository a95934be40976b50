"""Errors that reach the user as one line."""

from __future__ import annotations

import difflib


class TransferKitError(ValueError):
    """Bad input or configuration: the message says what was wrong and what to do.

    The message is always one line: a line break that came in with a file's name, a header
    cell or another library's message is written as the two characters `\\n`."""

    def __init__(self, *args: object) -> None:
        if len(args) == 1 and isinstance(args[0], str):
            args = (one_line(args[0]),)
        super().__init__(*args)


def one_line(message: str) -> str:
    """`message` on one line: its line breaks written out as `\\n`."""
    message = message.strip()
    for char, escaped in (("\r\n", "\\n"), ("\r", "\\r"), ("\n", "\\n")):
        message = message.replace(char, escaped)
    return message


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
