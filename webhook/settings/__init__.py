"""Where settings come from and what they build.

``environment.py`` reads one instance's variables; ``instances.py`` adds ``BRIDGE_CONFIG``'s
instances; ``wiring.py`` turns settings into the state, target, RAYNET client and worker
(the one place that knows concrete types).
"""
