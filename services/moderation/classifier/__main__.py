"""`python -m services.moderation.classifier train [--check]`."""

from __future__ import annotations

import argparse
import sys

from services.moderation.classifier.train import main


def run() -> int:
    """Parse the command line and train (or check) the committed model."""
    parser = argparse.ArgumentParser(prog="python -m services.moderation.classifier")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train from data/train.json, write model.json")
    train.add_argument("--check", action="store_true", help="fail if model.json is stale")
    args = parser.parse_args()
    return main(check=args.check)


if __name__ == "__main__":
    sys.exit(run())
