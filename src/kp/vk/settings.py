"""kp's numeric environment variables, read once where they are used."""

from __future__ import annotations

import os

from ..errors import InvalidArgumentError


def int_variable(name: str, default: int, what: str) -> int:
    """The environment variable ``name`` as a non-negative int (``default`` where it is
    unset or empty); an ``InvalidArgumentError`` naming the variable, its value and
    ``what`` it sets otherwise."""
    setting = os.environ.get(name, "").strip()
    if not setting:
        return default
    if not (setting.isascii() and setting.isdigit()):
        raise InvalidArgumentError(f"the environment variable {name}={os.environ[name]!r} must be a non-negative "
                                   f"integer ({what}; unset, it is {default})")
    return int(setting)
