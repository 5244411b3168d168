"""The worker's HTTP endpoints (Faust's web server).

==================  =====================================================================
``/metrics``        Prometheus exposition (no auth: scraped by Prometheus)
``/healthz``        200 while the process and its event loop answer
``/readyz``         200 when partitions are assigned and table recovery is done, else 503
``/leads/{id}``     one lead explained; forwarded to the worker holding it; 404 if unknown
``/accounts/{id}``  one account: engagement, contacts; forwarded like ``/leads``; 404 if unknown
``/funnel``         leads per stage and grade over all workers (``?scope=local``: this one)
``/reports/funnel`` conversion, time between stages and cost per lead, from the lead states
==================  =====================================================================

``/leads``, ``/accounts``, ``/funnel`` and ``/reports`` require ``Authorization: Bearer <web.api_token>`` unless the settings
say ``web.auth: none``.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from urllib.parse import quote
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import TYPE_CHECKING, Any

from aiohttp import ClientTimeout
from faust.web import View

from leadstream.exceptions import ConfigError
from leadstream.core import report
from leadstream.core.explain import score_timeline, timeline_matches, trigger_types, why
from leadstream.core.model import ModelSet
from leadstream.core.state import LeadState
from leadstream.schemas.fields import window_bound
from leadstream.streams.encoding.codecs import (ERASED_PREFIX, decode_account, decode_state,
                                                 shadow_key)
from leadstream.streams.lane import upstream
from leadstream.streams.lane.upstream import committed_offsets
from leadstream.streams.services.funnel import decode_counts, merge_counts, stats_key
from leadstream.streams.encoding.mappers import account_to_api, lead_to_api
from leadstream.streams.ops.desk import register_desk
from leadstream.streams.ops.http_ingest import register_ingest
from leadstream.streams.ops.metrics import StateCollector
from leadstream.streams.ops.readiness import is_ready

if TYPE_CHECKING:
    from leadstream.streams.pipeline import Pipeline

__all__ = ["register_views"]

# aiohttp refuses a charset inside content_type; the exposition format is UTF-8 by definition
_METRICS_CONTENT_TYPE = "text/plain; version=0.0.4"
_FAN_OUT_TIMEOUT_S = 5.0

Handler = Callable[..., Awaitable[Any]]


def register_views(pipeline: Pipeline) -> None:
    app = pipeline.app
    web = pipeline.settings.web
    if web.auth == "none":
        secret = None
    elif web.api_token is None:  # load_settings refuses this for a worker; never serve it open
        raise ConfigError("settings", "web.api_token", "web.auth is 'token' but no token is set")
    else:
        secret = web.api_token.get_secret_value().encode()

    def requires_token(handler: Handler) -> Handler:
        @wraps(handler)
        async def checked(view: View, request: Any, *args: Any, **kwargs: Any) -> Any:
            if secret is not None:
                header = request.headers.get("Authorization", "")
                given = header[7:].encode() if header.startswith("Bearer ") else b""
                if not hmac.compare_digest(given, secret):
                    return view.json({"error": "unauthorized",
                                      "detail": "send 'Authorization: Bearer <web.api_token>'"},
                                     status=401, headers={"WWW-Authenticate": "Bearer"})
            return await handler(view, request, *args, **kwargs)

        return checked

    register_ingest(pipeline, requires_token)
    register_desk(pipeline)

    def local_partitions() -> list[int]:
        topic = pipeline.leads.changelog_topic.get_topic_name()
        return sorted(tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic)

    def local_counts() -> dict[str, dict[str, int]]:
        return merge_counts([decode_counts(pipeline.stats.get(stats_key(p)))
                             for p in local_partitions()])

    pipeline.metrics.add_state_collector(StateCollector(
        lag=lambda: consumer_lag(pipeline),
        leads=lambda: _split(local_counts()),
        ready=lambda: is_ready(app),
        recovering=lambda: bool(app.in_recovery),
        assigned=lambda: len(local_partitions()),
    ))

    @app.page("/metrics")
    async def metrics_view(web: Any, request: Any) -> Any:
        return web.bytes(pipeline.metrics.render(), content_type=_METRICS_CONTENT_TYPE)

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        return web.json({"status": "alive"})

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        ready = is_ready(app)
        return web.json(
            {"ready": ready, "recovering": bool(app.in_recovery),
             "rebalancing": bool(app.rebalancing), "partitions": local_partitions()},
            status=200 if ready else 503,
        )

    async def account_summary(account_id: str, request: Any) -> dict[str, Any] | None:
        """The lead's account as its worker has it (this one or another): ``None`` when the
        account has not heard from the lead yet or its worker does not answer."""
        key = account_id.encode()
        me = str(app.conf.canonical_url).rstrip("/")
        try:
            host = str(app.router.key_store(pipeline.accounts.name, key)).rstrip("/")
        except Exception:  # no assignment yet (a rebalance)
            return None
        if host == me:
            raw = pipeline.accounts.get(key)
            found = account_to_api(decode_account(raw), pipeline.models) if raw else None
        else:
            headers = {k: v for k, v in request.headers.items() if k.lower() == "authorization"}
            try:
                async with app.http_client.get(
                        f"{host}/accounts/{quote(account_id, safe='')}", headers=headers,
                        timeout=ClientTimeout(total=_FAN_OUT_TIMEOUT_S)) as response:
                    found = await response.json() if response.status == 200 else None
            except (OSError, asyncio.TimeoutError, ValueError):
                found = None
        if not found:
            return None
        return {name: found[name] for name in ("account_id", "as_of", "engagement", "engaged",
                                               "engaged_contacts", "best_grade")}

    @app.page("/leads/{lead_id}")
    class LeadView(View):
        @requires_token
        @app.table_route(table=pipeline.leads, match_info="lead_id")
        async def get(self, request: Any, lead_id: str) -> Any:
            raw = pipeline.leads.get(lead_id.encode())
            if raw is None:
                return _not_found(self, "lead_id", lead_id, "no lead with this id (ids: see "
                                  "README, 'Lead ids')")
            state = decode_state(raw)
            body = lead_to_api(state, pipeline.models)
            if request.query.get("explain") and "stage" in body:
                body["explain"] = _explain(state, pipeline.models, body)
            if body.get("account_id"):
                body["account"] = await account_summary(body["account_id"], request)
            if pipeline.shadow is not None and "stage" in body:
                body["shadow"] = _shadow_views(pipeline, lead_id)
            return self.json(body)

    @app.page("/accounts/{account_id}")
    class AccountView(View):
        @requires_token
        @app.table_route(table=pipeline.accounts, match_info="account_id")
        async def get(self, request: Any, account_id: str) -> Any:
            raw = pipeline.accounts.get(account_id.encode())
            if raw is None:
                return _not_found(self, "account_id", account_id,
                                  "no account with this id (README, 'Accounts')")
            return self.json(account_to_api(decode_account(raw), pipeline.models))

    @app.page("/reports/funnel")
    class FunnelReportView(View):
        @requires_token
        async def get(self, request: Any) -> Any:
            try:
                by, since, until = _report_query(request.query)
            except ValueError as exc:
                return self.json({"error": "bad_request", "detail": str(exc)}, status=400)
            partitions = local_partitions()
            mine = {"partials": _local_report(pipeline, partitions, by, since, until),
                    "partitions": partitions}
            if request.query.get("scope") == "local":
                return self.json(mine)
            parts = [mine, *await _ask_other_workers(pipeline, request, "/reports/funnel")]
            return self.json({
                **report.finish(report.merge_partials(part.get("partials", {}) for part in parts),
                                by, pipeline.costs, report.month_window(since, until)),
                "since": request.query.get("since"), "until": request.query.get("until"),
                **_coverage(pipeline, parts),
            })

    @app.page("/funnel")
    class FunnelView(View):
        @requires_token
        async def get(self, request: Any) -> Any:
            mine = {"counts": local_counts(), "partitions": local_partitions()}
            if request.query.get("scope") == "local":
                return self.json(mine)
            parts = [mine, *await _ask_other_workers(pipeline, request)]
            return self.json({**merge_counts([part.get("counts", {}) for part in parts]),
                              **_coverage(pipeline, parts)})


def _explain(state: LeadState, models: ModelSet, body: dict[str, Any]) -> dict[str, Any]:
    """``?explain=1`` (the lead desk): the score over time by rule, and the why-line."""
    primary = models.primary
    end = max(time.time(), state.last_event_at or 0.0)
    timeline = score_timeline(state, primary, end=end)
    return {
        "why": why(state, primary, grade=body.get("grade"), score=body.get("score"),
                   trigger_types=trigger_types(state)),
        "timeline": [{"at": p.at, "points": {r: round(v, 3) for r, v in p.points.items()}}
                     for p in timeline],
        "explained": timeline_matches(state, primary, state.last_event_at or end),
    }


def _shadow_views(pipeline: Pipeline, lead_id: str) -> dict[str, dict[str, Any]]:
    """Each shadow model's view of the lead (its stage, score, grade): the shadow table is
    partitioned as the lead table, so the worker that holds the lead holds these too."""
    assert pipeline.shadow is not None
    out: dict[str, dict[str, Any]] = {}
    for models in pipeline.shadows:
        model = models.primary
        raw = pipeline.shadow.get(shadow_key(model.name, lead_id.encode()))
        if raw is None:
            continue  # not seen since the shadow was configured
        view = lead_to_api(decode_state(raw), models)
        out[model.name] = {"version": model.version, "stage": view.get("stage"),
                           "score": view.get("score"), "grade": view.get("grade"),
                           "matrix": view.get("matrix")}
    return out


def _coverage(pipeline: Pipeline, parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Which workers and partitions answered a fanned-out query (``complete``: all of them)."""
    covered = sorted({p for part in parts for p in part.get("partitions", [])})
    return {"workers": len(parts), "partitions": covered,
            "complete": len(covered) == pipeline.settings.topics.partitions}


