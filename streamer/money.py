"""Prices as viewers see and hear them. Digits come from the sheet unchanged: never rounded, no invented cents."""

from __future__ import annotations

from decimal import Decimal

CURRENCY_SIGNS: dict[str, str] = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CNY": "¥"}
CURRENCY_WORDS: dict[str, tuple[str, str]] = {
    "USD": ("dollar", "dollars"),
    "EUR": ("euro", "euros"),
    "GBP": ("pound", "pounds"),
    "JPY": ("yen", "yen"),
    "CNY": ("yuan", "yuan"),
    "CAD": ("Canadian dollar", "Canadian dollars"),
    "AUD": ("Australian dollar", "Australian dollars"),
    "CHF": ("Swiss franc", "Swiss francs"),
    "NZD": ("New Zealand dollar", "New Zealand dollars"),
    "HKD": ("Hong Kong dollar", "Hong Kong dollars"),
    "SGD": ("Singapore dollar", "Singapore dollars"),
    "TWD": ("New Taiwan dollar", "New Taiwan dollars"),
    "MXN": ("Mexican peso", "Mexican pesos"),
    "SEK": ("Swedish krona", "Swedish kronor"),
    "PLN": ("zloty", "zloty"),
    "INR": ("rupee", "rupees"),
    "KRW": ("won", "won"),
}
SUPPORTED_CURRENCIES: frozenset[str] = frozenset(CURRENCY_WORDS)
"""The currencies a sheet may use: the ones the host can say and the fact guard can read back (one table, here;
:mod:`streamer.brain.numbers` builds its lookups from it)."""


def format_amount(amount: Decimal) -> str:
    """The digits of ``amount`` as written, never rounded.

    Whole amounts show no decimals (``20``, ``20.0`` and ``20.00`` all give ``"20"``); amounts with a fraction show
    at least two decimals (``19.9`` gives ``"19.90"``, ``19.99`` gives ``"19.99"``, ``1.005`` keeps ``"1.005"``).
    Padding a zero never changes the value; no digit is ever dropped. No thousands separators.
    """
    if not amount.is_finite():
        raise ValueError(f"price must be a finite number, got {amount}")
    if amount == amount.to_integral_value():
        return f"{amount.quantize(Decimal(1)):f}"
    text = f"{amount.normalize():f}"
    decimals = len(text.partition(".")[2])
    return text + "0" * (2 - decimals) if decimals < 2 else text


def format_price(amount: Decimal, currency: str) -> str:
    """For the screen: ``$19.99``, ``€5``, ``£0.50``, ``¥1980``; other ISO codes are written out (``CHF 12.50``)."""
    code = currency.upper()
    digits = format_amount(amount)
    sign = "-" if digits.startswith("-") else ""
    digits = digits.lstrip("-")
    symbol = CURRENCY_SIGNS.get(code)
    return f"{sign}{symbol}{digits}" if symbol else f"{sign}{code} {digits}"


def discount_percent(price: Decimal, list_price: Decimal | None) -> int | None:
    """Whole percent saved against ``list_price``, rounded *down* so a badge never overstates the saving; None
    when there is no real discount (no list price, not higher, or under 1%)."""
    if list_price is None or list_price <= 0 or list_price <= price:
        return None
    pct = int((Decimal(1) - price / list_price) * 100)
    return pct if pct >= 1 else None


def spoken_price(amount: Decimal, currency: str) -> str:
    """For the voice: ``19 dollars 99``, ``20 dollars``, ``1 euro 05``: the sheet's digits, in an order a voice reads
    naturally; nothing is rounded."""
    whole, _, frac = format_amount(amount).partition(".")
    one, many = CURRENCY_WORDS.get(currency.upper(), (currency.upper(), currency.upper()))
    unit = one if whole == "1" else many
    return f"{whole} {unit} {frac}" if frac else f"{whole} {unit}"
