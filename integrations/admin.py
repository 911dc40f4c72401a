"""Staff tooling for the change feed and the access API.

- Endpoints: name, URL (http/https only), the fields they care about, enabled. The
  secret is typed (or generated) once: after that the form never shows it, and a blank
  "new secret" keeps it. An action sends every member's current snapshot to an
  endpoint (a job: the request stays short).
- Deliveries: read-only, dead ones first in the filter, with the receiver's last
  answer; replayed one by one (a button on the delivery) or in bulk (an action).
- Events: read-only.
- Access keys: created with a name and scopes; the key is shown once, on the page that
  answers the form (never in a message, a session or a log); revoked by an action.
- Door events: the entry log and "Who is here" (integrations/door_admin.py).
"""

from __future__ import annotations

import secrets

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from dhportal.adminkit import RecordAdmin, SafeModelAdmin
from dhportal.jobs import defer
from integrations import door_admin, services  # noqa: F401 - door_admin registers the entry log
from integrations.models import (
    DEFAULT_SCOPES,
    AccessKey,
    Delivery,
    DeliveryState,
    Endpoint,
    FeedEvent,
    Scope,
    validate_endpoint_url,
)
from integrations.snapshot import FIELD_KEYS
from members.models import Member

# The most of a receiver's answer the lists and pages show: enough for the status line
# and the start of a message, never a whole error page.
ANSWER_SHOWN = 200


def short_answer(text: str) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= ANSWER_SHOWN else text[: ANSWER_SHOWN - 1] + "…"


def shown_once(modeladmin, request, *, title: str, what: str, value: str, next_url: str):
    """The page that answers a creation with its secret, shown this once: not put in a
    message (messages live in the session or a cookie) and not cached."""
    response = TemplateResponse(
        request,
        "admin/integrations/shown_once.html",
        {
            **modeladmin.admin_site.each_context(request),
            "title": title,
            "what": what,
            "value": value,
            "next_url": next_url,
            "opts": modeladmin.opts,
        },
    )
    response["Cache-Control"] = "no-store"
    return response


class EndpointForm(forms.ModelForm):
    url = forms.URLField(
        label="URL",
        max_length=2000,
        assume_scheme="https",
        validators=[validate_endpoint_url],
        help_text="Where each event is POSTed (http or https).",
    )
    fields_chosen = forms.MultipleChoiceField(
        label="Fields",
        choices=[(k, k) for k in FIELD_KEYS],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="The snapshot fields this receiver cares about: it is sent only the "
        "events that change one of them, and only them (with the event's ids). "
        "None ticked: every event, every field.",
    )
    new_secret = forms.CharField(
        label="Secret",
        required=False,
        max_length=200,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Signs each delivery (X-Dhportal-Signature). Leave blank to keep the "
        "current one (for a new endpoint: to have one generated and shown once).",
    )

    class Meta:
        model = Endpoint
        fields = ("name", "url", "enabled")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["fields_chosen"].initial = [
                f for f in (self.instance.fields or []) if f in FIELD_KEYS
            ]

    def clean_new_secret(self):
        secret = self.cleaned_data.get("new_secret", "")
        if secret and len(secret) < 16:
            raise forms.ValidationError("A secret has at least 16 characters.")
        return secret

    def save(self, commit=True):
        endpoint = super().save(commit=False)
        endpoint.fields = [k for k in FIELD_KEYS if k in self.cleaned_data["fields_chosen"]]
        secret = self.cleaned_data.get("new_secret")
        endpoint.generated_secret = ""
        if secret:
            endpoint.secret = secret
        elif not endpoint.secret:
            endpoint.secret = endpoint.generated_secret = secrets.token_urlsafe(32)
        if commit:
            endpoint.save()
        return endpoint