def _not_found(view: View, name: str, value: str, detail: str) -> Any:
    return view.json({"error": "not_found", name: value, "detail": detail}, status=404)


def _report_query(query: Any) -> tuple[str | None, float | None, float | None]:
    """``by``, ``since`` and ``until`` of a report request; ``ValueError`` says what is wrong."""
    by = query.get("by") or None
    if by is not None and by not in report.GROUPINGS:
        raise ValueError(f"by must be one of {', '.join(report.GROUPINGS)}")
    bounds = []
    for name in ("since", "until"):
        text = query.get(name)
        if not text:
            bounds.append(None)
            continue
        try:
            bounds.append(window_bound(text))
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    return by, bounds[0], bounds[1]


def _local_report(pipeline: Pipeline, partitions: list[int], by: str | None,
                  since: float | None, until: float | None) -> dict[str, Any]:
    """Partials over every lead in this worker's partitions: read from the lead table itself."""
    partials: dict[str, dict[str, Any]] = {}
    for partition in partitions:
        for key, raw in upstream.partition_db(pipeline.leads, partition).items():
            if key.startswith(ERASED_PREFIX) or key == upstream.OFFSET_KEY:
                continue
            row = report.row_of(decode_state(raw), pipeline.models)
            if row is None or (since is not None and row.created_at < since) \
                    or (until is not None and row.created_at >= until):
                continue
            report.add_row(partials, row, by)
    return partials


