"""Balances from the other side, behind one interface.

A provider takes the wallets of its kind and returns, per wallet id, either the balances the
venue reports or the reason it could not. Exchange wallets are fetched concurrently (a thread
pool, one ``fetch_balance`` per wallet per run, markets loaded once per exchange per run) under
one deadline; a wallet whose exchange fails or times out gets an error and the others go on.
The paper exchange is a table in our own database, read in one query on the caller's connection.
"""

import logging
import os
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

import ccxt
from django.conf import settings

from .models import PaperExchangeBalance, Wallet

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WalletRef:
    """What a provider may know of a wallet: plain values, safe to hand to another thread."""

    id: int
    name: str
    kind: str
    exchange_id: str = ""
    credentials_ref: str = ""

    @classmethod
    def of(cls, wallet: Wallet) -> "WalletRef":
        return cls(wallet.id, wallet.name, wallet.kind, wallet.exchange_id, wallet.credentials_ref)


@dataclass(frozen=True)
class BalanceResult:
    balances: Mapping[str, Decimal] = field(default_factory=dict)
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


class BalanceProvider(Protocol):
    def fetch(self, wallets: Sequence[WalletRef], *, timeout: float) -> dict[int, BalanceResult]: ...


class PaperExchangeProvider:
    """The paper exchange's accounts (``PaperExchangeBalance``)."""

    def fetch(self, wallets: Sequence[WalletRef], *, timeout: float) -> dict[int, BalanceResult]:
        found: dict[int, dict[str, Decimal]] = {wallet.id: {} for wallet in wallets}
        rows = PaperExchangeBalance.objects.filter(wallet_id__in=list(found)).values_list(
            "wallet_id", "currency", "amount"
        )
        for wallet_id, currency, amount in rows:
            found[wallet_id][currency] = amount
        return {wallet_id: BalanceResult(balances) for wallet_id, balances in found.items()}


class CredentialsMissing(Exception):
    pass


