"""RAYNET CRM → Money S3 bridge: won deals become Money S3 received orders.

The domain: ``order.py``, ``errors.py`` and ``pipeline.py`` (case → eligibility → order →
XML → delivery) over ``raynet/``, ``moneys3/`` and ``delivery/``. Around it: ``state/``,
``worker/``, ``web/``, ``ops/`` and ``settings/`` (see README, "Development").
"""
