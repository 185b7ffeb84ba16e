"""Plain-Python oracle of the User journeys page: each non-bot session's steps (its event names in
time order, repeats in a row counted once: acquisition.Session.steps, the first 12, and
step_count), the paths they make and the step-to-step transitions the Sankey draws."""

from __future__ import annotations

from collections import Counter
from datetime import date

from tests.support.overview import human_sessions


def session_steps(data, first: date, last: date) -> dict[str, tuple[list[str], int]]:
    """session id -> (its first steps, how many it has), for the non-bot sessions that started in
    [first, last]."""
    return {s["session_id"]: (s["steps"], s["step_count"]) for s in human_sessions(data, first, last)}


def paths(data, first: date, last: date, p_steps: int) -> Counter:
    """path -> sessions: a session's first p_steps steps joined by " → ", and " → …" after them
    when it has more."""
    return Counter(" → ".join(steps[:p_steps]) + (" → …" if count > p_steps else "")
                   for steps, count in session_steps(data, first, last).values())


def transitions(data, first: date, last: date, max_steps: int = 5) -> Counter:
    """(step, from event, to event) -> sessions: at step i a session goes on to its step i + 1,
    or to "(exit)" when it ended there; one longer than max_steps stops at step max_steps."""
    out: Counter = Counter()
    for steps, count in session_steps(data, first, last).values():
        for i in range(1, min(count, max_steps) + 1):
            if i < max_steps or count == i:
                out[(i, steps[i - 1], steps[i] if i < count else "(exit)")] += 1
    return out
