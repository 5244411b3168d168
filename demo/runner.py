"""``leadstream run``: embedded broker + one worker + demo traffic, progress, then a summary."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import signal
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from leadstream.broker import EmbeddedBroker
from leadstream.config import load_settings
from leadstream.connector.runner import ConnectorRun, run_connector
from leadstream.connector.store import Store, Verdict
from leadstream.demo.observe import by_label, counter_total, scrape
from leadstream.demo.crm import SimulatedSales
from leadstream.demo.traffic import TrafficGenerator
from leadstream.demo.worker_process import WorkerProcess
from leadstream.exceptions import LeadstreamError

__all__ = ["DemoOptions", "long_run_note", "run_demo"]

_TOUCHPOINTS = "touchpoints"
_HANDOVER = "lead-handover"
_DLQ = "touchpoints-dlq"
_NURTURE = "lead-nurture"
_SHADOW = "lead-handover-shadow"
_FEEDBACK = "lead-feedback"
# Tansu answers a fetch empty once finding its offset takes longer than the fetch wait (100 ms):
# ~150,000 batches ahead of it in the partition (benchmarks/README.md, broker_hop.py --scan)
_TANSU_READABLE_BATCHES = 150_000
_PARTITIONS = 8
_TRAFFIC_SPAN = timedelta(days=30)  # event time the demo's traffic spans, ending now


@dataclass
class DemoOptions:
    duration: float = 30.0
    leads: int = 300
    rate: float = 150.0
    seed: int = 7
    workdir: Path | None = None
    model_path: Path | None = None
    shadow_path: Path | None = None  # a candidate model run as a shadow beside the primary
    keep: bool = False  # traffic until Ctrl-C instead of for duration seconds


@dataclass
class _Seen:
    produced: Counter[str] = field(default_factory=Counter)
    verdicts: Counter[str] = field(default_factory=Counter)
    handovers: list[dict[str, Any]] = field(default_factory=list)
    dlq: list[dict[str, Any]] = field(default_factory=list)
    nurture: list[dict[str, Any]] = field(default_factory=list)
    shadow: list[dict[str, Any]] = field(default_factory=list)


def _say(text: str = "") -> None:
    print(text, flush=True)


def long_run_note(options: DemoOptions) -> str | None:
    """A warning when the run would write enough batches to approach what the embedded broker can
    still read; at the demo's rates and 5 ms linger, each touchpoint is about one batch."""
    if options.keep:
        hours = _TANSU_READABLE_BATCHES / 2 * _PARTITIONS / options.rate / 3600
        return (f"  note: at {options.rate:g} touchpoints/s the embedded broker serves about "
                f"{hours:.1f} hours of traffic before its input partitions read slowly "
                "(README, \"The embedded broker\"); stop with Ctrl-C well before")
    per_partition = options.duration * options.rate / _PARTITIONS
    if per_partition < _TANSU_READABLE_BATCHES / 2:
        return None
    return (f"  note: this run puts ~{per_partition:,.0f} batches in each input partition; the "
            f"embedded broker returns nothing from a partition past ~{_TANSU_READABLE_BATCHES:,} "
            "batches (README, \"The embedded broker\"): use a real Kafka for long runs")


