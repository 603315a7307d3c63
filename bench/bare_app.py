"""The ingest baseline: a Flask endpoint that answers 202 and does nothing else."""

from __future__ import annotations

from flask import Flask, Response, jsonify, request

app = Flask(__name__)


@app.post("/webhooks/raynet")
def receive() -> tuple[Response, int]:
    request.get_data()
    return jsonify(status="accepted"), 202
