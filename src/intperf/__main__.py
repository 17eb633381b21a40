"""``python -m intperf`` is the ``intperf`` command."""

from intperf.cli import main

main()
