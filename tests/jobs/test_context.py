"""What a streaming feature costs the database: its text is written a few times a second, not per token."""

from __future__ import annotations

import time
import uuid

from creditapp.jobs import context, records


def test_a_feature_asking_stopped_after_every_token_writes_at_most_every_flush_interval(monkeypatch):
    writes: list[str | None] = []
    reads: list[uuid.UUID] = []
    monkeypatch.setattr(records, "save_live", lambda job_id, text, *_: writes.append(text) or False)
    monkeypatch.setattr(records, "stop_requested", lambda job_id: reads.append(job_id) or False)
    ctx = context.Context({}, {}, job_id=uuid.uuid4())

    started = time.monotonic()
    for token in range(200):  # 200 tokens over about 0.4 s, each followed by the Stop question
        ctx.partial(f"t{token} ")
        assert ctx.stopped() is False
        time.sleep(0.002)
    elapsed = time.monotonic() - started
    ctx.flush()

    most = elapsed / context.FLUSH_SECONDS + 2  # one per interval, the first token's, and the last
    assert writes[0] == "t0 ", "the first token is shown at once"
    assert len(writes) <= most, f"{len(writes)} writes for 200 tokens in {elapsed:.2f}s"
    assert len(reads) <= elapsed / context.STOP_CHECK_SECONDS + 1
    assert writes[-1] == "".join(f"t{token} " for token in range(200))
