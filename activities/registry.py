"""Every action kind the worker registers; importing this fills `activities.boundary.ACTION_RESULTS`."""

from activities.exec import exec_program
from activities.http import http_request
from activities.http_wait import http_wait
from activities.mail import email_send
from activities.pagerduty import pagerduty_event
from activities.prometheus import prometheus_query, prometheus_wait
from activities.slack import slack_post
from activities.statuspage import statuspage_update
from activities.webhook import webhook_post

ACTIVITIES = [
    http_request,
    webhook_post,
    http_wait,
    prometheus_query,
    prometheus_wait,
    exec_program,
    slack_post,
    pagerduty_event,
    statuspage_update,
    email_send,
]
