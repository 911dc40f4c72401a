from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_safe

from members.models import Member


@login_required
@require_safe
def dashboard(request):
    member = Member.objects.filter(user=request.user).first()
    return render(request, "members/dashboard.html", {"member": member})
