"""The ``leadstream`` command.

    leadstream run [--duration S] [--leads N] [--rate R]   embedded broker + worker + demo traffic
    leadstream worker [--config FILE]                      one worker against the configured Kafka
    leadstream broker [--port P]                           the embedded broker in the foreground
    leadstream traffic [--rate R] [--duration S]           demo touchpoints to the configured Kafka
    leadstream config check [--config FILE]                the effective settings, secrets masked
    leadstream topics plan|create [--config FILE]          every topic with partitions and policies
    leadstream model validate FILE                         check a scoring model file
    leadstream model diff OLD NEW                          what a model change changes, rule by rule
    leadstream schemas export [DIR]                        write the JSON Schemas
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from leadstream.exceptions import ConfigError, LeadstreamError

__all__ = ["main"]


def _cmd_worker(args: argparse.Namespace) -> int:
    from leadstream.config import load_models, load_settings

    settings = load_settings(args.config)
    models = load_models(settings.model_path, settings.extra_model_paths)
    return run_worker(settings, models)


def run_worker(settings: object, model: object) -> int:
    import faust

    from leadstream.app import create_pipeline
    from leadstream.streams.prepare import prepare

    from leadstream.gc_tuning import tune_gc
    from leadstream.logs import JsonFormatter, logging_config

    level, fmt = settings.log.level, settings.log.format  # type: ignore[attr-defined]
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if fmt == "json":
        for handler in logging.root.handlers:
            handler.setFormatter(JsonFormatter())
    asyncio.run(prepare(settings))  # type: ignore[arg-type]
    asyncio.set_event_loop(asyncio.new_event_loop())
    pipeline = create_pipeline(settings, model)  # type: ignore[arg-type]
    gc_settings = settings.gc  # type: ignore[attr-defined]
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


def _cmd_config_check(args: argparse.Namespace) -> int:
    import yaml

    from leadstream.config import load_settings
    from leadstream.config.environment import environment_values

    settings = load_settings(args.config)
    # mode="json" turns every SecretStr into '**********': no secret reaches the terminal
    print(yaml.safe_dump(settings.model_dump(mode="json"), sort_keys=False), end="")
    origins = sorted({origin for _, origin in environment_values(os.environ).values()})
    if origins:
        print("# from the environment: " + ", ".join(o.split("=")[0] for o in origins))
    print(f"# OK: {args.config or '(no file)'} and the environment make valid worker settings")
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


def _cmd_schemas_export(args: argparse.Namespace) -> int:
    from leadstream.schemas.export import SCHEMA_DIR, write_json_schemas

    for path in write_json_schemas(Path(args.dir) if args.dir else SCHEMA_DIR):
        print(path)
    return 0


def _cmd_traffic(args: argparse.Namespace) -> int:
    from leadstream.config import load_settings
    from leadstream.demo.producer import send_traffic

    settings = load_settings(args.config, serves_web=False)
    topic = args.topic or settings.topics.touchpoints[0]
    sent = asyncio.run(send_traffic(settings.kafka, topic, rate=args.rate, duration=args.duration,
                                    people=args.leads, seed=args.seed))
    print(f"done: {sum(sent.values())} records sent to {topic} ({dict(sent)})")
    return 0


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
        )
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="leadstream", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="embedded broker + worker + demo traffic, then a summary")
    run.add_argument("--duration", type=float, default=30.0, help="seconds of traffic (default 30)")
    run.add_argument("--leads", type=int, default=300, help="distinct people (default 300)")
    run.add_argument("--rate", type=float, default=150.0, help="touchpoints per second (default 150)")
    run.add_argument("--seed", type=int, default=7, help="traffic seed (default 7)")
    run.add_argument("--workdir", help="where state and logs go (default: a new temp dir)")
    run.add_argument("--model", help="scoring model YAML (default: the packaged one)")
    run.set_defaults(func=_cmd_run)

    traffic = sub.add_parser("traffic", help="send demo touchpoints to the configured Kafka")
    traffic.add_argument("--config", help="settings YAML (environment LEADSTREAM__… overrides)")
    traffic.add_argument("--topic", help="default: the first configured touchpoint topic")
    traffic.add_argument("--rate", type=float, default=50.0, help="records per second (default 50)")
    traffic.add_argument("--duration", type=float, default=0.0, help="seconds; 0 = a day (default)")
    traffic.add_argument("--leads", type=int, default=300, help="distinct people (default 300)")
    traffic.add_argument("--seed", type=int, default=7)
    traffic.set_defaults(func=_cmd_traffic)

    worker = sub.add_parser("worker", help="run one worker")
    worker.add_argument("--config", help="settings YAML (environment LEADSTREAM__… overrides)")
    worker.set_defaults(func=_cmd_worker)

    broker = sub.add_parser("broker", help="run the embedded Tansu broker in the foreground")
    broker.add_argument("--host", default="127.0.0.1")
    broker.add_argument("--port", type=int, default=9092)
    broker.set_defaults(func=_cmd_broker)

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

    schemas = sub.add_parser("schemas", help="message schema tools")
    schemas_sub = schemas.add_subparsers(dest="schemas_command", required=True)
    export = schemas_sub.add_parser("export", help="write JSON Schemas of every message")
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
