"""Wallets made the way the app makes them: ``wallets.services.wallet_create`` (its ``wallet_created``
event included), then each of ``funds`` paid in by ``paper_wallet_fund``.
``WalletFactory(name="p1", funds={"USDT": "1000"})``."""

from decimal import Decimal

import factory

from wallets import services
from wallets.models import Wallet


class WalletFactory(factory.Factory):
    class Meta:
        model = Wallet

    name = factory.Sequence(lambda n: f"paper-{n}")
    kind = Wallet.Kind.PAPER
    funds = factory.LazyFunction(dict)

    @classmethod
    def _create(cls, model_class, *, funds: dict[str, str], **fields):
        wallet = services.wallet_create(**fields)
        for currency, amount in funds.items():
            services.paper_wallet_fund(
                wallet_id=wallet.pk, currency=currency, amount=Decimal(amount), reference=f"{wallet.name}-{currency}"
            )
        return wallet
