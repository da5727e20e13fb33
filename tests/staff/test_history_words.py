"""What the customer sees of a staff action: "Adjusted by support: <reason>", never a name."""

from __future__ import annotations

from creditapp import ledger


def test_the_customers_history_says_adjusted_by_support_with_the_reason(
    app, act, customer, sign_in_as, staff
):
    act(customer, "grant", amount="40", reason="Sorry for the outage")
    act(customer, "take_back", amount="15", reason="Double grant")
    [lot] = [lot for lot in ledger.lots_of(customer) if lot.source == "signup_bonus"]
    act(customer, "void_lot", lot_id=str(lot.id), reason="Duplicate account")
    ledger.grant(customer, 5, "granted from the terminal")

    page = sign_in_as(app.test_client(), customer).get("/history").get_data(as_text=True)

    assert "Adjusted by support: Sorry for the outage" in page
    assert "Adjusted by support: Double grant" in page
    assert "Adjusted by support: Duplicate account" in page
    assert "Grant: granted from the terminal" in page  # no staff member: as before
    assert "Sam Support" not in page and "support@example.com" not in page


def test_the_csv_says_adjusted_by_support_too(app, act, customer, sign_in_as):
    act(customer, "grant", amount="40", reason="Sorry for the outage")

    csv_text = sign_in_as(app.test_client(), customer).get("/history.csv").get_data(as_text=True)

    assert "Adjusted by support: Sorry for the outage" in csv_text
    assert "support@example.com" not in csv_text
