"""``/accounts/{account_number}/webhooks/tracking/…``: subscribe, list, unsubscribe, replay.

``account_number`` must be the API key's own customer; any other answers 404,
exactly like an account that does not exist.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from notifications import selectors, services
from notifications.api import serializers as s
from tracking.api.auth import CustomerAPIView
from tracking.api.schema import error_responses

ACCOUNT_NOT_FOUND = "Account not found."
SUBSCRIPTION_NOT_FOUND = "Subscription not found."


class AccountView(CustomerAPIView):
    def initial(self, request: Request, *args: object, **kwargs: object) -> None:
        super().initial(request, *args, **kwargs)
        if kwargs.get("account_number") != self.customer.account_number:
            raise NotFound(ACCOUNT_NOT_FOUND)


class SubscriptionsView(AccountView):
    @extend_schema(
        operation_id="subscribe_tracking_webhooks",
        summary="Subscribe an endpoint to tracking webhooks",
        description=(
            "Returns the endpoint and its `whsec_` signing secret, shown only once. Subscribing an existing "
            "endpoint again rotates its secret: the previous one keeps signing (both signatures are sent) for 24 h."
        ),
        request=s.SubscriptionCreate,
        responses={201: s.SubscriptionCreated, **error_responses(404, 422)},
    )
    def post(self, request: Request, account_number: str) -> Response:
        data = s.SubscriptionCreate(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            endpoint, secret = services.endpoint_subscribe(customer=self.customer, url=data.validated_data["endpoint"])
        except services.InvalidEndpoint as exc:
            raise ValidationError({exc.field: [exc.reason]}) from None
        return Response({"endpoint": endpoint.url, "secret": secret}, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="list_tracking_webhook_subscriptions",
        summary="List subscribed endpoints with their health",
        responses={200: s.SubscriptionHealth(many=True), **error_responses(404)},
    )
    def get(self, request: Request, account_number: str) -> Response:
        endpoints = selectors.endpoints_with_health(customer=self.customer)
        return Response([selectors.endpoint_health_dict(e) for e in endpoints])

    @extend_schema(
        operation_id="unsubscribe_tracking_webhooks",
        summary="Remove one endpoint (by `endpoint`, in the body or the query) or all",
        request=s.SubscriptionDelete,
        parameters=[OpenApiParameter("endpoint", str, required=False, description="The endpoint URL to remove.")],
        responses={204: OpenApiResponse(description="Removed."), **error_responses(404, 422)},
    )
    def delete(self, request: Request, account_number: str) -> Response:
        body = request.data if isinstance(request.data, dict) else {}
        raw = {"endpoint": body["endpoint"]} if "endpoint" in body else {}
        if not raw and "endpoint" in request.query_params:
            raw = {"endpoint": request.query_params["endpoint"]}
        data = s.SubscriptionDelete(data=raw)
        data.is_valid(raise_exception=True)
        url = data.validated_data.get("endpoint")
        removed = services.endpoint_unsubscribe(customer=self.customer, url=url)
        if url is not None and not removed:
            raise NotFound(SUBSCRIPTION_NOT_FOUND)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ReplayView(AccountView):
    @extend_schema(
        operation_id="replay_tracking_webhooks",
        summary="Send a window's deliveries again, dead-lettered ones included",
        description=(
            "Every delivery created in [since, until) to an active endpoint is queued again with its "
            "original `webhook-id` and a fresh 24 h retry window."
        ),
        request=s.Replay,
        responses={202: s.Replayed, **error_responses(404, 422)},
    )
    def post(self, request: Request, account_number: str) -> Response:
        data = s.Replay(data=request.data)
        data.is_valid(raise_exception=True)
        count = services.deliveries_replay(
            customer=self.customer, since=data.validated_data["since"], until=data.validated_data.get("until")
        )
        return Response({"replayed": count}, status=status.HTTP_202_ACCEPTED)
