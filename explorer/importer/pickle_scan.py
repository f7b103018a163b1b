"""The tensor storages a PyTorch pickle declares, read without unpickling anything.

`torch.load` allocates every storage a checkpoint's pickle declares (``('storage', type, key,
location, numel, ...)`` persistent ids) before it reads the bytes behind it, so a few bytes of
pickle can ask for terabytes. This module walks the pickle's opcodes with
`pickletools.genops`, which only parses (it executes nothing and imports nothing), keeps a
small model of the pickle stack and memo, and returns each declared storage with its size in
bytes, so the caller can compare what is declared with what the file holds before torch sees it.
"""
from __future__ import annotations

import io
import pickletools
from dataclasses import dataclass

MAX_OPCODES = 1_000_000  # a state dict of resnet152 (~1000 tensors) takes ~40,000

# bytes an element of each storage type torch writes (``torch.FloatStorage`` ...)
ELEMENT_BYTES = {
    "DoubleStorage": 8, "FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2, "LongStorage": 8, "IntStorage": 4,
    "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1, "BoolStorage": 1, "ComplexDoubleStorage": 16,
    "ComplexFloatStorage": 8, "QInt8Storage": 1, "QUInt8Storage": 1, "QInt32Storage": 4, "QUInt4x2Storage": 1,
    "QUInt2x4Storage": 1, "UntypedStorage": 1,
}
UNKNOWN_ELEMENT_BYTES = 16  # the widest dtype: an unknown storage type is counted at its largest


class PickleScanError(ValueError):
    """The bytes are not a pickle this scanner can follow; the message says why."""


@dataclass(frozen=True)
class Storage:
    key: str  # the storage's key (a record name in a zip, an id in the legacy format)
    nbytes: int  # declared elements x element size


_MARK = object()
_UNKNOWN = object()
_VALUE_OPS = {"BININT", "BININT1", "BININT2", "INT", "LONG", "LONG1", "LONG4", "BINUNICODE", "SHORT_BINUNICODE",
              "BINUNICODE8", "UNICODE", "STRING", "BINSTRING", "SHORT_BINSTRING", "BINFLOAT", "FLOAT"}
_CONSTANTS = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False, "EMPTY_TUPLE": ()}


def _pop_to_mark(stack: list) -> list:
    for i in range(len(stack) - 1, -1, -1):
        if stack[i] is _MARK:
            items = stack[i + 1:]
            del stack[i:]
            return items
    raise PickleScanError("the pickle closes a group it never opened")


def _pop(stack: list, n: int) -> list:
    if n > len(stack) or any(x is _MARK for x in stack[len(stack) - n:]):
        raise PickleScanError("the pickle takes more items than it pushed")
    items = stack[len(stack) - n:] if n else []
    del stack[len(stack) - n:]
    return items


def _storage(pid) -> Storage | None:
    """A ``('storage', type, key, location, numel[, view])`` persistent id, or None for anything else."""
    if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"):
        return None
    kind, key, numel = pid[1], pid[2], pid[4]
    if not (isinstance(numel, int) and not isinstance(numel, bool) and numel >= 0 and isinstance(key, str)):
        raise PickleScanError("a storage is declared with a size that is not a count")
    name = kind[1].rsplit(" ", 1)[-1] if isinstance(kind, tuple) and kind and kind[0] == "global" else ""
    return Storage(key, numel * ELEMENT_BYTES.get(name, UNKNOWN_ELEMENT_BYTES))


def scan_pickle(f: io.BytesIO) -> list[Storage]:
    """The storages declared by the one pickle that starts at ``f``'s position (left after its STOP)."""
    stack: list = []
    memo: dict = {}
    found: list[Storage] = []
    try:
        for count, (op, arg, _) in enumerate(pickletools.genops(f)):
            if count > MAX_OPCODES:
                raise PickleScanError(f"the pickle has more than {MAX_OPCODES:,} instructions")
            name = op.name
            if name == "MARK":
                stack.append(_MARK)
            elif name in _VALUE_OPS:
                stack.append(arg)
            elif name in _CONSTANTS:
                stack.append(_CONSTANTS[name])
            elif name == "GLOBAL":
                stack.append(("global", arg))
            elif name == "STACK_GLOBAL":
                mod, qual = _pop(stack, 2)
                stack.append(("global", f"{mod} {qual}"))
            elif name in ("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"):
                if not stack:
                    raise PickleScanError("the pickle memoises an empty stack")
                memo[len(memo) if name == "MEMOIZE" else arg] = stack[-1]
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                stack.append(memo.get(arg, _UNKNOWN))
            elif name == "TUPLE":
                stack.append(tuple(_pop_to_mark(stack)))
            elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
                stack.append(tuple(_pop(stack, int(name[-1]))))
            elif name in ("BINPERSID", "PERSID"):
                pid = _pop(stack, 1)[0] if name == "BINPERSID" else arg
                s = _storage(pid)
                if s is not None:
                    found.append(s)
                stack.append(_UNKNOWN)
            elif name == "STOP":
                break
            else:  # any other opcode: only its effect on the stack matters here
                before = op.stack_before
                if pickletools.markobject in before:
                    _pop_to_mark(stack)
                    _pop(stack, before.index(pickletools.markobject))
                else:
                    _pop(stack, len(before))
                stack.extend([_UNKNOWN] * len(op.stack_after))
        else:
            raise PickleScanError("the pickle ends without its STOP instruction")
    except PickleScanError:
        raise
    except (ValueError, EOFError, TypeError, IndexError, KeyError, OverflowError, UnicodeDecodeError) as e:
        raise PickleScanError(f"the pickle is malformed ({type(e).__name__})") from None
    return found