@admin.register(Endpoint)
class EndpointAdmin(SafeModelAdmin):
    form = EndpointForm
    list_display = ("name", "url", "enabled", "chosen_fields", "dead_count", "created_at")
    list_filter = ("enabled",)
    search_fields = ("name", "url")
    actions = ("send_current_snapshots",)
    fieldsets = ((None, {"fields": ("name", "url", "enabled", "fields_chosen", "new_secret")}),)

    @admin.display(description="fields")
    def chosen_fields(self, endpoint):
        return ", ".join(endpoint.fields or []) or "all"

    @admin.display(description="dead deliveries")
    def dead_count(self, endpoint):
        return endpoint.deliveries.dead().count()

    def response_add(self, request, obj, post_url_continue=None):
        if getattr(obj, "generated_secret", ""):
            return shown_once(
                self,
                request,
                title=f'Endpoint "{obj.name}" created',
                what="secret of this endpoint",
                value=obj.generated_secret,
                next_url=reverse("admin:integrations_endpoint_changelist"),
            )
        return super().response_add(request, obj, post_url_continue)

    @admin.action(
        description="Send every member's current snapshot to these endpoints",
        permissions=["change"],
    )
    def send_current_snapshots(self, request, queryset):
        from integrations.tasks import resync_endpoint

        names = []
        with transaction.atomic():
            for endpoint in queryset.filter(enabled=True).order_by("pk")[:100]:
                defer(
                    resync_endpoint,
                    configure={"queueing_lock": f"resync_endpoint:{endpoint.pk}"},
                    endpoint_id=endpoint.pk,
                )
                names.append(endpoint.name)
        if names:
            self.message_user(
                request,
                "Every member's current snapshot will be sent to: " + ", ".join(names) + ".",
                messages.SUCCESS,
            )
        else:
            self.message_user(request, "No enabled endpoint was selected.", messages.WARNING)


class NeedsStaff(admin.SimpleListFilter):
    title = "needs staff"
    parameter_name = "needs"

    def lookups(self, request, model_admin):
        return [("dead", "dead (replay once the receiver works)")]

    def queryset(self, request, queryset):
        if self.value() == "dead":
            return queryset.dead()
        return queryset


