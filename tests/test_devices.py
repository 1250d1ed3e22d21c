"""Choosing devices: kp.list_devices(), kp.Manager(device=index or UUID), KP_VISIBLE_DEVICES."""

import re

import numpy as np
import pytest

import kp
from conftest import run


@pytest.fixture
def first():
    """The first device Vulkan enumerates, as kp.list_devices() describes it."""
    return kp.list_devices()[0]


def test_list_devices_gives_index_name_type_vendor_driver_and_uuid():
    devices = kp.list_devices()
    assert [d["index"] for d in devices] == list(range(len(devices)))
    for d in devices:
        assert d["device_name"] and d["device_type"] in ("cpu", "integrated_gpu", "discrete_gpu", "virtual_gpu",
                                                         "other")
        assert isinstance(d["vendor"], str) and d["vendor"]
        assert isinstance(d["driver"], str) and d["driver"]
        assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", d["uuid"])


def _manager_computes(mgr) -> None:
    a, b, out = mgr.tensor([1, 2, 3]), mgr.tensor([4, 5, 6]), mgr.tensor([0, 0, 0])
    run(mgr, kp.OpSyncDevice([a, b]), kp.OpMult([a, b, out], mgr.algorithm()), kp.OpSyncLocal([out]))
    np.testing.assert_array_equal(out.data(), [4, 10, 18])


@pytest.mark.parametrize("spelling", [lambda u: u, lambda u: u.upper(), lambda u: "GPU-" + u, lambda u: u[:13]])
def test_manager_takes_a_uuid(memory_mode, first, spelling):
    with kp.Manager(device=spelling(first["uuid"])) as mgr:
        props = mgr.get_device_properties()
        assert (props["uuid"], props["index"]) == (first["uuid"], 0)
        _manager_computes(mgr)


def test_manager_keeps_kompute_positional_arguments(memory_mode, first):
    family = next(f["index"] for f in first["queue_families"] if f["compute"])
    with kp.Manager(0, [family], []) as mgr:
        assert mgr.get_device_properties()["uuid"] == first["uuid"]
        _manager_computes(mgr)


@pytest.mark.parametrize("device, message", [
    (-1, "no Vulkan device with index -1"), (99, "no Vulkan device with index 99"),
    ("ffffffff-no-such-device", "no Vulkan device with UUID 'ffffffff-no-such-device'"),
    ("", "no Vulkan device with UUID ''"), ("²", "no Vulkan device with UUID '²'"),
    (np.int64(99), "no Vulkan device with index 99")])  # "²": a digit to str.isdigit, a ValueError to int()
def test_a_device_that_does_not_exist_is_refused(device, message):
    with pytest.raises(kp.DeviceNotFoundError, match=re.escape(message)):
        kp.Manager(device=device)


@pytest.mark.parametrize("device", [1.0, None, True, np.True_, [0], np.float32(0)], ids=repr)
def test_a_device_that_is_neither_an_index_nor_a_uuid_is_refused(device):
    with pytest.raises(kp.InvalidArgumentError, match=re.escape(f"device must be an index (an int) or a UUID "
                                                                f"string, got {device!r}")):
        kp.Manager(device=device)


def test_a_numpy_integer_is_an_index(memory_mode, first):
    with kp.Manager(device=np.int64(0), family_queue_indices=np.array([0])) as mgr:
        assert mgr.get_device_properties()["uuid"] == first["uuid"]
        _manager_computes(mgr)


@pytest.mark.parametrize("arguments, message", [
    ((0, None), "family_queue_indices must be a list of ints, got None"),
    ((0, [True]), "family_queue_indices must be a list of ints, got [True]"),
    ((0, [], None), "desired_extensions must be a list of extension names (str), got None"),
    ((0, [], "VK_KHR_shader_float16_int8"), "got 'VK_KHR_shader_float16_int8'"),
    ((0, [], [1]), "desired_extensions must be a list of extension names (str), got [1]")])
def test_queue_families_and_extensions_of_the_wrong_type_are_refused(arguments, message):
    with pytest.raises(kp.InvalidArgumentError, match=re.escape(message)):
        kp.Manager(*arguments)


def test_visible_devices_filter_and_order(monkeypatch, first):
    monkeypatch.setenv("KP_VISIBLE_DEVICES", f" GPU-{first['uuid']} ,0")
    devices = kp.list_devices()
    assert [(d["index"], d["uuid"]) for d in devices] == [(0, first["uuid"]), (1, first["uuid"])]
    with kp.Manager(1) as mgr:
        assert mgr.get_device_properties()["index"] == 1


def test_visible_devices_let_two_managers_share_a_device_as_two(monkeypatch, memory_mode):
    monkeypatch.setenv("KP_VISIBLE_DEVICES", "0,0")
    managers = [kp.Manager(d["index"]) for d in kp.list_devices()]
    try:
        for mgr in managers:
            _manager_computes(mgr)
    finally:
        for mgr in managers:
            mgr.destroy()


@pytest.mark.parametrize("setting, message", [
    ("7", "KP_VISIBLE_DEVICES='7': no Vulkan device with index 7"),
    ("0,²", "KP_VISIBLE_DEVICES='0,²': no Vulkan device with UUID '²'"),
    ("0,not-a-uuid", "KP_VISIBLE_DEVICES='0,not-a-uuid': no Vulkan device with UUID 'not-a-uuid'"),
    ("²", "KP_VISIBLE_DEVICES='²': no Vulkan device with UUID '²'"),
])
def test_a_visible_device_entry_that_matches_nothing_is_an_error(monkeypatch, setting, message):
    monkeypatch.setenv("KP_VISIBLE_DEVICES", setting)
    with pytest.raises(kp.DeviceNotFoundError, match=re.escape(message)):
        kp.list_devices()
    with pytest.raises(kp.DeviceNotFoundError, match=re.escape(message)):
        kp.Manager()


def test_visible_devices_set_empty_hide_every_device(monkeypatch):
    monkeypatch.setenv("KP_VISIBLE_DEVICES", "")
    assert kp.list_devices() == []
    with pytest.raises(kp.DeviceNotFoundError, match="KP_VISIBLE_DEVICES='' hides them all"):
        kp.Manager()


def test_indices_count_in_the_visible_list(monkeypatch, first):
    monkeypatch.setenv("KP_VISIBLE_DEVICES", first["uuid"])
    with pytest.raises(kp.DeviceNotFoundError, match="no Vulkan device with index 1"):
        kp.Manager(1)


def test_digits_are_an_index_for_the_manager_as_in_the_variable(monkeypatch, first):
    monkeypatch.setenv("KP_VISIBLE_DEVICES", "0,0")
    with kp.Manager(" 1 ") as mgr:
        assert mgr.get_device_properties()["index"] == 1
