"""Implementations of the :class:`~riskguard.ports.Venue` port, one package each: :mod:`.paper`,
the deterministic simulator; :mod:`.ccxt`, Binance (spot and USD-M), KuCoin futures and BingX
through ccxt.pro; :mod:`.alpaca`, Alpaca through alpaca-py. A venue uses ``riskguard.model``,
``riskguard.ports`` and its own client library; venues never import each other. What the live
ones share lives beside them: :mod:`.live` (fills by id, order states, reconnection, feed
health) and :mod:`.ratelimit` (weighted token buckets)."""
