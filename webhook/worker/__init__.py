"""The worker process's jobs: exports (``loop.py``), the sweep for lost webhooks
(``reconcile.py``) and e-mail to the accountant (``mail.py``)."""
