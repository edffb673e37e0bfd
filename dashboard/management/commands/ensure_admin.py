"""Make sure a newcomer can log in: create `admin` with a random password when no superuser exists.

`admin` is a superuser (it adds the other users and gives them a role) and an
operator (the group of common/web.py), so it shows up as one among the operators."""

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand

from common.web import OPERATOR


class Command(BaseCommand):
    help = "Create the user 'admin' with a random password (printed once) when no superuser exists."

    def handle(self, *args, **options):
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            return
        password = secrets.token_urlsafe(12)
        user = User.objects.create_superuser("admin", password=password)
        user.groups.add(Group.objects.get(name=OPERATOR))
        self.stdout.write(
            self.style.SUCCESS(
                f"\n  Created superuser 'admin' with password: {password}\n"
                "  It is shown only this once; change it with `python manage.py changepassword admin`.\n"
                "  It is an operator (may act); give others the group viewer (may look) or operator in /admin/.\n"
            )
        )
