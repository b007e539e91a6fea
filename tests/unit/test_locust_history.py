"""Reading Locust's JSONL history back: cut-off lines, whole-client sampling, ids in time order."""

from __future__ import annotations

import json
from pathlib import Path

from authchaos.run.locust_history import read_history, read_rows, sample_clients


def _row(client: int, start: int, op: str = "me", **extra: object) -> dict[str, object]:
    ids = {"token_id": f"t{client}", "family": f"f{client}"}
    return {
        "client": client,
        "op": op,
        "start_ns": start,
        "end_ns": start + 5,
        "outcome": "ok",
        "status": 200,
        "degraded": False,
        "retry_after": None,
        **ids,
        **extra,
    }


def _write(folder: Path, worker: int, rows: list[dict[str, object]], tail: str = "") -> None:
    lines = [json.dumps({**r, "worker": worker}) for r in rows]
    (folder / f"history-{worker}.jsonl").write_text("\n".join(lines) + "\n" + tail)


def test_rows_from_every_worker_in_time_order_with_fields_kept(tmp_path: Path) -> None:
    _write(tmp_path, 11, [_row(1, 300), _row(1, 100, "refresh", new_token_id="n1", revoked_ids=["x"])])
    _write(tmp_path, 22, [_row(2, 200, "login", probe="revoked")], tail='{"client": 2, "op": "me", "sta')
    history, info = read_history(tmp_path, t0_ns=50)
    assert [(o.id, o.client, o.start_ns) for o in history.ops] == [(0, 1, 100), (1, 2, 200), (2, 1, 300)]
    first = history.ops[0]
    assert (first.op, first.new_token_id, first.revoked_ids, first.family) == ("refresh", "n1", ["x"], "f1")
    assert history.ops[1].probe == "revoked"
    assert info == {"requests": 3, "checked": 3, "sampled": False, "per_worker": {"11": 2, "22": 1}}


def test_rows_that_are_not_history_rows_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "history-1.jsonl").write_text('[1, 2]\n{"op": "me"}\nnot json\n' + json.dumps(_row(3, 1)) + "\n")
    assert [r["client"] for r in read_rows(tmp_path)] == [3]


def test_sampling_keeps_whole_clients() -> None:
    rows = [_row(c, c * 1000 + i) for c in range(20) for i in range(10)]
    sample = sample_clients(rows, limit=50)
    kept = {r["client"] for r in sample}
    assert 0 < len(sample) <= 50
    assert all(sum(r["client"] == c for r in sample) == 10 for c in kept), "a sampled client keeps every row"
    assert sample_clients(rows, limit=50) == sample, "the sample is reproducible"
    assert sample_clients(rows, limit=1000) == rows
