"""robots.txt rules through protego (the stdlib parser has no wildcard support, rag.md §1)."""

from __future__ import annotations

from dataclasses import dataclass, field

from protego import Protego

from storelink.rag.fetch import USER_AGENT

__all__ = ["RobotsRules"]


@dataclass(slots=True)
class RobotsRules:
    """What robots.txt allows our user agent. No robots.txt (or an unreadable one) allows all."""

    text: str = ""
    user_agent: str = USER_AGENT
    _parser: Protego | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, text: str, *, user_agent: str = USER_AGENT) -> RobotsRules:
        return cls(text=text, user_agent=user_agent, _parser=Protego.parse(text))

    @classmethod
    def allow_all(cls) -> RobotsRules:
        return cls()

    def allowed(self, url: str) -> bool:
        return True if self._parser is None else bool(self._parser.can_fetch(url, self.user_agent))

    @property
    def crawl_delay_s(self) -> float | None:
        if self._parser is None:
            return None
        delay = self._parser.crawl_delay(self.user_agent)
        return float(delay) if delay is not None else None

    @property
    def sitemaps(self) -> list[str]:
        return [] if self._parser is None else list(self._parser.sitemaps)
