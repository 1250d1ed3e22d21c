"""The process a lifetime state-machine case runs in (tests/test_reliability_lifetime.py).

Reads one JSON command per line from stdin, runs it on real kp objects kept by
name, and answers one JSON line: ``{"ok": value}``, ``{"error": "KpErrorClass"}``
or ``{"unexpected": traceback}``, with the validation messages the step caused.
At the end of stdin it simply exits, with whatever is still alive.
"""

import faulthandler
import gc
import json
import os
import signal
import sys
import traceback

import kp

INCREMENT_GLSL = """
#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer A { float a[]; };
void main() { a[gl_GlobalInvocationID.x] += 1.0; }
"""


def main() -> None:
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # the test asks where a stuck worker is
    kp.log_level(4)  # errors, validation errors among them, reach stderr
    spirv = kp.shader.compile_source(INCREMENT_GLSL)
    objects: dict = {}

    def manager(mode):
        os.environ["KP_DISABLE_UMA"] = "1" if mode == "staging" else "0"
        return kp.Manager()

    def record(seq, algorithm):
        tensor = algorithm.get_tensors()[0]
        seq.record(kp.OpSyncDevice([tensor]))
        seq.record(kp.OpAlgoDispatch(algorithm))
        seq.record(kp.OpSyncLocal([tensor]))

    commands = {
        "manager": lambda name, mode: objects.__setitem__(name, manager(mode)),
        "tensor": lambda name, mgr, value, kind: objects.__setitem__(
            name, objects[mgr].tensor([value] * 4, kp.MemoryTypes[kind])),
        "algorithm": lambda name, mgr, tensor: objects.__setitem__(
            name, objects[mgr].algorithm([objects[tensor]], spirv)),
        "sequence": lambda name, mgr: objects.__setitem__(name, objects[mgr].sequence()),
        "record": lambda seq, algorithm: record(objects[seq], objects[algorithm]),
        "eval": lambda seq: objects[seq].eval(),
        "eval_async": lambda seq: objects[seq].eval_async(),
        "eval_await": lambda seq: objects[seq].eval_await(),
        "destroy": lambda name: objects[name].destroy(),
        "del": lambda name: objects.pop(name),
        "gc": gc.collect,
        "read": lambda tensor: float(objects[tensor].data()[0]),
    }
    for line in sys.stdin:
        command, *args = json.loads(line)
        try:
            value = commands[command](*args)
            reply = {"ok": value if isinstance(value, float) else None}
        except kp.KomputeError as exc:
            reply = {"error": type(exc).__name__}
        except Exception:  # noqa: BLE001 - anything but a kp error is a finding
            reply = {"unexpected": traceback.format_exc()}
        reply["messages"] = kp.vk.take_validation_messages()
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
