"""``python -m gpt4o_prior``: the ``gpt4o-prior`` command."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