def _split(counts: dict[str, dict[str, int]]) -> tuple[dict[str, int], dict[str, int]]:
    return counts["stages"], counts["grades"]


def consumer_lag(pipeline: Pipeline) -> dict[tuple[str, int], int]:
    """Highwater minus committed offset for every input partition this worker consumes."""
    consumer = pipeline.app.consumer
    committed = committed_offsets(consumer)
    inputs = {*pipeline.settings.topics.touchpoints, pipeline.settings.topics.feedback,
              pipeline.settings.topics.commands,
              pipeline.lead_messages.get_topic_name(),
              pipeline.account_messages.get_topic_name()}  # not changelogs, not Faust's own topics
    out: dict[tuple[str, int], int] = {}
    for tp in consumer.assignment():
        if tp.topic not in inputs:
            continue
        try:
            high = consumer.highwater(tp)
        except Exception:  # no fetch for this partition yet: unknown, not zero
            continue
        if high is None:
            continue
        done = committed.get(tp) or 0
        out[(tp.topic, tp.partition)] = max(0, int(high) - int(done))
    return out


async def _ask_other_workers(pipeline: Pipeline, request: Any,
                             path: str = "/funnel") -> list[dict[str, Any]]:
    app = pipeline.app
    me = str(app.conf.canonical_url).rstrip("/")
    hosts = [str(url).rstrip("/") for url in app.router.table_metadata(pipeline.leads.name)]
    headers = {k: v for k, v in request.headers.items() if k.lower() == "authorization"}

    async def ask(host: str) -> dict[str, Any]:
        query = {**request.query, "scope": "local"}
        async with app.http_client.get(f"{host}{path}", params=query, headers=headers,
                                       timeout=ClientTimeout(total=_FAN_OUT_TIMEOUT_S)) as response:
            response.raise_for_status()
            answer: dict[str, Any] = await response.json()
            return answer

    others = [h for h in hosts if h != me]
    answers = await asyncio.gather(*(ask(h) for h in others), return_exceptions=True)
    # a worker that does not answer leaves its partitions out: "complete" says so
    return [a for a in answers if isinstance(a, dict)]
