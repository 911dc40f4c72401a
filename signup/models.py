from django.db import models
from django.utils import timezone


class SignupMailPurpose(models.TextChoices):
    CONTINUE = "continue", "Continue link"
    ALREADY_REGISTERED = "already_registered", "You already have an account"


class SignupMail(models.Model):
    """A signup step-1 mail waiting for its job (signup/mail.py): the canonical address
    and which mail. The job carries only this row's id, and deletes the row once the
    mail is sent or given up, so no address stays at rest; the continue link is signed
    when the job runs."""

    email = models.TextField()
    purpose = models.CharField(max_length=20, choices=SignupMailPurpose.choices)
    created_at = models.DateTimeField(default=timezone.now, db_default=models.functions.Now())

    def __str__(self):
        return f"{self.get_purpose_display()} mail #{self.pk}"


class SignupStart(models.Model):
    """One step 1: when, and which mail it queued (a continue link: a new address), and
    nothing else, so no address stays at rest. Written for both answers alike, by the
    same statement, so the two cost the same (step 1 must not tell them apart by its
    time). The funnel report counts the continue links (README "Reports and metrics")."""

    started_at = models.DateTimeField(
        default=timezone.now, db_default=models.functions.Now(), db_index=True
    )
    purpose = models.CharField(max_length=20, choices=SignupMailPurpose.choices)

    def __str__(self):
        return f"Signup started {self.started_at:%Y-%m-%d %H:%M}"
