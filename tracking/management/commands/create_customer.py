import json

from django.core.management.base import BaseCommand, CommandError

from tracking.services import customer_create


class Command(BaseCommand):
    help = "Create a customer and print its account number and API key (shown once) as JSON."

    def add_arguments(self, parser):
        parser.add_argument("name")

    def handle(self, *args, name: str, **options):
        try:
            customer, key = customer_create(name=name)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(json.dumps({"account_number": customer.account_number, "api_key": key}))
