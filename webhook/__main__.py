"""``python -m webhook``."""

from webhook.ops.cli import main

main()
