"""``python -m openlfr.cli``: the ``openlfr`` command."""

from openlfr.cli import main

if __name__ == "__main__":
    main()
