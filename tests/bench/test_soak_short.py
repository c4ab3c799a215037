"""A short soak (400 URLs, about a minute): the same background job and watcher as
`python -m bench.soak`, so the script cannot rot, and the job's health checks that do not need
ten minutes: every URL terminal, the job done, its log readable, fds and threads flat."""
from __future__ import annotations

import pytest

from bench import soak

pytestmark = pytest.mark.slow


def test_short_soak_every_url_terminal_and_resources_flat() -> None:
    result = soak.run(400, warmup=8.0, interval=1.0)
    checks = result["checks"]
    assert checks["every_url_terminal"], result["by_status"]
    assert checks["job_done"], result["job"]
    assert checks["logs_readable"], result["logs_end"]
    assert checks["fds_flat"], result["fds_after_warmup"]
    assert checks["threads_flat"], result["threads_after_warmup"]
    assert set(result["by_reason"]) <= {"stored", "timeout", "connection_error", "http_500", "http_502",
                                        "http_503", "truncated"}
