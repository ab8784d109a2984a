"""Fault injection for the emulator's requester API (docs/MTURK.md §1 retries, §7 item 9).

* ``throttle_rate``: fraction of calls answered ``400 ThrottlingException "Rate exceeded"``
  before anything happens (botocore's standard mode retries these);
* ``fault_after_commit_rate``: fraction of calls that take effect and are then answered
  ``fault_status`` (500 ``ServiceFault`` by default): the case ``UniqueRequestToken`` is for;
* ``delay_seconds``: sleep before handling each call;
* ``list_lag_seconds``: ListHITs omits HITs younger than this (eventual consistency);
* ``create_lag_seconds``: CreateAdditionalAssignmentsForHIT and DeleteHIT say the HIT does not
  exist while it is younger than this (Dallinger waits 15 s on the real service);
* ``operations``: limit the faults to these operation names (None = every operation);
* ``seed``: make the random draws reproducible.

``fail_next(op, kind, n)`` forces the next ``n`` calls of ``op`` to fail deterministically.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

FaultKind = Literal["throttle", "after_commit"]


@dataclass(frozen=True)
class FaultConfig:
    throttle_rate: float = 0.0
    fault_after_commit_rate: float = 0.0
    fault_status: int = 500
    delay_seconds: float = 0.0
    list_lag_seconds: float = 0.0
    create_lag_seconds: float = 0.0
    operations: frozenset[str] | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in ("throttle_rate", "fault_after_commit_rate"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {v}")
        if self.fault_status not in (500, 502, 503, 504):
            raise ValueError(f"fault_status must be 500/502/503/504, got {self.fault_status}")
        if min(self.delay_seconds, self.list_lag_seconds, self.create_lag_seconds) < 0:
            raise ValueError("delays must be >= 0")

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["operations"] = sorted(self.operations) if self.operations is not None else None
        return d


@dataclass(frozen=True)
class Decision:
    throttle: bool = False
    after_commit: bool = False
    delay: float = 0.0


@dataclass
class Faults:
    """Thread-safe fault switchboard; ``stats`` counts injected faults per kind."""

    config: FaultConfig = field(default_factory=FaultConfig)
    stats: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(self.config.seed)
        self._forced: dict[str, list[FaultKind]] = {}

    def set(self, **changes: Any) -> FaultConfig:
        """Change some knobs, e.g. ``faults.set(throttle_rate=0.3, seed=1)``."""
        if "operations" in changes and changes["operations"] is not None:
            changes["operations"] = frozenset(changes["operations"])
        with self._lock:
            self.config = replace(self.config, **changes)
            if "seed" in changes:
                self._rng = random.Random(self.config.seed)
            return self.config

    def clear(self) -> None:
        with self._lock:
            self.config = FaultConfig()
            self._forced.clear()

    def fail_next(self, operation: str, kind: FaultKind, n: int = 1) -> None:
        if kind not in ("throttle", "after_commit"):
            raise ValueError(f"unknown fault kind {kind!r}")
        with self._lock:
            self._forced.setdefault(operation, []).extend([kind] * n)

    def decide(self, operation: str) -> Decision:
        with self._lock:
            forced = self._forced.get(operation)
            if forced:
                kind = forced.pop(0)
                self.stats[kind] += 1
                return Decision(throttle=kind == "throttle", after_commit=kind == "after_commit")
            cfg = self.config
            if cfg.operations is not None and operation not in cfg.operations:
                return Decision()
            throttle = cfg.throttle_rate > 0 and self._rng.random() < cfg.throttle_rate
            after = (
                not throttle
                and cfg.fault_after_commit_rate > 0
                and self._rng.random() < cfg.fault_after_commit_rate
            )
            if throttle:
                self.stats["throttle"] += 1
            if after:
                self.stats["after_commit"] += 1
            return Decision(throttle=throttle, after_commit=after, delay=cfg.delay_seconds)
