"""Command line of ``run_recbole_unlearn.py`` (and ``python -m recbole_unlearn``, ``recbole-unlearn``).

    run_recbole_unlearn.py --model=M --dataset=D [--config_files="a.yaml b.yaml"] [--key=value ...]
    run_recbole_unlearn.py verify CHECKPOINT [--key=value ...]
    run_recbole_unlearn.py recommend CHECKPOINT (--users U [U ...] | --users_file F.csv) [--k 20] [--output F]
    run_recbole_unlearn.py revoked CHECKPOINT [--output F]

The first form trains and evaluates, and with ``forget_type`` set unlearns and audits: RecBole's flags
``--model/-m``, ``--dataset/-d``, ``--config_files`` (space-separated); every other ``--key=value`` sets a config key
(docs/config-keys.md). ``--forget_file a.csv b.csv ...`` (or a folder) applies a stream of requests in order. With
``nproc > 1`` (or ``world_size > 1``) this machine's processes are started (:func:`recbole_unlearn.launch.launch`).
Bad input ends in one line on stderr and exit status 2 (docs/bad-input.md).
"""

import argparse
import ast
import sys
from pathlib import Path

from recbole_unlearn import distributed, recommend
from recbole_unlearn.config import Config, command_line_dict
from recbole_unlearn.errors import InputError
from recbole_unlearn.launch import RunArguments, launch
from recbole_unlearn.quick_start import prepared, run_config
from recbole_unlearn.verify import summary_line, verify_checkpoint

SUBCOMMANDS = {
    "verify": "check a checkpoint against its chain of manifests, its data and its audit (docs/lineage.md)",
    "recommend": "top-k recommendations in raw tokens from a checkpoint, serving filter on (docs/serving.md)",
    "revoked": "the item tokens a checkpoint's lineage revoked, for a serving stack's own filter (docs/serving.md)",
}
EPILOG = "subcommands:\n" + "\n".join(f"  {name:<10} {what}" for name, what in SUBCOMMANDS.items()) + (
    "\n\nevery --key=value sets a config key: docs/config-keys.md; bad input: docs/bad-input.md"
)


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser whose errors are one line (an :class:`InputError`), as for any other bad input."""

    def error(self, message):
        raise InputError(f"{self.prog}: {message}")


def run_parser():
    parser = ArgumentParser(
        prog="run_recbole_unlearn.py", description="Train, evaluate, unlearn and audit a RecBole model.",
        usage="%(prog)s [--model M] [--dataset D] [--config_files FILES] [--key=value ...] | %(prog)s SUBCOMMAND ...",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", "-m", default=None, help="model name (this package's first, then RecBole's)")
    parser.add_argument("--dataset", "-d", default=None, help="dataset name (default: ml-100k)")
    parser.add_argument("--config_files", default=None, help="space-separated YAML files, later ones win")
    parser.add_argument("--forget_file", nargs="+", default=None, help="request CSVs (or folders), applied in order")
    return parser


def serving_parser(name):
    parser = ArgumentParser(prog=f"run_recbole_unlearn.py {name}", description=SUBCOMMANDS[name],
                                     epilog="other --key=value arguments set config keys for loading (e.g. data_path)")
    parser.add_argument("checkpoint", help="a checkpoint written by this package")
    if name == "recommend":
        users = parser.add_mutually_exclusive_group(required=True)
        users.add_argument("--users", nargs="+", help="raw user tokens")
        users.add_argument("--users_file", help="CSV with a user_id column")
        parser.add_argument("--k", type=int, default=20, help="recommendations per user (default 20)")
        parser.add_argument("--output", help="recs.csv or recs.json (default: CSV on standard output)")
    else:
        parser.add_argument("--output", help="a CSV to write (default: standard output)")
    return parser


def forget_files(values):
    """``--forget_file`` values as the config value: one path, a RecBole-style list literal, or a list of paths."""
    if values is None:
        return {}
    if len(values) == 1:
        value = values[0]
        return {"forget_file": ast.literal_eval(value) if value.lstrip().startswith("[") else value}
    return {"forget_file": values}


def config_overrides(rest) -> dict:
    """``--key=value`` arguments as a config dict (values parsed as RecBole parses the command line)."""
    overrides = {}
    for key, value in command_line_dict(rest).items():
        try:
            overrides[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            overrides[key] = value
    return overrides


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    command = argv.pop(0) if argv[:1] and argv[0] in SUBCOMMANDS else "run"
    try:
        if command == "verify":
            return verify(argv)
        if command in ("recommend", "revoked"):
            return serve_command(command, argv)
        return run_command(argv)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def run_command(argv):
    args, rest = run_parser().parse_known_args(argv)
    config_files = args.config_files.split() if args.config_files else None
    config_dict = forget_files(args.forget_file)
    config = Config(args.model, args.dataset, config_files, config_dict, argv=rest)
    if distributed.wants_processes(config) and config["single_spec"]:  # (not a process someone else started)
        result = launch(config, RunArguments(args.model, args.dataset, config_files, config_dict, rest))
    else:
        result = run_config(prepared(config))
    for step in getattr(result, "steps", []):
        if step.summary:
            print(step.summary)
    return 0


def verify(argv):
    args, rest = run_parser().parse_known_args(argv)
    config_files = args.config_files.split() if args.config_files else None
    paths = [a for a in rest if not a.startswith("-")]
    if len(paths) != 1:
        raise InputError("verify takes one checkpoint: run_recbole_unlearn.py verify CHECKPOINT [--key=value ...]")
    options = [a for a in rest if a.startswith("-")]
    print(summary_line(verify_checkpoint(paths[0], args.model, args.dataset, config_files, argv=options)))
    return 0


def serve_command(command, argv):
    args, rest = serving_parser(command).parse_known_args(argv)
    if command == "revoked":
        recommend.write_output(recommend.revoked_text(recommend.revoked(args.checkpoint)), args.output)
        return 0
    overrides = {"state": "WARNING", **config_overrides(rest)}  # the recommendations, not the run's log
    rows = recommend.recommend(args.checkpoint, args.users, args.users_file, args.k, **overrides)
    fmt = "json" if args.output and Path(args.output).suffix.lower() == ".json" else "csv"
    recommend.write_output(recommend.recommendations_text(rows, fmt), args.output)
    return 0
