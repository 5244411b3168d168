"""The ``leadstream`` command.

    leadstream run [--duration S] [--leads N] [--rate R]   embedded broker + worker + demo traffic
    leadstream worker [--config FILE]                      one worker against the configured Kafka
    leadstream broker [--port P]                           the embedded broker in the foreground
    leadstream connector [--database URL]                  handovers into SQL tables, verdicts back
    leadstream traffic [--rate R] [--duration S]           demo touchpoints to the configured Kafka
    leadstream config check [--config FILE]                the effective settings, secrets masked
    leadstream topics plan|create [--config FILE]          every topic with partitions and policies
    leadstream model validate FILE                         check a scoring model file
    leadstream model diff OLD NEW                          what a model change changes, rule by rule
    leadstream schemas export [DIR]                        write the JSON Schemas and AsyncAPI
    leadstream export --out FILE [--config FILE]           the input topics as one log file
    leadstream backtest --log FILE … --candidate MODEL …   replay a log through models, compare
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from leadstream.exceptions import ConfigError, LeadstreamError

if TYPE_CHECKING:
    from leadstream.config.settings import Settings
    from leadstream.config.worker_files import WorkerFiles
    from leadstream.core.model import ModelSet

__all__ = ["main"]


def _cmd_worker(args: argparse.Namespace) -> int:
    from leadstream.config import load_models, load_settings
    from leadstream.config.worker_files import load_worker_files

    settings = load_settings(args.config)
    models = load_models(settings.model_path, settings.extra_model_paths)
    # every other file it reads, now: a bad one stops it before it touches Kafka
    files = load_worker_files(settings, models)
    return run_worker(settings, models, files)


def run_worker(settings: Settings, model: ModelSet, files: WorkerFiles) -> int:
    import faust

    from leadstream.app import create_pipeline
    from leadstream.streams.prepare import prepare

    from leadstream.gc_tuning import tune_gc
    from leadstream.logs import JsonFormatter, logging_config

    level, fmt = settings.log.level, settings.log.format
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if fmt == "json":
        for handler in logging.root.handlers:
            handler.setFormatter(JsonFormatter())
    asyncio.run(prepare(settings))
    asyncio.set_event_loop(asyncio.new_event_loop())
    pipeline = create_pipeline(settings, model, files)
    gc_settings = settings.gc
    tune_gc(thresholds=gc_settings.thresholds, freeze=gc_settings.freeze_at_start)
    worker = faust.Worker(
        pipeline.app,
        loglevel=level,
        logging_config=logging_config(level, fmt),
        quiet=True,
        redirect_stdouts=False,
    )
    worker.execute_from_commandline()  # returns only via SystemExit
    return 0


def _cmd_broker(args: argparse.Namespace) -> int:
    import signal
    import threading

    from leadstream.broker import EmbeddedBroker

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with EmbeddedBroker(host=args.host, port=args.port) as broker:
        print(f"embedded Tansu broker on {broker.bootstrap_servers} (pid {broker.pid}); "
              "Ctrl-C stops it", flush=True)
        while not stop.wait(0.5):
            if not broker.running:
                print("broker exited", file=sys.stderr)
                return 1
    return 0


def _backtest_workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 <= value <= 64:  # (a process per part, numbered in a byte per record)
        raise argparse.ArgumentTypeError(f"{value} is not between 1 and 64 (0: one per CPU)")
    return value


def _cmd_connector(args: argparse.Namespace) -> int:
    import signal

    from leadstream.config import load_settings
    from leadstream.connector.dialects import describe_url
    from prometheus_client import start_http_server

    from leadstream.connector.runner import ConnectorMetrics, run_connector
    from leadstream.connector.store import Store
    from leadstream.logs import JsonFormatter

    settings = load_settings(args.config, serves_web=False)
    url = args.database or settings.connector.database.get_secret_value()
    logging.basicConfig(level=settings.log.level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if settings.log.format == "json":
        for handler in logging.root.handlers:
            handler.setFormatter(JsonFormatter())
    store = Store.open(url)
    try:
        applied = store.migrate()
        logging.getLogger("leadstream.connector").info(
            "database %s at schema version %d%s", describe_url(url), store.schema_version(),
            f" (applied now: {applied})" if applied else "")
        if args.migrate_only:
            return 0

        metrics = ConnectorMetrics()
        port = settings.connector.metrics_port
        if port is not None:
            start_http_server(port, addr=settings.web.host, registry=metrics.registry)
            logging.getLogger("leadstream.connector").info(
                "metrics on http://%s:%d/metrics", settings.web.host, port)

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await run_connector(settings, store, stop=stop, metrics=metrics)

        asyncio.run(main())
    finally:
        store.close()
    return 0


def _cmd_config_check(args: argparse.Namespace) -> int:
    import yaml

    from leadstream.config import load_settings
    from leadstream.config.environment import environment_values

    from leadstream.config import load_models
    from leadstream.config.worker_files import load_worker_files

    settings = load_settings(args.config)
    load_worker_files(settings, load_models(settings.model_path, settings.extra_model_paths))
    # mode="json" turns every SecretStr into '**********': no secret reaches the terminal
    print(yaml.safe_dump(settings.model_dump(mode="json"), sort_keys=False), end="")
    origins = sorted({origin for _, origin in environment_values(os.environ).values()})
    if origins:
        print("# from the environment: " + ", ".join(o.split("=")[0] for o in origins))
    print(f"# OK: {args.config or '(no file)'} and the environment make valid worker settings, "
          "and the model and cost files they name are valid")
    return 0


def _cmd_lead_show(args: argparse.Namespace) -> int:
    from leadstream.config import load_settings
    from leadstream.lead_show import fetch_lead, lead_id_for, render_lead
    from leadstream.streams.pipeline import canonical_url

    settings = load_settings(args.config, serves_web=False)
    token = settings.web.api_token.get_secret_value() if settings.web.api_token else None
    body = fetch_lead(args.url or canonical_url(settings), lead_id_for(args.lead_id, args.email),
                      token)
    print(json.dumps(body, indent=2, ensure_ascii=False) if args.json else render_lead(body))
    return 0


def _cmd_dlq(args: argparse.Namespace) -> int:
    from leadstream.config import load_settings
    from leadstream.schemas.fields import window_bound
    from leadstream.streams.ops.dlq_tools import read_dlq, redrive, select, summary

    settings = load_settings(args.config, serves_web=False)
    try:
        since = window_bound(args.since) if args.since else None
    except ValueError as exc:
        raise ConfigError("(command line)", "--since", str(exc)) from None
    records = select(asyncio.run(read_dlq(settings)), kind=args.kind, stage=args.stage,
                     since=since)
    if args.dlq_command == "show":
        print(summary(records))
        return 0
    done = asyncio.run(redrive(settings, records, dry_run=args.dry_run))
    verb = "would send" if args.dry_run else "sent"
    print(f"{verb} {sum(done.sent.values())} records back: "
          + (", ".join(f"{t} {n}" for t, n in sorted(done.sent.items())) or "none"))
    if done.skipped:
        print("not sent (not what a producer sent: internal records): "
              + ", ".join(f"{t} {n}" for t, n in sorted(done.skipped.items())))
    return 0


def _cmd_topics(args: argparse.Namespace) -> int:
    from leadstream.config import load_settings
    from leadstream.streams.prepare import ensure_topics, kafka_topics_commands, topic_plan

    settings = load_settings(args.config, serves_web=False)
    if args.topics_command == "plan":
        for spec, command in zip(topic_plan(settings), kafka_topics_commands(settings)):
            print(f"# {spec.name}: {spec.why}")
            print(command)
        return 0
    created = asyncio.run(ensure_topics(settings, [spec.name for spec in topic_plan(settings)]))
    print(f"created {len(created)} topic(s)" + (f": {', '.join(created)}" if created else
                                                 " (all existed)"))
    return 0


def _cmd_model_validate(args: argparse.Namespace) -> int:
    from leadstream.config import load_model

    model = load_model(args.file)
    print(f"{args.file}: OK — model {model.name!r} version {model.version!r}, "
          f"{len(model.rules)} behaviour rules")
    return 0


def _cmd_model_diff(args: argparse.Namespace) -> int:
    from leadstream.config import load_model
    from leadstream.core.model_diff import diff_models, render

    old, new = load_model(args.old), load_model(args.new)
    changes = diff_models(old, new)
    print(render(old, new, changes))
    return 1 if changes and args.exit_code else 0


def _when(text: str | None, name: str) -> float | None:
    from leadstream.schemas.fields import window_bound

    if not text:
        return None
    try:
        return window_bound(text)
    except ValueError as exc:
        raise ConfigError("command line", f"--{name}", str(exc)) from None


def _cmd_export(args: argparse.Namespace) -> int:
    from leadstream.backtest.export import export_inputs
    from leadstream.config import load_settings

    settings = load_settings(args.config, serves_web=False)
    count = asyncio.run(export_inputs(settings, Path(args.out)))
    print(f"exported {count:,} input records to {args.out}")
    return 0


def _cmd_backtest(args: argparse.Namespace) -> int:
    import json
    import tempfile

    from leadstream.backtest.compare import compare
    from leadstream.backtest.export import export_inputs
    from leadstream.backtest.partition import replay_log, terminal_progress
    from leadstream.backtest.render import render_html, render_text
    from leadstream.config import load_model, load_settings
    from leadstream.core.model import ModelSet

    settings = load_settings(args.config, serves_web=False)
    accounts = settings.accounts.rules()
    model_paths = [Path(args.model) if args.model else settings.model_path, *map(Path, args.candidate)]
    model_sets = [ModelSet(load_model(p), accounts=accounts) for p in model_paths]
    logs = [Path(p) for p in args.log]
    if args.kafka:
        scratch = Path(tempfile.mkdtemp(prefix="leadstream-backtest-")) / "inputs.jsonl.gz"
        count = asyncio.run(export_inputs(settings, scratch))
        print(f"read {count:,} input records from Kafka", file=sys.stderr)
        logs.append(scratch)
    if not logs:
        raise ConfigError("command line", "--log", "give one or more log files, or --kafka")
    workers = args.workers or max(1, os.cpu_count() or 1)
    result = replay_log(logs, model_sets, settings.hygiene, settings.max_message_bytes,
                        workers=workers, ticks=not args.no_ticks,
                        since=_when(args.since, "since"), until=_when(args.until, "until"),
                        on_progress=terminal_progress)
    report = compare(result.outcomes, result.verdicts)
    run = {"records": result.records, "applied": result.applied,
           "input_rejected": result.input_rejected, "outside_window": result.outside_window,
           "seconds": result.seconds, "workers": workers, "ticks": not args.no_ticks}
    print(render_text(report, run))
    if args.report:
        Path(args.report).write_text(render_html(report, run), encoding="utf-8")
        print(f"report: {args.report}")
    if args.json:
        Path(args.json).write_text(json.dumps({"run": run, **report}, indent=1), encoding="utf-8")
    return 0


def _cmd_schemas_export(args: argparse.Namespace) -> int:
    from leadstream import __version__
    from leadstream.schemas.asyncapi import ASYNCAPI_PATH, write_asyncapi
    from leadstream.schemas.export import SCHEMA_DIR, write_json_schemas

    for path in write_json_schemas(Path(args.dir) if args.dir else SCHEMA_DIR):
        print(path)
    # the AsyncAPI document refers to the JSON Schema files relative to itself
    if args.dir:
        print(write_asyncapi(__version__, Path(args.dir) / "asyncapi.yaml", json_dir="./"))
    else:
        print(write_asyncapi(__version__, ASYNCAPI_PATH))
    return 0


def _cmd_traffic(args: argparse.Namespace) -> int:
    from leadstream.config import load_models, load_settings
    from leadstream.demo.producer import send_traffic

    settings = load_settings(args.config, serves_web=False)
    if args.out:
        from leadstream.backtest.generate import generate_log
        from leadstream.core.model import ModelSet

        models = load_models(settings.model_path, settings.extra_model_paths)
        models = ModelSet(models.primary, models.others, accounts=settings.accounts.rules())
        counts = generate_log(args.out, models, people=args.leads, seed=args.seed,
                              touchpoints=args.touchpoints, days=args.days,
                              max_message_bytes=settings.max_message_bytes)
        print(f"wrote {counts['touchpoints']:,} touchpoints and {counts['feedback']:,} CRM "
              f"verdicts to {args.out}")
        return 0
    topic = args.topic or settings.topics.touchpoints[0]
    sent = asyncio.run(send_traffic(settings.kafka, topic, rate=args.rate, duration=args.duration,
                                    people=args.leads, seed=args.seed))
    print(f"done: {sum(sent.values())} records sent to {topic} ({dict(sent)})")
    return 0


_EXAMPLE = "(the packaged example)"


def _shadow_path(value: str | None) -> Path | None:
    if value is None:
        return None
    if value == _EXAMPLE:
        from leadstream.config.model_loader import EXAMPLE_CANDIDATE_PATH

        return EXAMPLE_CANDIDATE_PATH
    return Path(value)


def _cmd_run(args: argparse.Namespace) -> int:
    from leadstream.demo.runner import DemoOptions, run_demo

    return run_demo(
        DemoOptions(
            duration=args.duration,
            leads=args.leads,
            rate=args.rate,
            seed=args.seed,
            workdir=Path(args.workdir) if args.workdir else None,
            model_path=Path(args.model) if args.model else None,
            shadow_path=_shadow_path(args.shadow),
            keep=args.keep,
        )
    )


def _version() -> str:
    """The installed distribution's version (the package's own when run from a source tree)."""
    from importlib.metadata import PackageNotFoundError, version

    from leadstream import __version__

    try:
        return version("leadstream")
    except PackageNotFoundError:
        return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="leadstream", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"leadstream {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="embedded broker + worker + demo traffic, then a summary")
    run.add_argument("--duration", type=float, default=30.0, help="seconds of traffic (default 30)")
    run.add_argument("--keep", action="store_true",
                     help="keep the demo running (traffic, worker, lead desk) until Ctrl-C")
    run.add_argument("--leads", type=int, default=300, help="distinct people (default 300)")
    run.add_argument("--rate", type=float, default=150.0, help="touchpoints per second (default 150)")
    run.add_argument("--seed", type=int, default=7, help="traffic seed (default 7)")
    run.add_argument("--workdir", help="where state and logs go (default: a new temp dir)")
    run.add_argument("--model", help="scoring model YAML (default: the packaged one)")
    run.add_argument("--shadow", nargs="?", const=_EXAMPLE, metavar="MODEL",
                     help="also run a candidate model as a shadow (default with no MODEL: the "
                     "packaged config/examples/stricter-mql.yaml); its transitions go to "
                     "lead-handover-shadow only, and the summary compares its MQLs")
    run.set_defaults(func=_cmd_run)

    traffic = sub.add_parser("traffic", help="send demo touchpoints to the configured Kafka")
    traffic.add_argument("--config", help="settings YAML (environment LEADSTREAM__… overrides)")
    traffic.add_argument("--topic", help="default: the first configured touchpoint topic")
    traffic.add_argument("--rate", type=float, default=50.0, help="records per second (default 50)")
    traffic.add_argument("--duration", type=float, default=0.0, help="seconds; 0 = a day (default)")
    traffic.add_argument("--leads", type=int, default=300, help="distinct people (default 300)")
    traffic.add_argument("--seed", type=int, default=7)
    traffic.add_argument("--out", help="write a log file instead (.jsonl or .jsonl.gz): the "
                         "touchpoints, and the verdicts a simulated sales team gave the MQLs of "
                         "the settings' model; for leadstream backtest")
    traffic.add_argument("--touchpoints", type=int, default=50_000,
                         help="with --out: how many touchpoint records (default 50,000)")
    traffic.add_argument("--days", type=float, default=90.0,
                         help="with --out: the event time they span, ending now (default 90)")
    traffic.set_defaults(func=_cmd_traffic)

    worker = sub.add_parser("worker", help="run one worker")
    worker.add_argument("--config", help="settings YAML (environment LEADSTREAM__… overrides)")
    worker.set_defaults(func=_cmd_worker)

    broker = sub.add_parser("broker", help="run the embedded Tansu broker in the foreground")
    broker.add_argument("--host", default="127.0.0.1")
    broker.add_argument("--port", type=int, default=9092)
    broker.set_defaults(func=_cmd_broker)

    connector = sub.add_parser(
        "connector", help="the reference CRM connector: lead-handover into PostgreSQL or SQLite "
        "tables, crm_verdicts rows back to lead-feedback")
    connector.add_argument("--config", help="settings YAML (environment LEADSTREAM__… overrides)")
    connector.add_argument("--database", help="overrides connector.database: sqlite:///ABS/FILE.db, "
                           "sqlite://REL/FILE.db or postgresql://USER@HOST/DB")
    connector.add_argument("--migrate-only", action="store_true",
                           help="bring the database schema up to date, then exit")
    connector.set_defaults(func=_cmd_connector)

    lead = sub.add_parser("lead", help="look at a lead through a worker's API")
    lead_sub = lead.add_subparsers(dest="lead_command", required=True)
    show = lead_sub.add_parser("show", help="the lead explained: score by rule, stage history, "
                               "origin, owner")
    show.add_argument("lead_id", nargs="?", help="the lead id (or give --email)")
    show.add_argument("--email", help="the person's email address: hashed here into the lead id, "
                      "as ingest does")
    show.add_argument("--config", help="settings YAML: the worker's address (web.canonical_url, "
                      "else web.host and web.port) and web.api_token")
    show.add_argument("--url", help="a worker's address (default: from the settings)")
    show.add_argument("--json", action="store_true", help="print the API's JSON answer instead")
    show.set_defaults(func=_cmd_lead_show)

    dlq = sub.add_parser("dlq", help="what the DLQ holds, and sending records back")
    dlq_sub = dlq.add_subparsers(dest="dlq_command", required=True)
    for name, what in (("show", "counts by kind and stage, source topics and reasons (never a "
                                "payload)"),
                       ("redrive", "produce the selected records' original bytes to their source "
                                   "topic again, once the cause is fixed")):
        command = dlq_sub.add_parser(name, help=what)
        command.add_argument("--kind", required=name == "redrive",
                             help="only this kind (e.g. unknown_lead)")
        command.add_argument("--stage", help="only records rejected by this stage (ingest, "
                             "feedback, commands, leads, accounts)")
        command.add_argument("--since", help="only records rejected at or after this time "
                             "(ISO 8601, UTC unless it says otherwise)")
        command.add_argument("--config", help="settings YAML (environment LEADSTREAM__… overrides)")
        if name == "redrive":
            command.add_argument("--dry-run", action="store_true",
                                 help="say what would be sent, send nothing")
        command.set_defaults(func=_cmd_dlq)

    config = sub.add_parser("config", help="settings tools")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    check = config_sub.add_parser("check", help="validate the settings and print them, secrets masked")
    check.add_argument("--config", help="settings YAML (environment LEADSTREAM__… overrides)")
    check.set_defaults(func=_cmd_config_check)

    topics = sub.add_parser("topics", help="the topics the app uses")
    topics_sub = topics.add_subparsers(dest="topics_command", required=True)
    for name, what in (("plan", "print kafka-topics.sh commands for every topic"),
                       ("create", "create the missing topics with their partitions and policies")):
        command = topics_sub.add_parser(name, help=what)
        command.add_argument("--config", help="settings YAML (environment LEADSTREAM__… overrides)")
        command.set_defaults(func=_cmd_topics)

    model = sub.add_parser("model", help="scoring model tools")
    model_sub = model.add_subparsers(dest="model_command", required=True)
    validate = model_sub.add_parser("validate", help="validate a scoring model file")
    validate.add_argument("file")
    validate.set_defaults(func=_cmd_model_validate)
    diff = model_sub.add_parser("diff", help="what changes between two scoring model files")
    diff.add_argument("old")
    diff.add_argument("new")
    diff.add_argument("--exit-code", action="store_true",
                      help="exit 1 when the models differ (as git diff --exit-code does)")
    diff.set_defaults(func=_cmd_model_diff)

    exporter = sub.add_parser("export", help="write the input topics to one log file (JSON lines)")
    exporter.add_argument("--out", required=True, help="the file (.jsonl, or .jsonl.gz compressed)")
    exporter.add_argument("--config", help="settings YAML (environment LEADSTREAM__… overrides)")
    exporter.set_defaults(func=_cmd_export)

    backtest = sub.add_parser(
        "backtest", help="replay a log through the current model and candidates, and compare")
    backtest.add_argument("--log", action="append", default=[],
                          help="a log file (.jsonl or .jsonl.gz; leadstream export writes them); "
                          "repeat for more")
    backtest.add_argument("--kafka", action="store_true",
                          help="read the input topics of the configured Kafka instead (or too)")
    backtest.add_argument("--config", help="settings YAML: hygiene, accounts, Kafka, the model")
    backtest.add_argument("--model", help="the current model (default: the settings' model_path)")
    backtest.add_argument("--candidate", action="append", default=[],
                          help="a candidate model file; repeat for more")
    backtest.add_argument("--since", help="only messages at or after this event time (ISO 8601)")
    backtest.add_argument("--until", help="only messages before this event time (ISO 8601)")
    backtest.add_argument("--workers", type=_backtest_workers, default=0,
                          help="processes, 1 to 64 (default 0: one per CPU); the log is split "
                               "by person")
    backtest.add_argument("--no-ticks", action="store_true",
                          help="no deadlines in event time (what a worker with ticks off does)")
    backtest.add_argument("--report", help="write the comparison as one HTML file")
    backtest.add_argument("--json", help="write the comparison as JSON")
    backtest.set_defaults(func=_cmd_backtest)

    schemas = sub.add_parser("schemas", help="message schema tools")
    schemas_sub = schemas.add_subparsers(dest="schemas_command", required=True)
    export = schemas_sub.add_parser("export", help="write the JSON Schemas of every message and "
                                    "the AsyncAPI document of every topic")
    export.add_argument("dir", nargs="?")
    export.set_defaults(func=_cmd_schemas_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"leadstream: configuration error: {exc}", file=sys.stderr)
        return 2
    except LeadstreamError as exc:
        print(f"leadstream: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
