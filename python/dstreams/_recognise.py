"""Which Python functions the engine may run natively.

The engine runs a recognised function natively, without calling Python: `lambda a, b: a + b`
and `operator.add` (and `-`), `lambda line: line.split(" ")`, `lambda w: (w, 1)`,
`lambda x: x[1]`, `lambda kv: kv[1] != 0`, and the summing update function
`sum(new_values) + (last_sum or 0)`, each only where its inputs are what the native code
handles (word counts: `str` keys, `int` counts), so recognition never changes a result.

A function is recognised when its code object is the same as a reference function compiled by
this interpreter at import time (so CPython 3.9-3.13 bytecode differences do not matter), it has
no closure, defaults or keyword defaults, and every constant has the reference's type and value
(`True == 1` and `1.0 == 1`, so values alone are not enough). Anything else runs in Python.
"""
import builtins
import operator
import types

_FLAG_MASK = 0x1 | 0x2 | 0x4 | 0x8 | 0x20 | 0x80 | 0x100 | 0x200
# CO_OPTIMIZED, NEWLOCALS, VARARGS, VARKEYWORDS, GENERATOR, COROUTINE, ITERABLE_COROUTINE,
# ASYNC_GENERATOR. CO_NESTED (0x10, a lambda inside a function) and CO_NOFREE are ignored.

_SUM = builtins.sum


def _consts(code):
    return tuple((type(c), repr(c)) for c in code.co_consts)


def _shape(code):
    return (
        code.co_code,
        _consts(code),
        code.co_names,
        code.co_argcount,
        code.co_posonlyargcount,
        code.co_kwonlyargcount,
        code.co_nlocals,
        code.co_flags & _FLAG_MASK,
        code.co_freevars,
        code.co_cellvars,
    )


def _update_sum(new_values, last_sum):
    return sum(new_values) + (last_sum or 0)


# name -> the reference functions whose code a recognised function must have.
_REFERENCES = {
    "add": [lambda a, b: a + b],
    "sub": [lambda a, b: a - b],
    "split_space": [lambda line: line.split(" ")],
    "pair_one": [lambda w: (w, 1)],
    "second": [lambda x: x[1]],
    "nonzero_value": [lambda kv: kv[1] != 0, lambda kv: kv[1] > 0],
    "update_sum": [_update_sum, lambda new_values, last_sum: sum(new_values) + (last_sum or 0)],
}
_SHAPES = [(name, _shape(f.__code__)) for name, fs in _REFERENCES.items() for f in fs]
_GLOBALS_USED = {"update_sum": (("sum", _SUM),)}
_BY_IDENTITY = {id(operator.add): "add", id(operator.sub): "sub"}


def _builtins_of(f):
    b = getattr(f, "__builtins__", None)  # 3.10+
    if b is None:
        b = f.__globals__.get("__builtins__", builtins)
    return b if isinstance(b, dict) else vars(b)


def guard_holds(f, name):
    """Whether the globals `name` reads still resolve to the builtins it was recognised with.
    Checked again before every batch (they can be rebound at any time)."""
    for g, expected in _GLOBALS_USED.get(name, ()):
        if g in f.__globals__ or _builtins_of(f).get(g) is not expected:
            return False
    return True


def recognise(f):
    """The native name of `f` (a key of `_REFERENCES`), or None."""
    if id(f) in _BY_IDENTITY and f in (operator.add, operator.sub):
        return _BY_IDENTITY[id(f)]
    if type(f) is not types.FunctionType:
        return None
    if f.__closure__ is not None or f.__defaults__ is not None or f.__kwdefaults__:
        return None
    shape = _shape(f.__code__)
    for name, ref in _SHAPES:
        if shape == ref:
            return name if guard_holds(f, name) else None
    return None