def run_demo(options: DemoOptions) -> int:
    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="leadstream-run-"))
    workdir.mkdir(parents=True, exist_ok=True)
    _say(f"leadstream run — work dir {workdir}")
    if note := long_run_note(options):
        _say(note)
    broker = EmbeddedBroker(log_path=workdir / "broker.log")
    worker: WorkerProcess | None = None
    try:
        broker.start()
        _say(f"  embedded Tansu broker on {broker.bootstrap_servers} (pid {broker.pid})")
        extra = {"LEADSTREAM__MODEL_PATH": str(options.model_path)} if options.model_path else {}
        if options.shadow_path:
            extra["LEADSTREAM__SHADOW_MODEL_PATHS"] = json.dumps([str(options.shadow_path)])
            _say(f"  shadow model: {options.shadow_path} (its transitions go to {_SHADOW} only)")
        # the API is authenticated here as in production: a fresh token, handed over as a file
        token_file = workdir / "api-token"
        token_file.write_text(secrets.token_urlsafe(24) + "\n")
        token_file.chmod(0o600)
        extra["LEADSTREAM__WEB__API_TOKEN_FILE"] = str(token_file)
        # what the demo's campaigns cost, for the funnel report's cost per lead
        costs_file = workdir / "campaign-costs.csv"
        costs_file.write_text(TrafficGenerator.costs_csv(_months(_TRAFFIC_SPAN)))
        extra["LEADSTREAM__REPORTS__COSTS_PATH"] = str(costs_file)
        # the broker is new and empty, so the state dir must be too (README, "The embedded broker": memory only)
        state_dir = Path(tempfile.mkdtemp(prefix="state-", dir=workdir))
        worker = WorkerProcess(
            bootstrap_servers=broker.bootstrap_servers,
            state_dir=state_dir,
            log_path=workdir / "worker.log",
            extra_env=extra,
            new_session=True,  # Ctrl-C reaches only us; we stop the worker in order
        ).start()
        _say(f"  worker pid {worker.pid}, HTTP on {worker.base_url}: /metrics /healthz /readyz "
             "/leads/{id} /accounts/{id} /funnel /reports/funnel")
        _say("  all but /metrics, /healthz and /readyz want 'Authorization: Bearer <token>'; "
             f"the token is in {token_file}; campaign costs: {costs_file}")
        worker.wait_ready(timeout=90)
        _say(f"  lead desk: {worker.base_url}/ui (sign in with the token in {token_file})")
        _say("  worker ready; sending demo traffic "
             + ("until Ctrl-C" if options.keep else "(Ctrl-C to stop early)"))
        return asyncio.run(_drive(options, broker.bootstrap_servers, worker, workdir))
    except LeadstreamError as exc:
        _say(f"leadstream run failed: {exc}")
        return 1
    finally:
        if worker is not None:
            code = worker.stop()
            _say(f"  worker stopped (exit code {code})")
        broker.stop()
        _say("  broker stopped")


async def _drive(options: DemoOptions, bootstrap: str, worker: WorkerProcess, workdir: Path) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    seen = _Seen()
    collector = asyncio.create_task(_collect(bootstrap, seen))
    # the reference CRM connector keeps the CRM's tables (SQLite here); the simulated sales team
    # clicks its accept/reject buttons: rows in crm_verdicts, which the connector sends
    database = f"sqlite://{workdir / 'connector.db'}"
    crm = Store.open(database)
    crm.migrate()
    connector_stop = asyncio.Event()
    stored = ConnectorRun()
    connector = asyncio.create_task(run_connector(
        load_settings(environ={"LEADSTREAM__KAFKA__BOOTSTRAP_SERVERS": bootstrap,
                               "LEADSTREAM__KAFKA__FLAVOUR": "tansu",
                               "LEADSTREAM__KAFKA__FETCH_MAX_WAIT_MS": "100",
                               "LEADSTREAM__CONNECTOR__VERDICTS_INTERVAL_S": "0.3"},
                      serves_web=False),
        crm, stop=connector_stop, run=stored))
    _say(f"  CRM connector: lead-handover → {database} (crm_verdicts → {_FEEDBACK})")
    # its warnings (a verdict row it refuses) are counted in the summary instead
    logging.getLogger("leadstream.connector").setLevel(logging.ERROR)
    sales_desk = Store.open(database)
    sales = asyncio.create_task(_simulate_sales(sales_desk, seen, SimulatedSales(options.seed)))
    total = max(int(options.duration * options.rate), 1)
    traffic = TrafficGenerator(people=options.leads, seed=options.seed, total=total,
                               span=_TRAFFIC_SPAN)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    started = time.monotonic()
    next_report = started + 2.0
    try:
        sent = 0
        while (sent < total or options.keep) and not stop.is_set():
            if sent == total:  # --keep: the history is in; from now on event time is wall time
                traffic.retime(datetime.now(tz=UTC), timedelta(seconds=1 / options.rate))
            record = next(traffic)
            await producer.send(_TOUCHPOINTS, record.value, key=record.key)
            seen.produced[record.kind] += 1
            sent += 1
            # pace to the wanted rate
            ahead = sent / options.rate - (time.monotonic() - started)
            if ahead > 0:
                await asyncio.sleep(ahead)
            if time.monotonic() >= next_report:
                next_report += 2.0
                _progress(worker, seen, time.monotonic() - started)
            if not worker.alive:
                raise LeadstreamError(f"the worker died; see {worker.log_path}")
        await producer.flush()
    finally:
        await producer.stop()
    interrupted = stop.is_set()
    _say("  traffic done; waiting for the worker to account for every record …"
         if not interrupted else "  interrupted; draining what was sent …")
    accounted = await _drain(worker, sum(seen.produced.values()), timeout=60.0)
    await asyncio.sleep(3.0)  # let sales answer the last handovers, and the worker apply that
    sales.cancel()
    await asyncio.sleep(1.0)  # the connector's last verdicts, and the handovers they cause
    collector.cancel()
    run = await _stop_connector(connector, connector_stop, stored, len(seen.handovers))
    try:
        stages = _summary(worker, seen, workdir, accounted, time.monotonic() - started)
        _show_connector(crm, database, run, stages)
        _say(f"logs: {workdir / 'worker.log'}, {workdir / 'broker.log'}")
    finally:
        crm.close()
        sales_desk.close()
    return 0 if accounted else 1


