"""Small SQL expressions shared by the apps' models."""

from django.db import models


class CurrentTimestamp(models.Func):
    """The seed's `DEFAULT CURRENT_TIMESTAMP`, the same SQL on every backend."""

    template = "CURRENT_TIMESTAMP"
    output_field = models.DateTimeField()
    arity = 0
