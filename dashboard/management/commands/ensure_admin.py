"""Make sure a newcomer can log in: create `admin` with a random password when no superuser exists."""

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the user 'admin' with a random password (printed once) when no superuser exists."

    def handle(self, *args, **options):
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser("admin", password=password)
        self.stdout.write(
            self.style.SUCCESS(
                f"\n  Created superuser 'admin' with password: {password}\n"
                "  It is shown only this once; change it with `python manage.py changepassword admin`.\n"
            )
        )
