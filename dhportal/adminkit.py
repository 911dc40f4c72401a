from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect


class SafeActionsMixin:
    """Refuse an action whose selection holds something that is not a primary key.

    Django's admin answers such a crafted POST with a 500; staff get a message instead.
    """

    def response_action(self, request, queryset):
        selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        if not all(self._is_primary_key(value) for value in selected):
            name = self.model._meta.verbose_name
            self.message_user(
                request,
                f"The selection holds something that is not a {name} number; nothing was changed.",
                messages.WARNING,
            )
            return HttpResponseRedirect(request.get_full_path())
        return super().response_action(request, queryset)

    def _is_primary_key(self, value) -> bool:
        pk_field = self.model._meta.pk
        try:
            pk = pk_field.to_python(value)
            pk_field.run_validators(pk)
        except (ValidationError, TypeError, ValueError, OverflowError):
            return False
        return not isinstance(pk, int) or pk > 0


class SafeModelAdmin(SafeActionsMixin, admin.ModelAdmin):
    pass
