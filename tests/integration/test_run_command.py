"""README command 1: `leadstream run` works end to end and stops everything it started."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def _children_alive(text: str) -> list[int]:
    pids = [int(p) for p in re.findall(r"\(pid (\d+)\)|worker pid (\d+)", text) for p in p if p]
    alive = []
    for pid in pids:
        stat = Path(f"/proc/{pid}/stat")
        if stat.exists() and stat.read_text().split()[2] != "Z":
            alive.append(pid)
    return alive


def test_run_shows_progress_and_a_consistent_summary(tmp_path: Path) -> None:
    """``--keep`` runs until Ctrl-C: a terminal sends SIGINT to the whole process group, and the
    run still stops in order (the broker is in a session of its own), with its summary."""
    process = subprocess.Popen(
        [sys.executable, "-m", "leadstream", "run", "--keep", "--rate", "100", "--leads", "60",
         "--workdir", str(tmp_path), "--shadow"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    assert process.stdout is not None
    head = []
    for line in process.stdout:
        head.append(line)
        if "sending demo traffic until Ctrl-C" in line:
            break
    desk = re.search(r"lead desk: (http://127\.0\.0\.1:\d+)/ui \(sign in with the token in (\S+)\)",
                     "".join(head))
    assert desk, "".join(head)
    time.sleep(4)
    # the desk is up during the run, behind the token
    request = urllib.request.Request(f"{desk.group(1)}/ui", headers={
        "Authorization": f"Bearer {Path(desk.group(2)).read_text().strip()}"})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        assert response.status == 200 and b'id="stages"' in response.read()
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    rest, err = process.communicate(timeout=240)
    out = "".join(head) + rest
    assert process.returncode == 0, out + err
    assert "worker ready" in out
    assert re.search(r"\[\s*\d+\.\ds\] produced\s+\d+ \| scored", out)
    produced = int(re.search(r"touchpoints produced\s+(\d+)", out).group(1))  # type: ignore[union-attr]
    scored = int(re.search(r"  scored\s+(\d+)", out).group(1))  # type: ignore[union-attr]
    duplicates = int(re.search(r"duplicates ignored\s+(\d+)", out).group(1))  # type: ignore[union-attr]
    dlq = int(re.search(r"rejected to DLQ\s+(\d+)", out).group(1))  # type: ignore[union-attr]
    assert produced >= 300
    assert scored + duplicates + dlq == produced  # nothing lost
    assert dlq > 0 and duplicates > 0
    assert "leads per stage" in out and "mgl" in out
    assert '"transition_id"' in out  # example handover events are printed
    assert "WARNING" not in out
    # the packaged candidate ran as a shadow: its MQLs, counted apart from the primary's
    shadow = re.search(r"MQLs\s+primary (\d+), shadow (\d+)\s+\(both (\d+), only primary (\d+), "
                       r"only shadow (\d+)\); leadstream_shadow_transitions_total: (.*)", out)
    assert shadow, out
    primary, candidate, both, only_primary, only_shadow = map(int, shadow.groups()[:5])
    assert primary == both + only_primary and candidate == both + only_shadow
    assert primary > 0 and re.search(r"\bmgl [1-9]", shadow.group(6))
    # GET /leads/{id} shows the shadow's view of the lead beside the primary's
    assert re.search(r"  shadow model default 2-stricter: stage \w+, score [\d.]+, grade [A-D]", out)
    # the CRM connector's SQLite tables tell what the topic tells, and sales' verdict rows went out
    connector = re.search(r"CRM connector tables\s+(\d+) leads.*\n  leads per stage\s+(.*)\((.*)\)\n"
                          r"  records stored (\d+), unreadable 0; verdicts sent from crm_verdicts (\d+)",
                          out)
    assert connector, out
    assert int(connector.group(1)) > 0 and connector.group(3) == "the same as the topic's fold above"
    assert int(connector.group(5)) > 0
    assert "worker stopped (exit code 0)" in out and "broker stopped" in out
    assert _children_alive(out) == []
