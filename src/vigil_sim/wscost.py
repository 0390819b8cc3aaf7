"""What one WebSocket message costs the server to frame, with and without per-message compression.

    python -m vigil_sim.wscost

Frames the stream's own messages (a single position, and a batch of 30 as the whole map gets them
at 5,000 fixes/s over 10,000 people) with the `websockets` library's frame code, as uvicorn's server
protocol does, once plainly and once with permessage-deflate set up as uvicorn sets it up (window
bits 12, memLevel 5, context kept between messages). Positions are random within Seoul, so the
compression ratio is not flattered by repeated values. Prints CPU microseconds per message and the
bytes sent. Used for the compression decision in docs/benchmarks.md ("Stream fan-out").
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Frame, Opcode

from vigil.api.streams import batch_text, encode
from vigil.api.views import position_feature
from vigil.domain.model import Fix

BATCH = 30
MESSAGES = 3_000
ROUNDS = 3


def _feature(rng: random.Random) -> str:
    n = rng.randrange(10_000)
    at = datetime(2026, 12, 6, 9, rng.randrange(60), rng.randrange(60), rng.randrange(10**6), tzinfo=UTC)
    fix = Fix(
        f"ds-{n:06d}",
        at,
        rng.uniform(37.45, 37.65),
        rng.uniform(126.85, 127.15),
        rng.choice([5.0, 10.0, 25.0]),
        rng.choice([None, rng.uniform(0, 30)]),
        rng.choice([None, rng.uniform(0, 360)]),
    )
    return encode(position_feature(f"s-{n:06d}", "subject", fix))


def cost(texts: Sequence[str], deflate: bool) -> tuple[float, float]:
    """(CPU microseconds, bytes on the wire) per message, framed as a server frames them."""
    extensions = [PerMessageDeflate(False, False, 12, 12, {"memLevel": 5})] if deflate else []
    sent = 0
    began = time.process_time()
    for _ in range(ROUNDS):
        for text in texts:
            sent += len(Frame(Opcode.TEXT, text.encode()).serialize(mask=False, extensions=extensions))
    spent = time.process_time() - began
    n = ROUNDS * len(texts)
    return spent / n * 1e6, sent / n


def main() -> int:
    rng = random.Random(7)
    single = ['{"type":"position","feature":' + _feature(rng) + "}" for _ in range(MESSAGES)]
    batches = [batch_text(_feature(rng) for _ in range(BATCH)) for _ in range(MESSAGES // 10)]
    for name, texts in (("one position", single), (f"batch of {BATCH}", batches)):
        for deflate in (False, True):
            us, size = cost(texts, deflate)
            print(
                f"{name:14} deflate {'on ' if deflate else 'off'}  {us:7.1f} us/message  {size:7.0f} bytes/message"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
