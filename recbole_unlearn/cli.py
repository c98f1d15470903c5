"""Command line: ``python run_recbole_unlearn.py --model=M --dataset=D [--config_files="a.yaml b.yaml"] [--key=value]``.

RecBole's flags: ``--model/-m``, ``--dataset/-d``, ``--config_files`` (space-separated); every other ``--key=value``
overrides a config key. ``--forget_file a.csv b.csv ...`` (or a folder) applies a stream of requests in order.
``python run_recbole_unlearn.py verify CHECKPOINT [--key=value]`` checks a checkpoint against its lineage
(:mod:`recbole_unlearn.verify`). Bad input ends in one line on stderr and exit status 2.

With ``nproc > 1`` (or ``world_size > 1``), from any config layer, this machine's processes are started
(:func:`recbole_unlearn.launch.launch`); otherwise the run is the single process it always was.
"""

import argparse
import ast
import sys

from recbole_unlearn import distributed
from recbole_unlearn.config import Config
from recbole_unlearn.errors import InputError
from recbole_unlearn.launch import launch
from recbole_unlearn.quick_start import run
from recbole_unlearn.verify import summary_line, verify_checkpoint


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="run_recbole_unlearn.py", description=__doc__.splitlines()[0])
    parser.add_argument("--model", "-m", default=None, help="model name (this package's first, then RecBole's)")
    parser.add_argument("--dataset", "-d", default=None, help="dataset name (default: ml-100k)")
    parser.add_argument("--config_files", default=None, help="space-separated YAML files, later ones win")
    parser.add_argument("--forget_file", nargs="+", default=None, help="request CSVs (or folders), applied in order")
    known, rest = parser.parse_known_args(argv)
    return known, rest


def forget_files(values):
    """``--forget_file`` values as the config value: one path, a RecBole-style list literal, or a list of paths."""
    if values is None:
        return {}
    if len(values) == 1:
        value = values[0]
        return {"forget_file": ast.literal_eval(value) if value.lstrip().startswith("[") else value}
    return {"forget_file": values}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    command = argv.pop(0) if argv[:1] == ["verify"] else "run"
    args, rest = parse_args(argv)
    config_files = args.config_files.split() if args.config_files else None
    try:
        if command == "verify":
            return verify(args, rest, config_files)
        run_command(args, rest, config_files)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def run_command(args, rest, config_files):

    config_dict = forget_files(args.forget_file)
    # read only for nproc & co., from every layer
    config = Config(args.model, args.dataset, config_files, config_dict, argv=rest)
    if distributed.wants_processes(config) and config["single_spec"]:  # (not a process someone else started)
        launch(config, model=args.model, dataset=args.dataset, config_file_list=config_files,
                           config_dict=config_dict, argv=rest)
    else:
        run(model=args.model, dataset=args.dataset, config_file_list=config_files, config_dict=config_dict, argv=rest)


def verify(args, rest, config_files):
    paths = [a for a in rest if not a.startswith("-")]
    if len(paths) != 1:
        raise InputError("verify takes one checkpoint: run_recbole_unlearn.py verify CHECKPOINT [--key=value ...]")
    options = [a for a in rest if a.startswith("-")]
    print(summary_line(verify_checkpoint(paths[0], args.model, args.dataset, config_files, argv=options)))
    return 0
