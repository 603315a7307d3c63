"""The bridge's state: what it knows of every business case, and the work waiting on them.

``model.py`` holds the values, ``ports.py`` the three seams (``JobQueue``, ``CaseRecords``,
``Outbox``). ``sqlite/`` implements them on one state file (the default), ``aws/`` on SQS
and DynamoDB for many hosts; each imports only the model and the ports.
"""
