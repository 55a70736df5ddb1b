"""Order management: :mod:`.book` (the order state machine: reducing orders in flight, reduce-only
clipping, fills by id) and :mod:`.gateway` (venue calls with timeouts, retries by error class,
ambiguous outcomes settled by client order id). It uses :mod:`riskguard.model` and
:mod:`riskguard.ports` only: never a venue, the journal, the configuration or the faces.
"""
