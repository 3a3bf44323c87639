"""Every action kind the worker registers; importing this fills `warroom.actions.ACTION_PARAMS`."""

from activities.http import http_request
from activities.webhook import webhook_post

ACTIVITIES = [http_request, webhook_post]
