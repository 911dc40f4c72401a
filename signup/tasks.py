"""The signup app's background jobs (the worker finds tasks in each app's tasks.py)."""

from procrastinate import job_context
from procrastinate.contrib.django import app

from dhportal.jobs import OUTSIDE_RETRY
from signup.mail import signup_mail_give_up, signup_mail_send


@app.task(queue="mail", retry=OUTSIDE_RETRY, pass_context=True)
def send_signup_mail(context: job_context.JobContext, signup_mail_id: int) -> str:
    try:
        return signup_mail_send(signup_mail_id)
    except Exception as error:
        if not OUTSIDE_RETRY.will_retry(exception=error, job=context.job):
            signup_mail_give_up(signup_mail_id, error)
        raise