@admin.register(Delivery)
class DeliveryAdmin(RecordAdmin):
    # Few enough columns to fit 1280 px with the filters; the page has the rest.
    list_display = ("id", "endpoint", "member", "state", "attempts", "answer", "last_attempt_at")
    list_display_links = ("id",)
    list_filter = (NeedsStaff, "state", "endpoint")
    list_select_related = ("endpoint",)
    search_fields = ("=member_id", "=event__id")
    search_help_text = "Member number or event number."
    ordering = ("-id",)
    list_per_page = 100
    actions = ("replay",)
    readonly_fields = (
        "endpoint",
        "event",
        "member",
        "sequence",
        "state",
        "attempts",
        "answer",
        "created_at",
        "last_attempt_at",
        "delivered_at",
    )
    # The stored answer is shown cut short (answer), the number with the name (member).
    exclude = ("last_answer", "member_id")
    change_form_template = "admin/integrations/delivery/change_form.html"

    def get_queryset(self, request):
        # The member by number and name (a delivery keeps the member's number only).
        identity = Member.objects.filter(pk=OuterRef("member_id")).values("identity")[:1]
        return super().get_queryset(request).annotate(member_identity=Subquery(identity))

    @admin.display(description="member", ordering="member_id")
    def member(self, delivery):
        identity = getattr(delivery, "member_identity", None)
        identity = identity if isinstance(identity, dict) else {}
        name = " ".join(
            str(identity.get(k) or "").strip() for k in ("first_name", "last_name")
        ).strip()
        return f"#{delivery.member_id} {name}".strip()

    @admin.display(description="last answer")
    def answer(self, delivery):
        return short_answer(delivery.last_answer)

    def has_replay_permission(self, request):
        return request.user.has_perm("integrations.view_delivery") and request.user.has_perm(
            "integrations.change_endpoint"
        )

    @admin.action(description="Replay dead deliveries", permissions=["replay"])
    def replay(self, request, queryset):
        queued = services.deliveries_replay(queryset=queryset.dead())
        level = messages.SUCCESS if queued else messages.WARNING
        self.message_user(request, f"Queued {queued} dead deliveries again.", level)

    def get_urls(self):
        return [
            path(
                "<int:delivery_id>/replay/",
                self.admin_site.admin_view(self.replay_one),
                name="integrations_delivery_replay",
            ),
            *super().get_urls(),
        ]

    def replay_one(self, request, delivery_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_replay_permission(request):
            raise PermissionDenied
        delivery = get_object_or_404(Delivery, pk=delivery_id)
        queued = services.deliveries_replay(queryset=Delivery.objects.filter(pk=delivery.pk))
        if queued:
            self.message_user(request, f"Delivery {delivery.pk} queued again.", messages.SUCCESS)
        else:
            text = f"Delivery {delivery.pk} is {delivery.state}: not replayed."
            self.message_user(request, text, messages.WARNING)
        change_url = reverse("admin:integrations_delivery_change", args=[delivery.pk])
        return HttpResponseRedirect(change_url)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = extra_context or {}
        extra_context["can_replay"] = self.has_replay_permission(request)
        extra_context["replayable"] = (DeliveryState.DEAD, DeliveryState.PENDING)
        return super().changeform_view(request, object_id, form_url, extra_context)


@admin.register(FeedEvent)
class FeedEventAdmin(RecordAdmin):
    list_display = ("id", "member", "sequence", "fields_changed", "changed_at", "pumped")
    list_display_links = ("id",)
    list_select_related = ("member",)
    list_filter = ("pumped",)
    search_fields = ("=member__id",)
    search_help_text = "Member number."
    ordering = ("-id",)
    list_per_page = 100
    readonly_fields = ("member", "sequence", "fields_changed", "snapshot", "changed_at", "pumped")
    exclude = ("xact", "changed")

    @admin.display(description="changed")
    def fields_changed(self, event):
        changed = event.changed if isinstance(event.changed, list) else []
        return ", ".join(str(field).replace("_", " ") for field in changed) or "—"


class AccessKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=Scope.choices,
        initial=DEFAULT_SCOPES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="What the key may do; a request outside its scopes is refused (403)."
        " None ticked: it reads the access list.",
    )

    class Meta:
        model = AccessKey
        fields = ("name", "scopes")

    def clean_name(self):
        try:
            return services._clean_name(self.cleaned_data.get("name"))
        except services.AccessKeyError as error:
            raise forms.ValidationError(str(error)) from None


@admin.register(AccessKey)
class AccessKeyAdmin(SafeModelAdmin):
    form = AccessKeyForm
    list_display = ("name", "scope_list", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name",)
    actions = ("revoke",)

    @admin.display(description="scopes")
    def scope_list(self, key):
        return ", ".join(key.scopes or [])

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            return ("name", "scope_list", "created_at", "last_used_at", "revoked_at")
        return ()

    def get_fields(self, request, obj=None):
        if obj is not None:
            return self.get_readonly_fields(request, obj)
        return ("name", "scopes")

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if change:
            return  # nothing of a key is edited after creation
        key = services.new_access_key()
        obj.key_hash = services.key_hash(key)
        obj.scopes = services.clean_scopes(obj.scopes)
        obj.save()
        obj.plain_key = key

    def response_add(self, request, obj, post_url_continue=None):
        return shown_once(
            self,
            request,
            title=f'Access key "{obj.name}" created',
            what="access key",
            value=obj.plain_key,
            next_url=reverse("admin:integrations_accesskey_changelist"),
        )

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke(self, request, queryset):
        revoked = services.access_keys_revoke(queryset=queryset)
        self.message_user(request, f"Revoked {revoked} keys.", messages.SUCCESS)
