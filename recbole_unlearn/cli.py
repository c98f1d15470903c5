"""Command line: ``python run_recbole_unlearn.py --model=M --dataset=D [--config_files="a.yaml b.yaml"] [--key=value]``.

RecBole's flags: ``--model/-m``, ``--dataset/-d``, ``--config_files`` (space-separated); every other ``--key=value``
overrides a config key. Bad input ends in one line on stderr and exit status 2.
"""

import argparse
import sys

from recbole_unlearn.errors import UnlearnError


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="run_recbole_unlearn.py", description=__doc__.splitlines()[0])
    parser.add_argument("--model", "-m", default=None, help="model name (this package's first, then RecBole's)")
    parser.add_argument("--dataset", "-d", default=None, help="dataset name (default: ml-100k)")
    parser.add_argument("--config_files", default=None, help="space-separated YAML files, later ones win")
    known, rest = parser.parse_known_args(argv)
    return known, rest


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args, rest = parse_args(argv)
    config_files = args.config_files.split() if args.config_files else None
    from recbole_unlearn.quick_start import run

    try:
        run(model=args.model, dataset=args.dataset, config_file_list=config_files, argv=rest)
    except UnlearnError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
