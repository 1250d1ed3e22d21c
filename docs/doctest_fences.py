"""A Griffe extension for the API reference: the doctest examples of kp's
docstrings are shown as Python code (fenced), not as Markdown text."""

from __future__ import annotations

import re
from typing import Any

import griffe

# A run of lines that starts with ">>>" and ends at a blank line or the end.
_EXAMPLE = re.compile(r"^(>>> .*?)(?=\n\s*\n|\Z)", re.MULTILINE | re.DOTALL)


class DoctestFences(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _EXAMPLE.sub(r"```pycon\n\1\n```", obj.docstring.value)
