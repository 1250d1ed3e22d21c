"""The seed's "Kompute Operation Capabilities" example: several named sequences.

As written except for one line: the seed records ``add_shader`` into the sequence
named SQ_MULT without defining it; it is the multiplication shader here
(``add_shader = mult_shader``), which is what SQ_MULT's name says. Each of the ten
iterations computes t3 = t1 * t2, then t1 = t3 + t2 on the device.
"""

from kp import Manager

# We'll assume we have the shader data available
from my_spv_shader_data import mult_shader, sum_shader

add_shader = mult_shader  # not defined in the seed (see the docstring)

mgr = Manager()

t1 = mgr.build_tensor([2,2,2])
t2 = mgr.build_tensor([1,2,3])
t3 = mgr.build_tensor([1,2,3])

# Create multiple separate sequences
sq_mult = mgr.create_sequence("SQ_MULT")
sq_sum = mgr.create_sequence("SQ_SUM")
sq_sync = mgr.create_sequence("SQ_SYNC")

# Initialize sq_mult
sq_mult.begin()
sq_mult.record_algo_data([t1, t2, t3], add_shader)
sq_mult.end()

sq_sum.begin()
sq_sum.record_algo_data([t3, t2, t1], sum_shader)
sq_sum.end()

sq_sync.begin()
sq_sync.record_tensor_sync_local([t1, t3])
sq_sync.end()

# Run multiple iterations
for i in range(10):
    sq_mult.eval()
    sq_sum.eval()

sq_sync.eval()

print(t1.data(), t2.data(), t3.data())
