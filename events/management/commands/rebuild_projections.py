from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from tqdm import tqdm

from events import projectors
from events.models import Event

CHUNK = 5000


class Command(BaseCommand):
    help = "Empty the read models and replay the whole event log into them, in log order."

    def add_arguments(self, parser):
        parser.add_argument("--projector", action="append", help="Rebuild only these projectors (repeatable).")
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")

    def handle(self, *args, projector=None, no_progress=False, **options):
        selected = projectors.all_projectors()
        if projector:
            unknown = set(projector) - {p.name for p in selected}
            if unknown:
                names = ", ".join(sorted(p.name for p in selected))
                raise CommandError(f"Unknown projector(s): {', '.join(sorted(unknown))}. Known: {names}.")
            selected = [p for p in selected if p.name in projector]
        # One transaction: readers keep seeing the old read models until the new ones are complete.
        with transaction.atomic():
            for p in selected:
                p.reset()
            total = Event.objects.count()
            bar = tqdm(total=total, unit="ev", disable=no_progress, file=self.stderr)
            last_id = 0
            while True:
                chunk = list(Event.objects.filter(id__gt=last_id).order_by("id")[:CHUNK])
                if not chunk:
                    break
                projectors.run_projectors(chunk, selected)
                last_id = chunk[-1].id
                bar.update(len(chunk))
            bar.close()
        names = ", ".join(p.name for p in selected)
        self.stdout.write(self.style.SUCCESS(f"Replayed {total} events into: {names}."))
