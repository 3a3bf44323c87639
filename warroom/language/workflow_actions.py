"""Actions the workflow carries out itself, without an activity: `wait` (a durable timer) and
`note` (a line in the timeline); `warroom.language.actions.ACTION_PARAMS` holds them too."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from warroom.language.durations import Duration


class WaitParams(BaseModel):
    """`with:` of a `wait` step: give the last action time to work ("let the rollback settle")."""

    model_config = ConfigDict(extra="forbid")

    duration: Duration = Field(description="How long to wait, e.g. 2m; a durable timer.")


class NoteParams(BaseModel):
    """`with:` of a `note` step: a line for the timeline, from the runbook itself."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=2000, description="What to note (a template).")


WAIT = "wait"
NOTE = "note"
#: The actions the workflow runs itself.
WORKFLOW_ACTIONS = frozenset({WAIT, NOTE})
