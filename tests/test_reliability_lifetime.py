"""Destruction order: random programs of creating managers (in either memory mode), tensors,
algorithms and sequences, recording, evaluating (sync and async), destroying, deleting references,
collecting garbage and destroying managers. Each case runs in its own process
(``reliability_worker.py``) and ends with the interpreter's exit: no step may
crash or cause a validation message, each answers what this model of kp
expects (objects used after they or their manager are gone raise
``kp.DestroyedError``), and the process exits with code 0 and a silent stderr."""

import json
import os
import select
import subprocess
import sys

from hypothesis import settings, strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, multiple, precondition, rule

from conftest import MEMORY_MODES, TESTS, child_env, examples, stacks_then_kill

WORKER = os.path.join(TESTS, "reliability_worker.py")

EXAMPLES = 60
STEPS = 30
ANSWER_S = 60  # a step or the exit taking longer is a hang


class Model:
    """What kp should do with one object: its manager, whether it was destroyed,
    and for tensors the value every element holds."""

    def __init__(self, manager=None, **state):
        self.manager = manager
        self.destroyed = False
        self.__dict__.update(state)

    @property
    def dead(self) -> bool:
        return self.destroyed or (self.manager is not None and self.manager.destroyed)


class Lifetimes(RuleBasedStateMachine):
    managers = Bundle("managers")
    tensors = Bundle("tensors")
    algorithms = Bundle("algorithms")
    sequences = Bundle("sequences")

    def __init__(self):
        super().__init__()
        env = child_env(KP_VALIDATION="1")
        self.worker = subprocess.Popen([sys.executable, WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
        self.models: dict[str, Model] = {}  # by the name the worker knows the object by
        self.count = 0

    def stuck(self, where):
        """Fail with the stuck worker's Python stacks (it dumps them on SIGUSR1) and end it."""
        _, stderr = stacks_then_kill(self.worker)
        raise AssertionError(f"the worker did not answer within {ANSWER_S} s {where}; its threads:\n{stderr}")

    def step(self, expected_error, command, *args):
        """Run ``command`` in the worker and check its answer against the model."""
        self.worker.stdin.write(json.dumps([command, *args]) + "\n")
        self.worker.stdin.flush()
        if not select.select([self.worker.stdout], [], [], ANSWER_S)[0]:
            self.stuck(f"at {command}{args}")
        line = self.worker.stdout.readline()
        assert line, f"the worker died at {command}{args}: exit code {self.worker.wait()}, " \
                     f"stderr:\n{self.worker.stderr.read()}"
        reply = json.loads(line)
        assert "unexpected" not in reply, reply["unexpected"]
        assert not reply["messages"], reply["messages"]
        assert reply.get("error") == expected_error, (command, args, reply)
        return reply.get("ok")

    def new(self, prefix: str, model: Model) -> str:
        self.count += 1
        name = f"{prefix}{self.count}"
        self.models[name] = model
        return name

    def create(self, prefix, manager, model, command, *args):
        """A new object named after ``prefix``, or none if its manager is gone."""
        if manager is not None and manager.dead:
            self.step("DestroyedError", command, f"{prefix}-refused", *args)
            return multiple()
        name = self.new(prefix, model)
        self.step(None, command, name, *args)
        return name

    # -- creating --------------------------------------------------------------------
    @precondition(lambda self: sum(isinstance(m, Model) and m.manager is None for m in self.models.values()) < 3)
    @rule(target=managers, mode=st.sampled_from(MEMORY_MODES))
    def new_manager(self, mode):
        return self.create("m", None, Model(), "manager", mode)

    @rule(target=tensors, manager=managers, value=st.integers(-100, 100),
          kind=st.sampled_from(["device", "host", "deviceAndHost"]))
    def new_tensor(self, manager, value, kind):
        model = self.models[manager]
        return self.create("t", model, Model(model, value=float(value)), "tensor", manager, value, kind)

    @rule(target=algorithms, tensor=tensors)
    def new_algorithm(self, tensor):
        t = self.models[tensor]
        if t.dead:
            self.step("DestroyedError", "algorithm", "a-refused", self.manager_name(t.manager), tensor)
            return multiple()
        return self.create("a", t.manager, Model(t.manager, tensor=t), "algorithm", self.manager_name(t.manager),
                           tensor)

    @rule(target=sequences, manager=managers)
    def new_sequence(self, manager):
        model = self.models[manager]
        return self.create("s", model, Model(model, algorithms=[], synced=[], recording=False, running=False),
                           "sequence", manager)

    def manager_name(self, manager: Model) -> str:
        # the worker may have dropped the manager's name while its objects keep it
        # alive; a tensor's algorithm is then made through a name kept for it
        for name, model in self.models.items():
            if model is manager:
                return name
        raise AssertionError("managers whose name was deleted are not drawn")

    # -- recording and evaluating ----------------------------------------------------
    @rule(sequence=sequences, algorithm=algorithms)
    def record(self, sequence, algorithm):
        s, a = self.models[sequence], self.models[algorithm]
        if s.dead:
            return self.step("DestroyedError", "record", sequence, algorithm)
        if s.running:
            return self.step("SequenceStateError", "record", sequence, algorithm)
        if a.tensor.dead:
            return self.step("DestroyedError", "record", sequence, algorithm)
        if a.manager is not s.manager:
            return self.step("InvalidArgumentError", "record", sequence, algorithm)
        if not s.recording:  # the first record after an evaluation starts a new command buffer
            s.algorithms, s.synced, s.recording = [], [], True
        s.synced.append(a.tensor)  # OpSyncDevice is recorded before the dispatch is checked
        if a.destroyed:
            return self.step("DestroyedError", "record", sequence, algorithm)
        s.algorithms.append(a)
        self.step(None, "record", sequence, algorithm)

    def evaluate(self, command, sequence):
        s = self.models[sequence]
        if s.dead:
            return self.step("DestroyedError", command, sequence)
        if s.running:
            return self.step("SequenceStateError", command, sequence)
        s.recording = False
        if any(t.dead for t in s.synced) or any(a.dead for a in s.algorithms):
            return self.step("DestroyedError", command, sequence)
        self.step(None, command, sequence)
        for a in s.algorithms:
            a.tensor.value += 1
        s.running = command == "eval_async" and bool(s.synced)

    @rule(sequence=sequences)
    def eval(self, sequence):
        self.evaluate("eval", sequence)

    @rule(sequence=sequences)
    def eval_async(self, sequence):
        self.evaluate("eval_async", sequence)

    @rule(sequence=sequences)
    def eval_await(self, sequence):
        self.step(None, "eval_await", sequence)
        self.models[sequence].running = False

    @rule(tensor=tensors)
    def read(self, tensor):
        t = self.models[tensor]
        if t.dead:
            return self.step("DestroyedError", "read", tensor)
        value = self.step(None, "read", tensor)
        in_flight = any(m.running and t in m.synced for m in self.models.values() if hasattr(m, "running"))
        if not in_flight:
            assert value == t.value, (tensor, value, t.value)

    # -- ending ----------------------------------------------------------------------
    def destroy(self, name):
        model = self.models[name]
        self.step(None, "destroy", name)
        model.destroyed = True
        if hasattr(model, "running"):
            model.running = False
        if model.manager is None:  # a manager destroys everything it made
            for other in self.models.values():
                if other.manager is model and hasattr(other, "running"):
                    other.running = False

    @rule(name=st.one_of(managers, tensors, algorithms, sequences))
    def destroy_any(self, name):
        self.destroy(name)

    @rule(name=st.one_of(consumes(tensors), consumes(algorithms), consumes(sequences)))
    def delete(self, name):
        self.step(None, "del", name)
        del self.models[name]  # a sequence is collected at once, waiting for its work

    @rule(name=consumes(managers))
    def delete_manager(self, name):
        if any(m.manager is self.models[name] for m in self.models.values()):
            return  # its objects would need its name (see manager_name); keep it
        self.step(None, "del", name)
        del self.models[name]

    @rule()
    def collect(self):
        self.step(None, "gc")

    def teardown(self):
        # the interpreter exits with whatever is alive, async work included
        self.worker.stdin.close()
        try:
            code = self.worker.wait(timeout=ANSWER_S)
        except subprocess.TimeoutExpired:
            self.stuck("to exit")
        stderr = self.worker.stderr.read()
        self.worker.stdout.close()
        self.worker.stderr.close()
        assert code == 0 and stderr == "", f"exit code {code}, stderr:\n{stderr}"


Lifetimes.TestCase.settings = settings(max_examples=examples(EXAMPLES), stateful_step_count=STEPS, deadline=None)
test_lifetimes = Lifetimes.TestCase
