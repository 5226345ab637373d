"""Customer endpoints for webhook subscriptions and replay (reuses tracking.api's auth)."""
