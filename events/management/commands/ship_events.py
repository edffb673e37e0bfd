import sys

from common.cli import ADTCommand, ProgressBar
from events import shipping


class Command(ADTCommand):
    help = (
        "Copy the events of logs.db that ClickHouse (ADT_CLICKHOUSE_URL) does not have yet, in id order, "
        "exactly once; safe to run from cron on several machines and after a crash."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size", default=shipping.DEFAULT_BATCH_SIZE, metavar="ROWS",
            help=f"Events per batch, {shipping.MIN_BATCH_SIZE:,} to {shipping.MAX_BATCH_SIZE:,} "
                 f"(default {shipping.DEFAULT_BATCH_SIZE:,}).",
        )

    def handle(self, *args, **options):
        bar = ProgressBar(sys.stderr, "shipping") if sys.stderr.isatty() and not self.as_json else None
        try:
            s = shipping.ship(batch_size=options["batch_size"], progress=bar)
        finally:
            if bar:
                bar.finish()
        up_to = f"up to id {s['up_to']}" if s["up_to"] else "none there yet"
        line = f"shipped {s['shipped']:,} event(s) in {s['batches']} batch(es), {up_to}"
        if s["busy"]:
            line += f"; another shipper holds the lease ({s['busy']}), so this one stopped"
        elif s["shipped"]:
            line += f" ({s['per_second']:,} events/s)"
        self.emit(s, line)
