"""Expected organic CTR by average position: an industry average, not this store's truth.

Positions 1–10 use Backlinko's 2023 study of Google organic click-through rates (Brian Dean,
"We Analyzed 4 Million Google Search Results. Here's What We Learned About Organic Click
Through Rate", backlinko.com/google-ctr-stats):

    1: 27.6 %  2: 15.8 %  3: 11.0 %  4: 8.4 %  5: 6.3 %  6: 4.9 %  7: 3.9 %  8: 3.3 %  9: 2.7 %  10: 2.4 %

Between whole positions we interpolate linearly (Search Console reports fractional averages).
Beyond 10 the study has no figures; we extrapolate ourselves with a 20 % drop per position
(11: 1.92 %, 12: 1.54 %, ...), a conservative guess for page two. Positions below 1 count as 1.
"""

from __future__ import annotations

import math

CURVE: tuple[float, ...] = (0.276, 0.158, 0.110, 0.084, 0.063, 0.049, 0.039, 0.033, 0.027, 0.024)
DECAY_BEYOND_10 = 0.8


def expected_ctr(position: float) -> float:
    """Expected CTR at an average position (see the module docstring for the source)."""
    p = max(1.0, position)
    if p >= 10:
        return float(CURVE[-1] * DECAY_BEYOND_10 ** (p - 10))
    low = math.floor(p)
    frac = p - low
    return CURVE[low - 1] + (CURVE[low] - CURVE[low - 1]) * frac
