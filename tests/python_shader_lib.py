"""Helper functions that kernels in the tests call through their module
(``python_shader_lib.scaled(x)``), as users call their own libraries."""


def scaled(x, k=2.0):
    return x * k


def clamped_scaled(x):
    return min(scaled(x), 5.0)
