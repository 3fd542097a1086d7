"""The answer of a pure function for the argument it was last given, kept for the next call.

A broadcast hands one message to every member's transport, and a Socket.IO event's
text is parsed by its transport and again by the codec: each time the same object,
one after the other. `LastAnswer` computes once per new argument object and answers
repeats from memory.

Invariant: the function depends on its argument alone, and the argument is not changed
after the call (strings and bytes), so the kept answer is the one a call would give.
The argument is held, so its identity cannot pass to another object while it is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

A = TypeVar("A")
R = TypeVar("R")


class LastAnswer(Generic[A, R]):
    """`function`'s answer for the object last passed to `of`.

    An object's attributes, not a class attribute of its user: assigning to a class
    attribute invalidates CPython's attribute caches for that class, and with a new
    argument for nearly every call, every attribute the user read went through the slow
    lookup (a transport's `send_nowait` was three times dearer in process).
    """

    __slots__ = ("_answer", "_argument", "_function")

    _answer: R

    def __init__(self, function: Callable[[A], R]) -> None:
        self._function = function
        # No argument at all to begin with: any argument, even an empty one, may be the first.
        self._argument: object = object()

    def of(self, argument: A) -> R:
        if self._argument is not argument:
            self._answer = self._function(argument)
            self._argument = argument
        return self._answer
