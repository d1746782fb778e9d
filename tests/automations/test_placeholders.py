"""Event placeholders: filled from the trigger, in our spelling or the original app's."""

from astronote.services.messaging import rendering


def test_event_placeholders_and_their_old_spellings():
    body = (
        "{{order_number}}/{{orderNumber}}/{{order.name}} {{totalPrice}} {{checkoutUrl}} "
        "{{abandonedCheckoutUrl}} {{cartUrl}} {{trackingNumber}} {{tracking.url}} "
        "{{trackingLink}}"
    )
    assert rendering.unknown_variables(body, extra=rendering.EVENT_VARIABLES) == []
    values = {
        "order_number": "#1001",
        "order_total": "42.00 USD",
        "checkout_url": "https://c/1",
        "tracking_number": "1Z9",
        "tracking_url": "https://t/1Z9",
    }
    assert rendering.render(body, values, None) == (
        "#1001/#1001/#1001 42.00 USD https://c/1 https://c/1 https://c/1 1Z9 "
        "https://t/1Z9 https://t/1Z9"
    )
    assert rendering.unknown_variables("{{order_number}}") == ["order_number"]  # not a campaign's
