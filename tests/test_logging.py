"""Logging goes through Python's ``logging`` logger ``kp``."""

import logging
import subprocess
import sys
import textwrap

import pytest

import kp
from conftest import child_env



@pytest.fixture
def kp_logger():
    logger = logging.getLogger("kp")
    level, handlers = logger.level, list(logger.handlers)
    yield logger
    logger.setLevel(level)
    logger.handlers[:] = handlers


def python(code):
    env = child_env()
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result


@pytest.mark.parametrize("level, expected", [(0, 5), (1, logging.DEBUG), (2, logging.INFO),
                                             (3, logging.WARNING), (4, logging.ERROR)])
def test_log_level_uses_komputes_numbers(kp_logger, level, expected):
    kp.log_level(level)
    assert kp_logger.level == expected
    assert logging.getLevelName(5) == "TRACE"


@pytest.mark.parametrize("level", [-1, 5, "info"])
def test_log_level_refuses_other_values(kp_logger, level):
    with pytest.raises(kp.InvalidArgumentError, match="0..4"):
        kp.log_level(level)


def test_manager_logs_the_device_it_uses(caplog):
    with caplog.at_level(logging.INFO, logger="kp"):
        with kp.Manager() as mgr:
            name = mgr.get_device_properties()["device_name"]
    assert any(r.name == "kp" and r.levelno == logging.INFO and name in r.getMessage() for r in caplog.records)


def test_records_below_the_level_are_dropped(kp_logger, caplog):
    kp.log_level(4)
    with caplog.at_level(logging.NOTSET):  # the root's level; kp's stays at ERROR
        with kp.Manager():
            pass
    assert not [r for r in caplog.records if r.name == "kp" and r.levelno < logging.ERROR]


def test_import_leaves_the_root_logger_alone():
    python("""
        import logging
        import kp
        root = logging.getLogger()
        assert root.handlers == [] and root.level == logging.WARNING, (root.handlers, root.level)
        with kp.Manager():
            pass
        assert root.handlers == []
    """)


def test_log_level_makes_messages_visible_without_configuring_root():
    result = python("""
        import logging
        import kp
        kp.log_level(2)
        assert logging.getLogger().handlers == []
        kp.Manager().destroy()
    """)
    assert "Using physical device" in result.stderr


def test_log_level_adds_no_handler_when_the_application_has_one():
    result = python("""
        import logging, sys
        logging.basicConfig(stream=sys.stdout, format="app: %(message)s")
        import kp
        kp.log_level(2)
        kp.Manager().destroy()
    """)
    assert "app: Using physical device" in result.stdout
    assert "Using physical device" not in result.stderr