async def _stop_connector(task: asyncio.Task[ConnectorRun], stop: asyncio.Event,
                          stored: ConnectorRun, handovers: int) -> ConnectorRun | None:
    """Stop the connector once it has stored every handover record the demo saw."""
    deadline = time.monotonic() + 15
    while not task.done() and time.monotonic() < deadline:
        if stored.records >= handovers:
            break
        await asyncio.sleep(0.2)
    stop.set()
    try:
        return await asyncio.wait_for(task, timeout=15)
    except Exception as exc:  # the summary says so; the demo's own numbers still stand
        _say(f"  CRM connector failed: {type(exc).__name__}: {exc}")
        return None


async def _simulate_sales(desk: Store, seen: _Seen, sales: SimulatedSales) -> None:
    """Answer handover events as sales would, with the CRM's buttons: rows in crm_verdicts."""
    done = 0
    while True:
        pending, done = seen.handovers[done:], len(seen.handovers)
        for event in pending:
            answer = sales.answer(event)
            if answer is not None:
                await asyncio.to_thread(desk.add_verdict, Verdict(
                    answer["feedback_id"], answer["lead_id"], answer["verdict"],
                    datetime.fromisoformat(answer["occurred_at"]), answer.get("reason"),
                    answer.get("owner"), answer.get("amount"), answer.get("bant")))
                seen.verdicts[answer["verdict"]] += 1
        await asyncio.sleep(0.2)


async def _collect(bootstrap: str, seen: _Seen) -> None:
    consumer = AIOKafkaConsumer(
        _HANDOVER, _DLQ, _NURTURE, _SHADOW, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
        group_id=None, fetch_max_wait_ms=100,
    )
    await consumer.start()
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=500)
            for tp, messages in batches.items():
                target = {_HANDOVER: seen.handovers, _NURTURE: seen.nurture,
                          _SHADOW: seen.shadow}.get(tp.topic, seen.dlq)
                target.extend(json.loads(m.value) for m in messages)
    finally:
        await consumer.stop()


def _accounted(samples: Any) -> int:
    """Input records the worker is done with: scored, duplicate or rejected at ingest (all three
    in leadstream_touchpoints_total, whose outcome "dlq" is the ingest DLQ: adding that DLQ's own
    counter again would count each rejected record twice) or too late for their lead."""
    handled = counter_total(samples, "leadstream_touchpoints_total")
    too_late = counter_total(samples, "leadstream_dlq_records_total", stage="leads", reason="too_late")
    return int(handled + too_late)


