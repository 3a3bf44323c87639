"""`postmortem.write`: the workflow's last act when an incident closes writes the blameless
postmortem draft, read from the history with the worker's own Temporal client, as Markdown
under `WARROOM_POSTMORTEM_DIR` (nothing is kept when it is not set)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from temporalio import activity
from temporalio.client import Client

from warroom.contract.closing import POSTMORTEM_ACTIVITY
from warroom.record.postmortem import postmortem
from warroom.record.timeline import story

#: Where drafts go: `<data-dir>/postmortems/` under `warroom dev`.
POSTMORTEM_DIR = "WARROOM_POSTMORTEM_DIR"


class PostmortemWriter:
    def __init__(self, client: Client) -> None:
        self._client = client

    @activity.defn(name=POSTMORTEM_ACTIVITY)
    async def write(self, inp: dict[str, str]) -> str:
        """The draft's path, or "" when no directory is configured."""
        folder = os.environ.get(POSTMORTEM_DIR)
        if not folder:
            return ""
        incident_id = inp["incident_id"]
        draft = postmortem(await story(self._client, incident_id))
        path = Path(folder) / f"{re.sub(r'[^A-Za-z0-9._-]', '_', incident_id)}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".md.tmp")
        tmp.write_text(draft, encoding="utf-8")
        tmp.replace(path)  # a reader never sees half a draft
        return str(path)
