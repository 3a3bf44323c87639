"""Record the history of an incident with a Slack room, for the replay tests:
`.venv/bin/python -m tests.chat.record_history` writes tests/workflows/histories/chat-room.json
(the room opened, card and approval message posted, a status update on cadence, approved,
messages edited, channel archived), against the fake Slack on a real dev server."""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from tests.chat.conftest import PEOPLE, ROOM, TEAMS
from tests.chat.test_room_e2e import until
from warroom.contract import search_attributes
from warroom.contract.client import installed_binary
from warroom.contract.converter import data_converter
from warroom.contract.models import Decision
from warroom.entry.fakeslack import TOKEN, FakeSlack
from warroom.incidents import decisions, views
from warroom.incidents.declare import declare
from warroom.language.loader import parse_runbook
from worker import build_worker

TARGET = Path(__file__).resolve().parents[1] / "workflows" / "histories" / "chat-room.json"


async def main(directory: Path) -> None:
    (directory / "people.yaml").write_text(PEOPLE)
    (directory / "teams.yaml").write_text(TEAMS)
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=installed_binary("temporal"),
        data_converter=data_converter(),
        search_attributes=search_attributes.ALL,
    )
    queue = f"record-{uuid.uuid4().hex[:8]}"
    os.environ["WARROOM_TASK_QUEUE"] = queue
    with FakeSlack() as slack:
        os.environ.update(
            WARROOM_SLACK_BOT_TOKEN=TOKEN,
            WARROOM_SLACK_API_URL=slack.api_url,
            WARROOM_RUNBOOKS=str(directory),
        )
        async with build_worker(env.client, queue):
            runbook = parse_runbook(ROOM, teams={"sre": ["dana", "erin"]})
            # A status update in the channel before the approval (below the language's floor).
            fast = {sev: timedelta(seconds=1) for sev in ("SEV1", "SEV2", "SEV3", "SEV4")}
            runbook = runbook.model_copy(update={"cadence": fast})
            incident = await declare(env.client, runbook, "checkout 5xx", declared_by="carol")
            channels = slack.channels.values

            def posted(text: str) -> bool:
                return any(text in str(m) for c in list(channels()) for m in c.messages)

            await until(lambda: posted("Approval needed") and posted("Status update"), "asking")
            await decisions.send(
                env.client, incident, "approve", Decision(step="rollback", by="dana")
            )
            await until(lambda: any(c.archived for c in channels()), "the archived room")
            await env.client.get_workflow_handle(incident).result()
            history = await env.client.get_workflow_handle(incident).fetch_history()
            print((await views.status(env.client, incident)).status)
    TARGET.write_text(history.to_json())
    await env.shutdown()


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(Path(tmp)))
