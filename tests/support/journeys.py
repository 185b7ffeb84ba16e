"""Plain-Python oracle of the User journeys page over the known data's raw events
(tests/dashboard/known_data.py): each non-bot session's steps (its event names in time order,
repeats in a row counted once) and the step-to-step transitions the Sankey draws."""

from __future__ import annotations

from collections import Counter
from datetime import date

from tests.support.overview import human_sessions


def session_steps(data, first: date, last: date) -> dict[str, list[str]]:
    """session id -> its steps, for the non-bot sessions that started in [first, last]."""
    ids = {s["session_id"] for s in human_sessions(data, first, last)}
    events: dict[str, list[dict]] = {sid: [] for sid in ids}
    for e in data.events:
        if e["session_id"] in ids:
            events[e["session_id"]].append(e)
    steps = {}
    for sid, evs in events.items():
        evs.sort(key=lambda e: (e["event_timestamp"], e["event_id"]))
        names = [e["event_name"] for e in evs]
        steps[sid] = [n for i, n in enumerate(names) if i == 0 or n != names[i - 1]]
    return steps


def transitions(data, first: date, last: date, max_steps: int = 5) -> Counter:
    """(step, from event, to event) -> sessions: at step i a session goes on to its step i + 1,
    or to "(exit)" when it ended there; one longer than max_steps stops at step max_steps."""
    out: Counter = Counter()
    for steps in session_steps(data, first, last).values():
        for i in range(1, min(len(steps), max_steps) + 1):
            if i < max_steps or len(steps) == i:
                out[(i, steps[i - 1], steps[i] if i < len(steps) else "(exit)")] += 1
    return out
