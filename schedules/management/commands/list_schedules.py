from common.cli import ADTCommand
from schedules.models import Schedule
from schedules.output import schedule_dict, schedule_line


class Command(ADTCommand):
    help = "List the recurring tasks with their next run."

    def handle(self, *args, **options):
        schedules = list(Schedule.objects.all())
        lines = [schedule_line(s) for s in schedules] or ["no schedules (add one with add_schedule)"]
        self.emit({"schedules": [schedule_dict(s) for s in schedules]}, lines)
