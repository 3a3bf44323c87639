"""The incident's closing activities, by the names the workflow schedules them with
(workflows/incident.py), the record layer defines them with (record/writer.py,
record/archiver.py) and the timeline tells them by."""

#: Writes the postmortem draft.
POSTMORTEM_ACTIVITY = "postmortem.write"
#: Stores the closed incident's record in the archive.
ARCHIVE_ACTIVITY = "archive.write"
