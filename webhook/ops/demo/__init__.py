"""``python -m webhook demo``: the whole flow on bundled sample data, before any credentials.

A local stand-in plays the RAYNET API with one won business case; the real receiver runs on
a loopback port with a state file of its own; a webhook is posted to it over HTTP; the real
worker fetches the case, builds the Money S3 order and writes it to ``./exports``.
"""

from __future__ import annotations

import copy
import json
import secrets
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
import requests
from werkzeug.serving import WSGIRequestHandler, make_server

from webhook.delivery.naming import file_name
from webhook.moneys3.validation import DocumentValidator
from webhook.ops.console import reports_errors, say
from webhook.ops.serve import PACKAGE_ROOT
from webhook.raynet.standin import RaynetStandIn
from webhook.settings.environment import load_settings
from webhook.state.model import CaseState
from webhook.web import create_app
from webhook.web.registry import EXTENSION

SAMPLES = Path(__file__).resolve().parent
CASE_FILE = SAMPLES / "business_case.json"  # GET businessCase/1234/ as RAYNET answers it
COMPANY_FILE = SAMPLES / "company.json"  # GET company/881/


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_bytes(), parse_float=Decimal)["data"]
    return data


def sample_case() -> dict[str, Any]:
    """A won business case (``OP-24-057``, two items, one with a product code)."""
    return copy.deepcopy(_load(CASE_FILE))


def sample_company() -> dict[str, Any]:
    """The case's client, with IČO, DIČ, address and contacts."""
    return copy.deepcopy(_load(COMPANY_FILE))


class _Quiet(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """The narration says what happened; no access log in between."""


@dataclass(frozen=True)
class DemoResult:
    file: Path
    created: bool


def run_demo(exports: Path, xsd_dir: Path | None, say: Callable[[str], None] = print) -> DemoResult:
    """Run the flow once and narrate it through ``say``."""
    case, company = sample_case(), sample_company()
    exports.mkdir(parents=True, exist_ok=True)  # the folder asked for on the command line
    existed = (exports / file_name(case["code"])).exists()
    token = secrets.token_urlsafe(16)
    with RaynetStandIn() as raynet, tempfile.TemporaryDirectory() as state:
        raynet.add_case(case)
        raynet.add_company(company)
        say(
            f"1. A stand-in for the RAYNET API runs at {raynet.url} with the won business case "
            f"{case['code']} ({len(case['items'])} items, client {company['name']})"
        )
        settings = load_settings(
            {
                **raynet.environment(),
                "WEBHOOK_TOKEN": token,
                "EXPORT_TARGET": str(exports),
                "STATE_DB": str(Path(state) / "state.db"),
                **({"MONEY_S3_XSD_DIR": str(xsd_dir)} if xsd_dir else {}),
            }
        )
        app = create_app(settings)
        server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            url = f"http://127.0.0.1:{server.server_port}/webhooks/raynet"
            answer = requests.post(
                url,
                timeout=10,
                headers={"X-RAYNETCRM-Token": token},
                json={
                    "eventId": secrets.token_hex(16),
                    "type": "record.updated",
                    "data": {"entityName": "BusinessCase", "entityId": case["id"]},
                },
            )
            say(
                f"2. RAYNET's webhook for case {case['id']} went to {url}: "
                f"{answer.status_code} {answer.json()['status']}."
            )
            served = app.extensions[EXTENSION][""]
            while served.button.run_once():
                pass
        finally:
            server.shutdown()
            thread.join()
        record = served.state.records.case(case["id"])
    if record is None or record.state != CaseState.EXPORTED or record.location is None:
        raise RuntimeError(f"the demo case was not exported: {record}")
    written = "found the same order already there from an earlier run" if existed else "wrote it"
    say(
        f"3. The worker read the case and its client from the API ({len(raynet.requests)} "
        f"requests), built the Money S3 order and {written}: {record.location}"
    )
    return DemoResult(Path(record.location), not existed)


@click.command()
@click.option(
    "--output",
    default="./exports",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the file.",
)
@reports_errors
def demo(output: Path) -> None:
    """See the bridge work on bundled sample data, without any RAYNET credentials."""
    xsd_dir = load_settings().xsd_dir or _shared_xsd_dir()
    result = run_demo(output, xsd_dir, say=say)
    if xsd_dir is not None:
        DocumentValidator(xsd_dir).validate(result.file.read_bytes())
        say(f"4. The file is valid against Money S3's schema ({xsd_dir / '_Document.xsd'}).")
    else:
        say("4. Not validated: set MONEY_S3_XSD_DIR to Seyfor's XSD folder to check it.")
    head = result.file.read_text(encoding="utf-8").splitlines()[:12]
    say("", *(f"   {line}" for line in head), "   ...")
    say(
        "",
        "Next: import it in Money S3 (Objednávky přijaté → XML přenosy → Import z XML, O+P+N),",
        "then set WEBHOOK_TOKEN and RAYNET_USERNAME/RAYNET_API_KEY/RAYNET_INSTANCE and run "
        "`python -m webhook check`.",
    )


def _shared_xsd_dir() -> Path | None:
    """Seyfor's XSDs where this project's developers keep them, if they are there."""
    candidate = PACKAGE_ROOT.parent / "shared" / "money-s3-xsd"
    return candidate if (candidate / "_Document.xsd").is_file() else None
