"""The alert payloads warroom accepts, each parsed into one `warroom.intake.delivery.Notification`.

Strict only about what would break an incident (no alerts, a label that is not text, an
unknown status); fields a newer sender adds are ignored.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from warroom.contract.models import ALERTS_PER_SIGNAL, Alert, PersonName
from warroom.intake.delivery import Notification

#: Longest group key / dedup key / fingerprint accepted.
KEY_MAX_CHARS = 512

Key = Annotated[str, StringConstraints(min_length=1, max_length=KEY_MAX_CHARS)]
Status = Literal["firing", "resolved"]
Labels = dict[str, str]


def _unset_time(value: datetime | None) -> datetime | None:
    """Alertmanager and Grafana say "not ended" with the zero time 0001-01-01T00:00:00Z."""
    return None if value is not None and value.year <= 1 else value


Time = Annotated[datetime | None, AfterValidator(_unset_time)]


def labels_fingerprint(labels: Labels) -> str:
    """A stable fingerprint for a sender that gives none: a hash of the sorted labels."""
    return hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class GroupedAlert(_Payload):
    """One alert of an Alertmanager or Grafana notification."""

    status: Status
    labels: Labels
    annotations: Labels = Field(default_factory=dict)
    starts_at: Time = Field(None, alias="startsAt")
    ends_at: Time = Field(None, alias="endsAt")
    generator_url: str = Field("", alias="generatorURL")
    fingerprint: Key | None = None

    def alert(self, source: str) -> Alert:
        return Alert(
            source=source,
            fingerprint=self.fingerprint or labels_fingerprint(self.labels),
            status=self.status,
            labels=self.labels,
            annotations=self.annotations,
            starts_at=self.starts_at,
            ends_at=self.ends_at,
            generator_url=self.generator_url,
        )


class GroupNotification(_Payload):
    """What Alertmanager (webhook version 4) and Grafana unified alerting have in common."""

    SOURCE: ClassVar[str] = "alertmanager"

    group_key: Key = Field(alias="groupKey")
    status: Status
    receiver: str = ""
    group_labels: Labels = Field(default_factory=dict, alias="groupLabels")
    common_labels: Labels = Field(default_factory=dict, alias="commonLabels")
    common_annotations: Labels = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str = Field("", alias="externalURL")
    truncated_alerts: int = Field(0, alias="truncatedAlerts", ge=0)
    alerts: list[GroupedAlert] = Field(min_length=1, max_length=ALERTS_PER_SIGNAL)

    def notification(self) -> Notification:
        # The labels every alert shares pick the runbook; a sender that leaves them out
        # gets the first alert's.
        labels = self.common_labels or self.group_labels or self.alerts[0].labels
        summary = (
            self.common_annotations.get("summary")
            or self.alerts[0].annotations.get("summary")
            or labels.get("alertname")
            or self.alerts[0].labels.get("alertname")
            or f"{self.SOURCE} alert group {self.group_key}"
        )
        return Notification(
            source=self.SOURCE,
            group_key=self.group_key,
            labels=labels,
            summary=summary,
            alerts=[a.alert(self.SOURCE) for a in self.alerts],
        )


class AlertmanagerNotification(GroupNotification):
    """Alertmanager's webhook payload, version 4."""

    version: str = "4"


class GrafanaNotification(GroupNotification):
    """Grafana unified alerting's webhook payload (a superset of Alertmanager's)."""

    SOURCE: ClassVar[str] = "grafana"

    title: str = ""
    message: str = ""
    org_id: int | None = Field(None, alias="orgId")

    def notification(self) -> Notification:
        note = super().notification()
        if self.title and "summary" not in self.common_annotations:
            note.summary = self.title
        return note


class GenericAlert(_Payload):
    """`POST /v1/alerts`: one alert from anything that can send JSON."""

    title: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    dedup_key: Key
    status: Status = "firing"
    severity: str | None = None
    service: str | None = None
    labels: Labels = Field(default_factory=dict)
    annotations: Labels = Field(default_factory=dict)
    #: Where it comes from, a label (part of the alert group's identity); without API tokens
    #: it also names who declares the incident, with them the token's identity does.
    source: PersonName = "generic"

    def notification(self) -> Notification:
        # title, severity and service are labels too, unless the labels say otherwise, so
        # runbooks match on them as on Alertmanager's.
        extra = {"alertname": self.title, "severity": self.severity, "service": self.service}
        labels = {**{k: v for k, v in extra.items() if v is not None}, **self.labels}
        alert = Alert(
            source=self.source,
            fingerprint=self.dedup_key,
            status=self.status,
            labels=labels,
            annotations={"summary": self.title, **self.annotations},
        )
        return Notification(
            source=self.source,
            group_key=self.dedup_key,
            labels=labels,
            summary=self.title,
            alerts=[alert],
        )