def credentials_from_env(ref: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``<REF>_API_KEY``, ``<REF>_SECRET`` and optionally ``<REF>_PASSWORD`` from the environment."""
    environ = os.environ if environ is None else environ
    if not ref:
        raise CredentialsMissing("the wallet has no credentials reference")
    key, secret = environ.get(f"{ref}_API_KEY"), environ.get(f"{ref}_SECRET")
    if not key or not secret:
        raise CredentialsMissing(f"{ref}_API_KEY and {ref}_SECRET must be set in the environment")
    credentials = {"apiKey": key, "secret": secret}
    if password := environ.get(f"{ref}_PASSWORD"):
        credentials["password"] = password
    return credentials


ClientFactory = Callable[[str, dict[str, Any]], Any]


def ccxt_client(exchange_id: str, config: dict[str, Any]) -> Any:
    try:
        exchange_class = getattr(ccxt, exchange_id)
    except AttributeError:
        raise ValueError(f"unknown ccxt exchange {exchange_id!r}") from None
    client = exchange_class({"enableRateLimit": False, **config})
    # Amounts as exact decimal strings, not floats: the ledger is Decimal to 18 places.
    client.number = str
    return client


class CcxtProvider:
    """Any ccxt exchange through ``fetch_balance``; credentials come from the environment."""

    def __init__(
        self,
        *,
        max_workers: int = 8,
        client_factory: ClientFactory = ccxt_client,
        environ: Mapping[str, str] | None = None,
    ):
        self.max_workers = max_workers
        self.client_factory = client_factory
        self.environ = environ

    def fetch(self, wallets: Sequence[WalletRef], *, timeout: float) -> dict[int, BalanceResult]:
        if not wallets:
            return {}
        results: dict[int, BalanceResult] = {}
        by_exchange: dict[str, list[WalletRef]] = defaultdict(list)
        for wallet in wallets:
            by_exchange[wallet.exchange_id].append(wallet)
        deadline = time.monotonic() + 2 * timeout + 1  # markets, then the balance call
        executor = ThreadPoolExecutor(max_workers=min(self.max_workers, len(wallets)), thread_name_prefix="balances")
        futures: dict[Future, WalletRef] = {}
        lock = threading.Lock()
        try:
            for exchange_id, exchange_wallets in by_exchange.items():
                self._submit_exchange(executor, futures, lock, exchange_id, exchange_wallets, timeout)
            # Futures of the second stage (balance calls) are added by the first stage; poll
            # until every wallet has its answer or the deadline passes.
            while True:
                with lock:
                    pending = [f for f in futures if not f.done()]
                if not pending or time.monotonic() >= deadline:
                    break
                wait_futures(pending, timeout=max(0.0, deadline - time.monotonic()), return_when="FIRST_COMPLETED")
            with lock:
                answered = list(futures.items())
            for future, wallet in answered:
                if future.done() and wallet.id not in results and future.result() is not None:
                    results[wallet.id] = future.result()
        finally:
            executor.shutdown(wait=False, cancel_futures=True)
        for wallet in wallets:
            results.setdefault(wallet.id, BalanceResult(error=f"timed out after {timeout:g} s"))
        return results

    def _submit_exchange(
        self,
        executor: ThreadPoolExecutor,
        futures: dict[Future, WalletRef],
        lock: threading.Lock,
        exchange_id: str,
        wallets: list[WalletRef],
        timeout: float,
    ) -> None:
        """Load the exchange's markets once, then one balance call per wallet."""

        def load_markets() -> None:
            try:
                client = self.client_factory(exchange_id, {"timeout": int(timeout * 1000)})
                client.load_markets()
                markets, currencies = client.markets, client.currencies
            except Exception as exc:  # any failure of this exchange is reported on its wallets
                reason = _reason(exc, ())
                logger.warning("exchange %s: loading markets failed: %s", exchange_id, reason)
                with lock:
                    for wallet in wallets:
                        futures[_done(BalanceResult(error=reason))] = wallet
                return
            with lock:
                for wallet in wallets:
                    future = executor.submit(self._fetch_one, exchange_id, wallet, markets, currencies, timeout)
                    futures[future] = wallet

        with lock:
            # The markets stage yields None: it is waited for, never taken as a wallet's answer.
            futures[executor.submit(load_markets)] = WalletRef(0, "", "")

    def _fetch_one(self, exchange_id: str, wallet: WalletRef, markets, currencies, timeout: float) -> BalanceResult:
        secrets: tuple[str, ...] = ()
        try:
            credentials = credentials_from_env(wallet.credentials_ref, self.environ)
            secrets = tuple(credentials.values())
            client = self.client_factory(exchange_id, {"timeout": int(timeout * 1000), **credentials})
            client.set_markets(markets, currencies)
            raw = client.fetch_balance()
            return BalanceResult(_totals(raw))
        except Exception as exc:  # reported on this wallet; the run goes on
            reason = _reason(exc, secrets)
            logger.warning("wallet %s on %s: fetch_balance failed: %s", wallet.name, exchange_id, reason)
            return BalanceResult(error=reason)


def _done(result: BalanceResult) -> Future:
    future: Future = Future()
    future.set_result(result)
    return future


def _totals(raw: Mapping[str, Any]) -> dict[str, Decimal]:
    totals = {}
    for code, value in (raw.get("total") or {}).items():
        if value is None:
            continue
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            raise ValueError(f"exchange reported a non-numeric total for {code}: {value!r}") from None
        totals[str(code).upper()] = amount
    return totals


_WHITESPACE = re.compile(r"\s+")


def _reason(exc: BaseException, secrets: Sequence[str]) -> str:
    """A one-line reason for the wallet's status, with any credential value blanked out."""
    text = _WHITESPACE.sub(" ", f"{type(exc).__name__}: {exc}").strip()
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text[:480]


def default_providers() -> dict[str, BalanceProvider]:

    return {
        Wallet.Kind.PAPER: PaperExchangeProvider(),
        Wallet.Kind.EXCHANGE: CcxtProvider(max_workers=settings.WALLETS_EXCHANGE_CONCURRENCY),
    }


def fetch_all(
    wallets: Sequence[WalletRef], *, timeout: float, providers: Mapping[str, BalanceProvider] | None = None
) -> dict[int, BalanceResult]:
    """Every wallet's balances; exchange wallets are fetched in threads while paper is read here."""
    providers = providers if providers is not None else default_providers()
    by_kind: dict[str, list[WalletRef]] = defaultdict(list)
    for wallet in wallets:
        by_kind[wallet.kind].append(wallet)
    results: dict[int, BalanceResult] = {}
    remote_kinds = [kind for kind in by_kind if kind != Wallet.Kind.PAPER]
    with ThreadPoolExecutor(max_workers=max(1, len(remote_kinds))) as pool:
        remote = {kind: pool.submit(providers[kind].fetch, by_kind[kind], timeout=timeout) for kind in remote_kinds}
        if Wallet.Kind.PAPER in by_kind:
            results.update(providers[Wallet.Kind.PAPER].fetch(by_kind[Wallet.Kind.PAPER], timeout=timeout))
        for future in remote.values():
            results.update(future.result())
    return results
