"""Arrival-time arithmetic for the streaming timing cases (sans-IO: lists of milliseconds in,
numbers out), so the judgement can be tested without a network or a clock.

A buffering gateway cannot be told from a streaming one by what it sends, only by when: the
events of a held stream arrive together at the end. The cases compare arrival times with the
pacing the scripted backend was asked for (``[[slow:MS]]``), always as ratios of that pacing
with generous margins, never as tight absolute times (see conformance/README.md, "Streaming
timing").
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


def max_gap(times_ms: Sequence[float]) -> float:
    """The longest silence between two consecutive arrivals (0 for fewer than two)."""
    return max((b - a for a, b in itertools.pairwise(times_ms)), default=0.0)


def span(times_ms: Sequence[float]) -> float:
    """Last arrival minus first arrival (0 for fewer than two)."""
    return times_ms[-1] - times_ms[0] if len(times_ms) >= 2 else 0.0


def bursts(times_ms: Sequence[float], join_ms: float) -> list[int]:
    """Sizes of the groups of arrivals in which each follows the previous by less than
    ``join_ms`` (what the client experiences as "arrived at once")."""
    sizes: list[int] = []
    previous: float | None = None
    for t in times_ms:
        if previous is not None and t - previous < join_ms:
            sizes[-1] += 1
        else:
            sizes.append(1)
        previous = t
    return sizes


@dataclass(frozen=True)
class StreamTiming:
    """What the report shows about one stream's arrival times (milliseconds since the request)."""

    events: int
    first_event_ms: float | None
    last_event_ms: float | None
    ttfb_ms: float | None  # first text (or tool-argument) delta
    deltas: int
    delta_span_ms: float
    delta_max_gap_ms: float
    delta_median_gap_ms: float | None
    event_span_ms: float

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "events": self.events,
            "first_event_ms": self.first_event_ms,
            "last_event_ms": self.last_event_ms,
            "ttfb_ms": self.ttfb_ms,
            "deltas": self.deltas,
            "delta_span_ms": round(self.delta_span_ms, 1),
            "delta_max_gap_ms": round(self.delta_max_gap_ms, 1),
            "delta_median_gap_ms": None
            if self.delta_median_gap_ms is None
            else round(self.delta_median_gap_ms, 1),
            "event_span_ms": round(self.event_span_ms, 1),
        }


def summarize(event_ms: Sequence[float], delta_ms: Sequence[float]) -> StreamTiming:
    """``event_ms``: arrival of every event; ``delta_ms``: arrival of the deltas among them."""
    gaps = [b - a for a, b in itertools.pairwise(delta_ms)]
    return StreamTiming(
        events=len(event_ms),
        first_event_ms=event_ms[0] if event_ms else None,
        last_event_ms=event_ms[-1] if event_ms else None,
        ttfb_ms=delta_ms[0] if delta_ms else None,
        deltas=len(delta_ms),
        delta_span_ms=span(delta_ms),
        delta_max_gap_ms=max_gap(delta_ms),
        delta_median_gap_ms=statistics.median(gaps) if gaps else None,
        event_span_ms=span(event_ms),
    )


def held_to_the_end(event_ms: Sequence[float], total_ms: float, *, within_ms: float, tail: float) -> bool:
    """True when every event arrived within ``within_ms`` of each other and that burst came in
    the last ``tail`` fraction of the exchange (``total_ms`` = request sent to end of body): the
    shape of a gateway that held the whole stream and sent it at the end."""
    if len(event_ms) < 2 or total_ms <= 0:
        return False
    return span(event_ms) <= within_ms and event_ms[0] >= (1.0 - tail) * total_ms
