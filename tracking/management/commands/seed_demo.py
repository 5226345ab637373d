"""Idempotent demo data for `make run`: an admin user and a demo customer.

Credentials are generated once and kept under var/ (git-ignored) so every run
prints the same ones.
"""

import json
import secrets
import shlex

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from tracking.models import Customer
from tracking.services import customer_create

DEMO_CUSTOMER = "Demo Shop"


class Command(BaseCommand):
    help = "Create the admin user and the demo customer if missing, and print their credentials."

    def add_arguments(self, parser):
        parser.add_argument(
            "--env",
            action="store_true",
            help="print only `export API=… KEY=… ACCOUNT=…` for the demo customer (for eval in a shell)",
        )

    def handle(self, *args, env: bool = False, **options):
        state_path = settings.VAR_DIR / "demo.json"
        state = json.loads(state_path.read_text()) if state_path.exists() else {}
        User = get_user_model()
        if not User.objects.filter(username="admin").exists():
            state["admin_password"] = secrets.token_urlsafe(12)
            User.objects.create_superuser("admin", "admin@example.com", state["admin_password"])
        customer = Customer.objects.filter(name=DEMO_CUSTOMER).first()
        if customer is None or "api_key" not in state:
            if customer is None:
                customer, key = customer_create(name=DEMO_CUSTOMER)
            else:
                from tracking.models import CustomerAPIKey

                _, key = CustomerAPIKey.objects.create_key(name="demo", customer=customer)
            state["api_key"] = key
        state["account_number"] = customer.account_number
        state_path.write_text(json.dumps(state, indent=2))
        state_path.chmod(0o600)
        if env:
            api = shlex.quote(settings.PUBLIC_BASE_URL.rstrip("/"))
            key, account = shlex.quote(state["api_key"]), shlex.quote(customer.account_number)
            self.stdout.write(f"export API={api} KEY={key} ACCOUNT={account}")
            return
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "  Gluey tracking is starting on http://127.0.0.1:8000",
                    f"  Admin:     http://127.0.0.1:8000/admin/  user admin  password {state.get('admin_password', '(set earlier)')}",
                    f"  Customer:  {DEMO_CUSTOMER}  account {customer.account_number}  API key {state['api_key']}",
                    "  (kept in var/demo.json)",
                    "",
                ]
            )
        )
