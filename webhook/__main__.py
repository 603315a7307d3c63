"""``python -m webhook``."""

from webhook.cli import main

main()
