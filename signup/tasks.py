"""The signup app's background jobs (the worker finds tasks in each app's tasks.py)."""

from procrastinate import job_context
from procrastinate.contrib.django import app

from dhportal.jobs import OUTSIDE_RETRY
from dhportal.mail import MAIL_QUEUE
from signup.mail import SIGNUP_MAILS


@app.task(queue=MAIL_QUEUE, retry=OUTSIDE_RETRY, pass_context=True)
def send_signup_mail(context: job_context.JobContext, signup_mail_id: int) -> str:
    return SIGNUP_MAILS.run(context.job, signup_mail_id)
