"""kp's logger: Python's ``logging`` logger named ``kp``, never compiled out."""

from __future__ import annotations

import logging

TRACE = 5
logging.addLevelName(TRACE, "TRACE")

logger = logging.getLogger("kp")
logger.addHandler(logging.NullHandler())
logger.setLevel(logging.INFO)  # Kompute's default

_LEVELS = {0: TRACE, 1: logging.DEBUG, 2: logging.INFO, 3: logging.WARNING, 4: logging.ERROR}


def log_level(level: int) -> None:
    """Set kp's log level: 0=TRACE, 1=DEBUG, 2=INFO, 3=WARN, 4=ERROR (Kompute's numbers).

    If nothing handles kp's records yet (no handler on ``kp`` or the root logger),
    a stderr handler is added to ``kp`` so the messages are seen; the root logger is
    never touched.
    """
    from .errors import InvalidArgumentError

    try:
        known = level in _LEVELS and not isinstance(level, bool)
    except TypeError:  # unhashable
        known = False
    if not known:
        raise InvalidArgumentError(f"log level must be one of 0..4 (TRACE..ERROR), not {level!r}")
    logger.setLevel(_LEVELS[level])
    visible = [h for h in logger.handlers if not isinstance(h, logging.NullHandler)]
    if not visible and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("[%(levelname)s] kp: %(message)s"))
        logger.addHandler(handler)
