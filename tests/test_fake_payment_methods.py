"""The fake's payment methods, as Stripe's API reference documents them.

Customers that Stripe's copy of payment data brings (their ids, no metadata,
cards with new ids), payment methods listed per customer both ways Stripe
offers, attach and detach, and Stripe's refusal of an invoice default that is
not attached to the customer.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import stripe

from devkit.fake import FakeStripe


@pytest.fixture
def client(fake: FakeStripe) -> Iterator[stripe.StripeClient]:
    yield stripe.StripeClient("sk_test_fake", base_addresses={"api": fake.url}, max_network_retries=0)


def test_a_copied_customer_keeps_its_id_and_brings_its_cards_without_our_metadata(
    client: stripe.StripeClient, fake: FakeStripe
) -> None:
    copied = fake.payments.add_copied_customer(
        "Ada@Example.com", "Ada", cards=[(1, 2020), (12, 2030)], ident="cus_CopiedFromOld1"
    )
    customer = client.v1.customers.retrieve("cus_CopiedFromOld1")
    assert (customer.id, customer.email) == (copied["id"], "Ada@Example.com")
    assert customer.metadata is not None and customer.metadata.to_dict() == {}
    assert customer.invoice_settings is not None and customer.invoice_settings.default_payment_method is None
    listed = client.v1.customers.payment_methods.list("cus_CopiedFromOld1").data
    # Newest first, as every list; each card with the fields the sync reads.
    assert [(pm.type, pm.customer, pm.card and (pm.card.exp_month, pm.card.exp_year)) for pm in listed] == [
        ("card", copied["id"], (12, 2030)),
        ("card", copied["id"], (1, 2020)),
    ]
    assert all(pm.id.startswith("pm_") and pm.card and len(pm.card.last4) == 4 for pm in listed)
    by_filter = client.v1.payment_methods.list(params={"customer": copied["id"], "type": "card"}).data
    assert [pm.id for pm in by_filter] == [pm.id for pm in listed]
    assert client.v1.payment_methods.list(params={"customer": copied["id"], "type": "sepa_debit"}).data == []


def test_lists_page_per_customer_and_name_an_unknown_customer(client: stripe.StripeClient, fake: FakeStripe) -> None:
    many = fake.payments.add_copied_customer("many@example.com", cards=[(m, 2031) for m in range(1, 13)])
    other = fake.payments.add_copied_customer("other@example.com", cards=[(6, 2031)])
    first = client.v1.customers.payment_methods.list(many["id"], params={"limit": 5})
    assert first.has_more and len(first.data) == 5
    paged = client.v1.customers.payment_methods.list(many["id"]).auto_paging_iter()
    months = [pm.card.exp_month for pm in paged if pm.card]
    assert sorted(months) == list(range(1, 13))  # the other customer's card is never in this list
    (only,) = client.v1.payment_methods.list(params={"customer": other["id"]}).data
    assert client.v1.customers.payment_methods.retrieve(other["id"], only.id).id == only.id
    with pytest.raises(stripe.InvalidRequestError, match="No such PaymentMethod"):
        client.v1.customers.payment_methods.retrieve(many["id"], only.id)
    with pytest.raises(stripe.InvalidRequestError, match="No such customer") as unknown:
        client.v1.customers.payment_methods.list("cus_Unknown")
    assert unknown.value.http_status == 404


def test_an_invoice_default_must_be_attached_to_that_customer(client: stripe.StripeClient, fake: FakeStripe) -> None:
    ada = fake.payments.add_copied_customer("ada@example.com", cards=[(12, 2030)])
    bob = fake.payments.add_copied_customer("bob@example.com", cards=[(12, 2030)])
    (adas,) = fake.payments.payment_methods_of(ada["id"])
    with pytest.raises(stripe.InvalidRequestError, match="must be attached to the customer") as refused:
        client.v1.customers.update(bob["id"], params={"invoice_settings": {"default_payment_method": adas["id"]}})
    assert refused.value.code == "resource_missing"
    assert fake.objects["customers"][bob["id"]]["invoice_settings"]["default_payment_method"] is None
    client.v1.customers.update(ada["id"], params={"invoice_settings": {"default_payment_method": adas["id"]}})
    assert fake.resources.customers.can_pay(ada["id"])
    customer = client.v1.customers.retrieve(ada["id"])
    assert customer.invoice_settings is not None and customer.invoice_settings.default_payment_method == adas["id"]


def test_attach_and_detach_move_a_card_and_a_detached_card_cannot_come_back(
    client: stripe.StripeClient, fake: FakeStripe
) -> None:
    ada = fake.payments.add_copied_customer("ada@example.com")
    loose = fake.resources.payment_methods.add_card(None)
    assert [pm.id for pm in client.v1.payment_methods.list().data] == [loose["id"]]  # attached to nobody
    client.v1.payment_methods.attach(loose["id"], params={"customer": ada["id"]})
    client.v1.customers.update(ada["id"], params={"invoice_settings": {"default_payment_method": loose["id"]}})
    assert client.v1.payment_methods.detach(loose["id"]).customer is None
    # Detaching the invoice default clears it, as Stripe does.
    assert fake.objects["customers"][ada["id"]]["invoice_settings"]["default_payment_method"] is None
    assert client.v1.customers.payment_methods.list(ada["id"]).data == []
    with pytest.raises(stripe.InvalidRequestError, match="may not be used again"):
        client.v1.payment_methods.attach(loose["id"], params={"customer": ada["id"]})
