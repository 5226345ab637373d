import json

from django.core.management.base import BaseCommand

from tracking.services import events_render, item_histories_fill


class Command(BaseCommand):
    help = (
        "Store the track API's JSON of events that have none (rows from before it was stored, or written "
        "other than by recording); --all renders every event again (after the taxonomy's descriptions "
        "changed). Then writes the stored history of every tracked item that has none (PostgreSQL: items "
        "recorded before it was kept). Prints JSON counts."
    )

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true", help="every event, not only those without it")

    def handle(self, *args, all: bool, **options):
        rendered = events_render(every=all)
        filled = item_histories_fill()
        self.stdout.write(json.dumps({"events_rendered": rendered, "histories_written": filled}))