async def _drain(worker: WorkerProcess, produced: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if _accounted(await asyncio.to_thread(scrape, worker.metrics_url)) >= produced:
                return True
        except OSError:
            pass
        await asyncio.sleep(0.5)
    return False


def _progress(worker: WorkerProcess, seen: _Seen, elapsed: float) -> None:
    try:
        samples = scrape(worker.metrics_url)
    except OSError:
        return
    produced = sum(seen.produced.values())
    scored = counter_total(samples, "leadstream_touchpoints_total", outcome="scored")
    dlq = counter_total(samples, "leadstream_dlq_records_total", stage="ingest")
    stages = Counter(h.get("to_stage") for h in seen.handovers)
    _say(f"  [{elapsed:5.1f}s] produced {produced:6d} | scored {int(scored):6d} | "
         f"DLQ {int(dlq):4d} | handover records {len(seen.handovers):5d} "
         f"(mgl {stages['mgl']}, mql {stages['mql']})")


def _summary(worker: WorkerProcess, seen: _Seen, workdir: Path, complete: bool,
             elapsed: float) -> Counter[str]:
    """Print what happened; return leads per stage as the handover topic tells them."""
    samples = scrape(worker.metrics_url)
    produced = sum(seen.produced.values())
    outcomes = by_label(samples, "leadstream_touchpoints_total", "outcome")
    dlq_kinds = by_label(
        {"x": {k: v for k, v in samples.get("leadstream_dlq_records_total", {}).items()
               if ("stage", "ingest") in k}}, "x", "reason")
    refused = sum(v for k, v in samples.get("leadstream_dlq_records_total", {}).items()
                  if ("stage", "ingest") not in k)
    latest: dict[str, dict[str, Any]] = {}
    engaged = list({e["engagement_id"]: e for e in seen.handovers
                    if e.get("kind") == "account_engaged"}.values())
    transitions = [e for e in seen.handovers
                   if e.get("kind") in ("stage_transition", "sla_breach", "lead_updated")]
    consent = Counter(f"{e['scope']} {e['status']}" for e in
                      {e["change_id"]: e for e in seen.handovers
                       if e.get("kind") == "consent_changed"}.values())
    seen.handovers = transitions
    for event in seen.handovers:  # a lead's current stage: its highest sequence
        if event["sequence"] > latest.get(event["lead_id"], {"sequence": 0})["sequence"]:
            latest[event["lead_id"]] = event
    stages = Counter(event["to_stage"] for event in latest.values())
    unique = {e["transition_id"]: e for e in seen.handovers}
    moves = Counter(f"{e['from_stage']}→{e['to_stage']}"
                    + (f" ({e['kind']})" if e["kind"] == "sla_breach" else
                       f" ({e['kind']}: {e['reason']})" if e["kind"] == "lead_updated" else "")
                    for e in unique.values())
    nurture = Counter(e["signal"] for e in {e["signal_id"]: e for e in seen.nurture}.values())
    _say()
    _say(f"== summary ({elapsed:.0f}s) " + "=" * 50)
    _say(f"touchpoints produced     {produced:7d}   (incl. {seen.produced['duplicate']} re-sent "
         f"duplicates, {produced - seen.produced['valid'] - seen.produced['duplicate']} "
         "malformed or bot traffic on purpose)")
    _say(f"  scored                 {outcomes['scored']:7d}")
    _say(f"  duplicates ignored     {outcomes['duplicate']:7d}")
    _say(f"  rejected to DLQ        {sum(dlq_kinds.values()):7d}   "
         + ", ".join(f"{k} {v}" for k, v in sorted(dlq_kinds.items())))
    identity = by_label(samples, "leadstream_identity_messages_total", "note")
    if identity:
        at_ingest = identity.get("forwarded_at_ingest", 0)
        _say(f"visitors linked to leads {identity['linked']:7d}   (their anonymous history now "
             f"counts for the lead); {identity['forwarded'] + at_ingest} touchpoints of a linked "
             f"cookie forwarded to the lead, {at_ingest} of them by ingest itself")
    if not complete:
        _say("  WARNING: the worker had not accounted for every record when the drain timed out")
    _say("leads per stage          " + ", ".join(f"{k} {v}" for k, v in sorted(stages.items()))
         + f"   ({len(latest)} leads handed over; anonymous visitors are not leads yet)")
    _say(f"CRM verdicts sent        {sum(seen.verdicts.values()):7d}   "
         + ", ".join(f"{k} {v}" for k, v in sorted(seen.verdicts.items())))
    if refused:
        _say(f"  verdicts refused       {int(refused):7d}   (in the DLQ with their reason)")
    _say(f"handover events          {len(unique):7d}   "
         + ", ".join(f"{k} {v}" for k, v in sorted(moves.items())))
    if consent:
        _say(f"consent events           {sum(consent.values()):7d}   "
             + ", ".join(f"{k} {v}" for k, v in sorted(consent.items()))
             + "   (consent_changed: the CRM folds them per lead and scope)")
    if nurture:
        _say(f"nurture signals          {sum(nurture.values()):7d}   "
             + ", ".join(f"{k} {v}" for k, v in sorted(nurture.items()))
             + "   (lead-nurture: for marketing automation's nurture tracks)")
    if engaged:
        best = max(engaged, key=lambda e: (e["engagement"], e["account_id"]))
        _say(f"accounts engaged         {len(engaged):7d}   (account_engaged, keyed by account); "
             f"e.g. {best['account_id']}: engagement {best['engagement']}, "
             f"{len(best['contacts'])} engaged contacts, best grade {best['best_grade']}, roles "
             + ", ".join(sorted({c['role'] for c in best['contacts'] if c.get('role')})[:4]))
        _say("example account_engaged (keyed by account on lead-handover):")
        _say(json.dumps({**best, "contacts": best["contacts"][:2]
                         + ([{"…": f"{len(best['contacts']) - 2} more"}]
                            if len(best["contacts"]) > 2 else [])}, ensure_ascii=False))
    if seen.shadow:
        _show_shadow(samples, unique, seen.shadow)
    republished = len(seen.handovers) - len(unique)
    if republished:
        _say(f"  re-published           {republished:7d}   (a re-sent trigger re-publishes its "
             "transition: same id, same content; consumers upsert)")
    examples = _examples(seen.handovers)
    if examples:
        _say("example handover events (as the CRM receives them):")
        for event in examples:
            _say(json.dumps(event, indent=2, ensure_ascii=False))
    if seen.dlq:
        sample = seen.dlq[0]
        _say(f"example DLQ record: kind={sample['kind']} reason={sample['reason']!r} "
             f"source={sample['source']['topic']}[{sample['source']['partition']}]"
             f"@{sample['source']['offset']}")
    _show_api(worker, latest, (workdir / "api-token").read_text().strip())
    return Counter(event["to_stage"] for event in latest.values())


def _show_connector(crm: Store, database: str, run: ConnectorRun | None,
                    topic_stages: Counter[str]) -> None:
    """What the CRM's own tables say, by SQL: they must tell what the topic tells."""
    stages = crm.leads_per_stage()
    _say(f"CRM connector tables     {sum(stages.values()):7d} leads   ({database}; "
         "SELECT stage, COUNT(*) FROM leads GROUP BY stage)")
    agree = ("the same as the topic's fold above" if stages == dict(topic_stages)
             else "NOT the topic's fold above: see the connector_rejects table")
    _say("  leads per stage        " + ", ".join(f"{k} {v}" for k, v in sorted(stages.items()))
         + f"   ({agree})")
    if run is not None:
        _say(f"  records stored {run.records}, unreadable {run.rejected}; verdicts sent from "
             f"crm_verdicts {run.verdicts_sent}, refused {run.verdicts_refused} (the row's "
             "error column says why, e.g. an event time more than a day ahead)")


def _show_shadow(samples: Any, primary: dict[str, dict[str, Any]],
                 shadow: list[dict[str, Any]]) -> None:
    """The shadow model beside the primary: MQLs each made, and the leads only one made MQL."""
    def mqls(events: Any) -> set[str]:
        return {e["lead_id"] for e in events
                if e.get("kind") == "stage_transition" and e["to_stage"] == "mql"}

    primary_mql, shadow_mql = mqls(primary.values()), mqls(shadow)
    names = sorted({name for e in shadow for name in e.get("scores", {})})
    counted = by_label(samples, "leadstream_shadow_transitions_total", "to_stage")
    _say(f"shadow model {', '.join(names)} (on {_SHADOW}, never to the CRM):")
    _say(f"  MQLs                   primary {len(primary_mql)}, shadow {len(shadow_mql)}   "
         f"(both {len(primary_mql & shadow_mql)}, only primary "
         f"{len(primary_mql - shadow_mql)}, only shadow {len(shadow_mql - primary_mql)}); "
         "leadstream_shadow_transitions_total: "
         + ", ".join(f"{k} {int(v)}" for k, v in sorted(counted.items())))


def _get_json(url: str, token: str) -> Any:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback
        return json.loads(response.read())


def _show_api(worker: WorkerProcess, latest: dict[str, dict[str, Any]], token: str) -> None:
    """What the worker's HTTP API answers, so the demo shows it working."""
    try:
        funnel = _get_json(f"{worker.base_url}/funnel", token)
        _say(f"GET /funnel              stages {funnel['stages']}, grades {funnel['grades']}")
        if latest:
            lead_id = max(latest, key=lambda k: (latest[k]["score"], k))
            lead = _get_json(f"{worker.base_url}/leads/{lead_id}", token)
            top = ", ".join(f"{c['rule']} {c['points']} ({c['count']}x)"
                            for c in lead["scores"][next(iter(lead["scores"]))]["contributions"][:4])
            _say(f"GET /leads/{lead_id}  stage {lead['stage']}, score {lead['score']}, "
                 f"grade {lead['grade']}, matrix {lead['matrix']}, owner "
                 f"{lead['routing'].get('owner')}; contributions: {top}")
            for name, view in (lead.get("shadow") or {}).items():
                _say(f"  shadow model {name} {view['version']}: stage {view['stage']}, score "
                     f"{view['score']}, grade {view['grade']}, matrix {view['matrix']}")
            if lead.get("aliases"):
                trail = ", ".join(f"{t['type']} {t['occurred_at'][5:16]}"
                                  for t in lead["recent_touchpoints"][:6])
                _say(f"  merged from {', '.join(lead['aliases'])}; history: {trail} …")
        _show_report(_get_json(f"{worker.base_url}/reports/funnel?by=source_type", token))
    except (OSError, ValueError, KeyError) as exc:
        _say(f"  (HTTP API not reachable: {type(exc).__name__})")


def _show_report(report: dict[str, Any]) -> None:
    currency = report.get("currency", "")
    _say(f"GET /reports/funnel?by=source_type   (conversion between funnel stages; cost per "
         f"lead, MQL and won deal in {currency})")
    _say(f"  {'source type':<12}{'leads':>6}{'MQLs':>6}{'won':>5}  {'lead→MQL':>8}{'MQL→SAL':>8}"
         f"{'SQL→won':>8}  {'h to MQL':>8}  {'cost':>9}{'CPL':>8}{'per MQL':>9}{'per won':>9}"
         f"{'revenue':>10}")

    def num(value: Any, digits: int = 0) -> str:
        return "-" if value is None else f"{value:,.{digits}f}"

    for name, group in report["groups"].items():
        reached, conversion = group["reached"], group["conversion"]
        _say(f"  {name:<12}{group['leads']:>6}{reached['mql']:>6}{reached['won']:>5}  "
             f"{num(conversion['mgl_to_mql'], 2):>8}{num(conversion['mql_to_sal'], 2):>8}"
             f"{num(conversion['sql_to_won'], 2):>8}  {num(group['median_hours']['mgl_to_mql'], 1):>8}  "
             f"{num(group.get('cost')):>9}{num(group.get('cost_per_lead')):>8}"
             f"{num(group.get('cost_per_mql')):>9}{num(group.get('cost_per_won')):>9}"
             f"{num(group.get('revenue')):>10}")


def _months(span: timedelta) -> list[str]:
    """The months (YYYY-MM) the demo's traffic falls in: it ends now and spans ``span``."""
    end = datetime.now(tz=UTC)
    months, at = [], (end - span).replace(day=1)
    while at <= end:
        months.append(at.strftime("%Y-%m"))
        at = at.replace(year=at.year + (at.month == 12), month=at.month % 12 + 1)
    return months


def _examples(handovers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One handover per reason code, the richest first."""
    chosen: dict[str, dict[str, Any]] = {}
    for event in handovers:
        best = chosen.get(event["reason"])
        if best is None or len(event["recent_touchpoints"]) > len(best["recent_touchpoints"]):
            chosen[event["reason"]] = event
    return [chosen[r] for r in sorted(chosen)][:3]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run_demo(DemoOptions()))
