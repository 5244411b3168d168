"""The account handler: carries out the plan of each account-messages batch (``plan.py``) through
the fetch's ``FetchCommit``, on the batch lane like the lead handler (one partition at a time)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from leadstream.agents.accounts.plan import plan_accounts
from leadstream.agents.dlq import log_unexpected
from leadstream.streams.encoding.mappers import engaged_to_handover
from leadstream.streams.lane import FetchCommit, InputRecord, Partition

if TYPE_CHECKING:
    from leadstream.streams.pipeline import Pipeline

__all__ = ["register_accounts"]

log = logging.getLogger(__name__)


def register_accounts(pipeline: Pipeline) -> None:
    models = pipeline.models
    metrics = pipeline.metrics
    handover = pipeline.handover.get_topic_name()
    dlq = pipeline.dlq.get_topic_name()

    async def accounts(tp: Partition, records: list[InputRecord], commit: FetchCommit) -> None:
        partition = tp.partition
        table = commit.table(pipeline.accounts)
        plan = plan_accounts(records, lambda key: table.get(partition, key), models,
                             handover=handover, dlq=dlq, to_event=engaged_to_handover)
        for record, error in plan.rejected:
            log_unexpected(log, "account handler", record, error)
            metrics.errors.labels(kind="account").inc()
            metrics.dlq_records.labels(stage="accounts", reason="internal_error").inc()
        if plan.engaged:
            metrics.account_engagements.inc(len(plan.engaged))
        for topic, key, value in plan.first:
            commit.first(topic, key, value)
        for key, value in plan.writes.items():
            table.set(partition, key, value)
        for topic, out_key, value in plan.outputs:
            commit.output(topic, out_key, value)

    pipeline.lane.subscribe(pipeline.app, pipeline.account_messages, accounts)
