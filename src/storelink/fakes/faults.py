"""FaultPlan: what a fake upstream does wrong, and when.

A plan has *rates* (each request independently draws a fault with these probabilities, from a
seeded generator, so runs repeat) and a *script* (an exact sequence consumed first, one entry
per request; ``ok`` lets a request through). Plans are set from code, from
``STORELINK_FAKE_FAULTS`` and at run time through a fake's admin route.

Spec grammar (``STORELINK_FAKE_FAULTS``)::

    spec    := entry (";" entry)*
    entry   := fake ":" item ("," item)*
    item    := fault "=" rate          e.g. 429=0.1, 500=0.05, stall=0.02
             | "seq=" fault ("|" fault)*   e.g. seq=429|500|ok
             | "retry_after=" seconds  | "stall_s=" seconds | "seed=" int

    storelink fakes serve generic  with  STORELINK_FAKE_FAULTS="generic:429=0.2,seq=500|500"
"""

from __future__ import annotations

import random
import threading
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from storelink.errors import ConfigurationError

__all__ = ["Fault", "FaultPlan", "parse_fault_spec"]


class Fault(StrEnum):
    OK = "ok"
    RATE_LIMITED = "429"
    SERVER_ERROR = "500"
    BAD_GATEWAY = "502"
    UNAVAILABLE = "503"
    GATEWAY_TIMEOUT = "504"
    STALL = "stall"  # accept the request, never answer (until stall_s)
    RESET = "reset"  # start the response, then drop the connection
    MALFORMED = "malformed"  # 200 with a JSON body that does not parse
    TRUNCATED = "truncated"  # Content-Length promises more than is sent
    EXPIRED_TOKEN = "401"  # noqa: S105  (a status code, not a password)


@dataclass
class FaultPlan:
    rates: dict[Fault, float] = field(default_factory=dict)
    script: deque[Fault] = field(default_factory=deque)
    retry_after_s: float = 1.0
    stall_s: float = 3600.0
    seed: int = 0
    injected: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Accept plain strings ("429", "stall") as well as Fault members.
        self.rates = {Fault(k): float(v) for k, v in self.rates.items()}
        self.script = deque(Fault(f) for f in self.script)
        total = sum(self.rates.values())
        if any(r < 0 for r in self.rates.values()) or total > 1.0:
            raise ConfigurationError(f"fault rates must be ≥ 0 and add up to ≤ 1 (got {total:g})")
        self._random = random.Random(self.seed)
        self._lock = threading.Lock()

    @classmethod
    def none(cls) -> FaultPlan:
        return cls()

    @classmethod
    def scripted(cls, *faults: Fault | str, **kwargs: Any) -> FaultPlan:
        return cls(script=deque(Fault(f) for f in faults), **kwargs)

    def next_fault(self) -> Fault:
        """The fault for the next request (``Fault.OK`` for none). Thread-safe."""
        with self._lock:
            if self.script:
                fault = self.script.popleft()
            else:
                fault = Fault.OK
                draw = self._random.random()
                for candidate, rate in self.rates.items():
                    if draw < rate:
                        fault = candidate
                        break
                    draw -= rate
            if fault is not Fault.OK:
                self.injected[fault.value] = self.injected.get(fault.value, 0) + 1
            return fault

    def to_json(self) -> dict[str, Any]:
        return {
            "rates": {k.value: v for k, v in self.rates.items()},
            "script": [f.value for f in self.script],
            "retry_after_s": self.retry_after_s,
            "stall_s": self.stall_s,
            "seed": self.seed,
            "injected": dict(self.injected),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultPlan:
        try:
            return cls(
                rates={Fault(k): float(v) for k, v in dict(data.get("rates", {})).items()},
                script=deque(Fault(f) for f in data.get("script", [])),
                retry_after_s=float(data.get("retry_after_s", 1.0)),
                stall_s=float(data.get("stall_s", 3600.0)),
                seed=int(data.get("seed", 0)),
            )
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"invalid fault plan: {exc}. Faults: {_FAULT_NAMES}") from exc


_FAULT_NAMES = ", ".join(f.value for f in Fault)


def parse_fault_spec(spec: str | None) -> dict[str, FaultPlan]:
    """Parse ``STORELINK_FAKE_FAULTS`` into one plan per fake name."""
    plans: dict[str, FaultPlan] = {}
    if not spec:
        return plans
    for entry in filter(None, (e.strip() for e in spec.split(";"))):
        name, sep, items = entry.partition(":")
        if not sep or not name.strip():
            raise ConfigurationError(f"STORELINK_FAKE_FAULTS entry {entry!r} must look like `fake:429=0.1`")
        data: dict[str, Any] = {"rates": {}, "script": []}
        for item in filter(None, (i.strip() for i in items.split(","))):
            key, eq, value = item.partition("=")
            if not eq:
                raise ConfigurationError(f"STORELINK_FAKE_FAULTS item {item!r} must look like `key=value`")
            if key == "seq":
                data["script"] = value.split("|")
            elif key in ("retry_after", "stall_s", "seed"):
                data["retry_after_s" if key == "retry_after" else key] = value
            else:
                data["rates"][key] = value
        plans[name.strip()] = FaultPlan.from_json(data)
    return plans
