"""Money (SPEC §5 plan ``unit_price`` and ``currency``, SPEC §11): exact ``Decimal`` amounts of one
currency, rounded once to the currency's minor unit; never a float. Small on purpose: the API's plan
models parse prices with it, without loading the insights' rules."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

# A decimal string: no sign, exponent, spaces, NaN or Infinity; at most 12 integer digits and
# 4 decimals (a price per unit per year can be a fraction of a cent).
_UNIT_PRICE = re.compile(r"(0|[1-9][0-9]{0,11})(\.[0-9]{1,4})?")
_CURRENCY = re.compile(r"[A-Z]{3}")
UNIT_PRICE_DECIMALS = 4
# ISO 4217 minor units where they are not 2 (JPY and KRW have none, BHD and KWD three); any other
# well-formed code is taken with 2. Money is rounded (half up) to its currency's minor unit.
_ZERO_DECIMALS = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE_DECIMALS = "BHD IQD JOD KWD LYD OMR TND"
_FOUR_DECIMALS = "CLF UYW"
_MINOR_UNITS = {
    **dict.fromkeys(_ZERO_DECIMALS.split(), 0),
    **dict.fromkeys(_THREE_DECIMALS.split(), 3),
    **dict.fromkeys(_FOUR_DECIMALS.split(), 4),
}
# The codes a new price may name (issue 20): ISO 4217 List One's active codes of currencies and
# funds, as of 2026 (XCG replaced ANG in 2025, ZWG replaced ZWL in 2024; BGN, HRK, SLL and CUC are
# withdrawn), less the codes that are not money to price a licence in: precious metals (XAU XAG
# XPD XPT), bond-market and accounting units (XBA XBB XBC XBD XDR XSU XUA XAD), testing (XTS) and
# "no currency" (XXX). The one list; an amendment of ISO 4217 is one edit here. Stored plans keep
# reading whatever well-formed code they were given (parse_currency), so a code withdrawn later
# never makes an old plan unreadable.
# fmt: off
ACTIVE_CURRENCIES = frozenset((
    "AED", "AFN", "ALL", "AMD", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BHD", "BIF", "BMD", "BND",
    "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHE", "CHF", "CHW", "CLF", "CLP", "CNY",
    "COP", "COU", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP",
    "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD",
    "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP",
    "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN",
    "MXV", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN",
    "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD",
    "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX",
    "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES", "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF",
    "YER", "ZAR", "ZMW", "ZWG",
))
# fmt: on


def parse_currency(text: str) -> str:
    """SPEC §5 ``currency`` as stored: an ISO 4217 code, three uppercase letters (``EUR``, ``JPY``).
    What a request may name is narrower: accept_currency."""
    if not isinstance(text, str) or _CURRENCY.fullmatch(text) is None:
        raise ValueError("must be an ISO 4217 currency code: three uppercase letters, e.g. EUR")
    return text


def parse_unit_price(text: str) -> Decimal:
    """SPEC §5 ``unit_price`` as stored: a decimal string ≥ 0 (``"12"``, ``"0.5"``, ``"1234.5678"``).
    What a request may give is narrower: accept_unit_price."""
    if not isinstance(text, str) or _UNIT_PRICE.fullmatch(text) is None:
        raise ValueError(
            f'must be a decimal string of 0 or more with at most {UNIT_PRICE_DECIMALS} decimals, e.g. "12.50"'
        )
    return Decimal(text)


def accept_currency(text: str) -> str:
    """A new plan's or renewal's ``currency`` (issue 20): an active ISO 4217 code (ACTIVE_CURRENCIES)."""
    code = parse_currency(text)
    if code not in ACTIVE_CURRENCIES:
        raise ValueError("must be an active ISO 4217 currency code, e.g. EUR")
    return code


def accept_unit_price(text: str) -> Decimal:
    """A new plan's or renewal's ``unit_price`` (issue 20): a decimal string of more than 0 (a plan
    without a price leaves both fields out; a price of 0 would make every figure of money 0)."""
    price = parse_unit_price(text)
    if price <= 0:
        raise ValueError(
            f'must be a decimal string of more than 0 with at most {UNIT_PRICE_DECIMALS} decimals, e.g. "12.50"'
        )
    return price


def minor_units(currency: str) -> int:
    return _MINOR_UNITS.get(parse_currency(currency), 2)


@dataclass(frozen=True)
class Money:
    """An amount of one currency, rounded to the currency's minor unit (its JSON: decimal text)."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal) or not self.amount.is_finite():
            raise TypeError("Money takes a finite Decimal amount")
        parse_currency(self.currency)

    @classmethod
    def of(cls, amount: Fraction | Decimal | int, currency: str) -> Money:
        """``amount`` exactly, rounded once (half up) to the currency's minor unit."""
        return cls(round_half_up(Fraction(amount), minor_units(currency)), currency)


def round_half_up(value: Fraction, places: int) -> Decimal:
    """An exact value rounded once to ``places`` decimals, halves away from zero (no float, and no
    Decimal division whose own rounding could move a half)."""
    scaled = abs(value) * 10**places
    rounded = math.floor(scaled + Fraction(1, 2)) * (1 if value >= 0 else -1)
    return Decimal(rounded).scaleb(-places).quantize(Decimal(1).scaleb(-places))


@dataclass(frozen=True)
class UnitPrice:
    """A plan's price per unit per year (a seat, a monthly active user of the allowance, a credit)."""

    amount: Decimal
    currency: str

    @classmethod
    def parse(cls, unit_price: str, currency: str) -> UnitPrice:
        return cls(parse_unit_price(unit_price), parse_currency(currency))

    def times(self, units: Fraction | int) -> Money:
        return Money.of(Fraction(self.amount) * units, self.currency)


def unit_price_of(unit_price: str | None, currency: str | None) -> UnitPrice | None:
    """The plan's price when it has both fields (money needs a currency), else None."""
    if unit_price is None or currency is None:
        return None
    return UnitPrice.parse(unit_price, currency)
